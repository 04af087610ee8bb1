"""``python -m socketify module:app``: see cli.py."""

from __future__ import annotations

import sys

from .server.cli import main

if __name__ == "__main__":
    sys.exit(main())
