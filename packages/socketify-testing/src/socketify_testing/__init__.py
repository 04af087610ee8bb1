"""Test socketify apps through the real C core: raw HTTP/1.1 over an in-memory connection.

from socketify_testing import TestClient

with TestClient(app) as client:
    assert client.get("/").text == "Hello, World!"
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
