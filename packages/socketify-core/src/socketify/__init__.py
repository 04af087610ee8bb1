"""socketify: a Python web framework on a native (C, epoll, HTTP/1.1) core.

>>> from socketify import App
>>> app = App()
>>> app.get("/", lambda res, req: res.end("Hello, World!"))  # doctest: +ELLIPSIS
<App ...>
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
