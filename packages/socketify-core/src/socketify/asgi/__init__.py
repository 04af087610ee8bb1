"""ASGI 3 applications (FastAPI, Starlette, Django, Litestar...) on the native core."""

from __future__ import annotations

from .server import ASGI

__all__ = ["ASGI"]
