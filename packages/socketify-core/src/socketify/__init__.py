"""socketify: a Python web framework on a native (C, epoll, HTTP/1.1) core.

>>> from socketify import App
>>> app = App()
>>> app.get("/", lambda res, req: res.end("Hello, World!"))  # doctest: +ELLIPSIS
<App ...>
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _dist_version

from . import errors
from .app import App
from .asgi import ASGI
from .enums import CompressOptions, OpCode, SendStatus
from .errors import *  # noqa: F403 (the whole error tree: errors.__all__)
from .middleware import MiddlewareRouter, middleware
from .options import AppListenOptions, AppOptions
from .request import AppRequest, Request
from .response import AppResponse, Response
from .static import sendfile
from .websocket import WebSocket
from .wsgi import WSGI

try:  # the installed distribution's version: one source, the package's pyproject.toml
    __version__ = _dist_version("socketify-core")
except _NotInstalled:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    *errors.__all__,
    "App",
    "ASGI",
    "AppListenOptions",
    "AppOptions",
    "AppRequest",
    "AppResponse",
    "CompressOptions",
    "MiddlewareRouter",
    "OpCode",
    "Request",
    "Response",
    "SendStatus",
    "WSGI",
    "WebSocket",
    "__version__",
    "middleware",
    "sendfile",
]
