"""The process runner: ``python -m socketify`` / the ``socketify`` command.

``cli`` parses the command line, ``target`` loads ``module:attr``, ``worker`` serves one
process, ``supervisor`` runs ``--workers N`` (and ``--reload`` with ``reload``), ``listener``
binds the sockets workers share, ``accesslog`` writes one line per finished response.
"""

from __future__ import annotations

__all__: list[str] = []
