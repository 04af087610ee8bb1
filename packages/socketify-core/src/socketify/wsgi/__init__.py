"""WSGI (PEP 3333) applications (Flask, Django, Falcon...) on the native core."""

from __future__ import annotations

from .server import WSGI, FileWrapper

__all__ = ["WSGI", "FileWrapper"]
