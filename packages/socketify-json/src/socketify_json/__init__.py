"""JSON serializers for socketify: stdlib json by default, orjson or ujson, or your own.

``resolve(x)`` gives an object whose ``dumps(obj)`` always returns ``bytes`` and whose
``loads(data)`` takes bytes or str; every failure is a ``JSONError``.  ``dumps``/``loads``
here are the default (stdlib) serializer's.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _dist_version

from ._adapters import ModuleAdapter, OrjsonAdapter, Serializer, StdlibAdapter, UjsonAdapter
from ._errors import JSONDecodeError, JSONEncodeError, JSONError
from ._resolve import DEFAULT, resolve

__all__ = [
    "JSONDecodeError",
    "JSONEncodeError",
    "JSONError",
    "ModuleAdapter",
    "OrjsonAdapter",
    "Serializer",
    "StdlibAdapter",
    "UjsonAdapter",
    "dumps",
    "loads",
    "resolve",
]

try:  # the installed distribution's version: one source, the package's pyproject.toml
    __version__ = _dist_version("socketify-json")
except _NotInstalled:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

dumps = DEFAULT.dumps
loads = DEFAULT.loads
