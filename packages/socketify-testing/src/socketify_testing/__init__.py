"""Test socketify apps through the real C core: raw HTTP/1.1 over an in-memory connection.

from socketify_testing import TestClient

with TestClient(app) as client:
    assert client.get("/").text == "Hello, World!"
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _dist_version

from ._async_client import AsyncTestClient
from ._client import TestClient
from ._cookies import Cookie, CookieJar
from ._errors import (
    HTTPStatusError,
    InvalidRequest,
    LifespanWarning,
    ProtocolError,
    ResponseTimeout,
    StreamError,
    TestClientError,
    TooManyRedirects,
    UnexpectedMessage,
    WebSocketDisconnect,
    WebSocketRejected,
    WebSocketTimeout,
)
from ._models import Headers, Request, Response
from ._websocket import AsyncWebSocketTestSession, WebSocketMessage, WebSocketTestSession

try:  # the installed distribution's version: one source, the package's pyproject.toml
    __version__ = _dist_version("socketify-testing")
except _NotInstalled:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketTestSession",
    "Cookie",
    "CookieJar",
    "HTTPStatusError",
    "Headers",
    "InvalidRequest",
    "LifespanWarning",
    "ProtocolError",
    "Request",
    "Response",
    "ResponseTimeout",
    "StreamError",
    "TestClient",
    "TestClientError",
    "TooManyRedirects",
    "UnexpectedMessage",
    "WebSocketDisconnect",
    "WebSocketMessage",
    "WebSocketRejected",
    "WebSocketTestSession",
    "WebSocketTimeout",
    "__version__",
]
