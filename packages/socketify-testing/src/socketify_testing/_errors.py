"""Errors and warnings of socketify_testing.

Every error the client raises on its own account derives from one root::

    TestClientError
    ├── InvalidRequest        (also ValueError)  a request that cannot be put on the wire
    ├── ProtocolError                             the core's bytes are not valid HTTP/1.1
    ├── ResponseTimeout       (also TimeoutError) the app did not answer in time
    ├── TooManyRedirects                          a redirect chain longer than max_redirects
    ├── StreamError                               a streamed response read the wrong way
    ├── HTTPStatusError                           raise_for_status() on a 4xx/5xx response
    ├── WebSocketRejected                         the upgrade was answered without a 101
    ├── WebSocketDisconnect                       the WebSocket is closed (code, reason)
    ├── WebSocketTimeout      (also TimeoutError) no message from the server in time
    └── UnexpectedMessage     (also TypeError)    receive_text() got bytes, or the reverse

A frame the core should never have written (masked, bad length, bad UTF-8...) is a
ProtocolError, like a bad HTTP response.

Exceptions raised by the app's handlers are not wrapped: with
``raise_server_exceptions=True`` the test sees the handler's own exception object.

``LifespanWarning`` (a ``UserWarning``) is emitted when a client that was not used as a
context manager runs the app's startup on its first request: shutdown then runs only
if ``client.close()`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Request, Response

__all__ = [
    "HTTPStatusError",
    "InvalidRequest",
    "LifespanWarning",
    "ProtocolError",
    "ResponseTimeout",
    "StreamError",
    "TestClientError",
    "TooManyRedirects",
    "UnexpectedMessage",
    "WebSocketDisconnect",
    "WebSocketRejected",
    "WebSocketTimeout",
]


class TestClientError(Exception):
    """Root of every error raised by socketify_testing itself."""

    __test__ = False  # not a pytest test class, despite the name


class InvalidRequest(TestClientError, ValueError):
    """The request given to the client cannot be serialized (bad header, URL, body mix)."""


class ProtocolError(TestClientError):
    """The bytes the core wrote are not a well-formed HTTP/1.1 response.

    ``data`` holds the bytes the parser was looking at (at most 200 of them), so the
    failing test shows what the core actually produced.
    """

    def __init__(self, message: str, data: bytes = b"") -> None:
        self.data = data[:200]
        if data:
            message = f"{message} (at {self.data!r})"
        super().__init__(message)


class ResponseTimeout(TestClientError, TimeoutError):
    """The app did not finish its response within the client's timeout."""

    def __init__(self, message: str, method: str = "", target: str = "") -> None:
        self.method = method
        self.target = target
        super().__init__(message)


class TooManyRedirects(TestClientError):
    """More than ``max_redirects`` redirects in a row; ``history`` lists them."""

    def __init__(self, message: str, history: list[Response]) -> None:
        self.history = history
        super().__init__(message)


class StreamError(TestClientError):
    """A streamed response was read after it was closed or consumed."""


class HTTPStatusError(TestClientError):
    """Raised by ``Response.raise_for_status()`` for a 4xx or 5xx response."""

    def __init__(self, message: str, request: Request, response: Response) -> None:
        self.request = request
        self.response = response
        super().__init__(message)


class WebSocketRejected(TestClientError):
    """The server answered a WebSocket upgrade with ``response`` instead of a 101."""

    def __init__(self, message: str, response: Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.content
        super().__init__(message)

    @property
    def text(self) -> str:
        return self.response.text


class WebSocketDisconnect(TestClientError):
    """The WebSocket closed: ``code`` and ``reason`` come from the close frame (1005 if it
    had none, 1006 if the connection dropped without one)."""

    def __init__(self, message: str, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(message)


class WebSocketTimeout(TestClientError, TimeoutError):
    """No message (or close answer, or pong) from the server within the timeout."""

    def __init__(self, message: str, path: str = "", timeout: float = 0.0) -> None:
        self.path = path
        self.timeout = timeout
        super().__init__(message)


class UnexpectedMessage(TestClientError, TypeError):
    """``receive_text()`` got a binary message or ``receive_bytes()`` a text one."""

    def __init__(self, message: str, received: object) -> None:
        self.received = received
        super().__init__(message)


class LifespanWarning(UserWarning):
    """Startup ran implicitly (no ``with`` block): shutdown runs only on ``close()``."""
