"""Every exception socketify raises, in one place (``socketify.errors``, also ``socketify``).

    SocketifyError                          root of everything raised by socketify
    ├── InvalidSetting (ValueError)         App(**settings) / app.ws() got a bad value
    ├── InvalidStatus (ValueError)          write_status/send got something that is not a status
    ├── InvalidHeader (ValueError)          a header name/value that would break the head
    ├── ResponseStateError (RuntimeError)   header/status after the body started
    ├── RequestExpired (RuntimeError)       an AppRequest used after its callback, not preserved
    ├── BodyDecodeError (ValueError)    400 get_text/get_json/get_form_urlencoded got bad bytes
    ├── MultipartError (ValueError)     400 a multipart body that cannot be accepted
    │   ├── InvalidContentType              not multipart/form-data with a valid boundary
    │   ├── TruncatedBody                   the body ended before the close delimiter
    │   ├── InvalidPartHeaders              a part without a usable Content-Disposition
    │   └── LimitExceeded               413 a size or count limit was passed
    ├── WebSocketError (RuntimeError)       a WebSocket call the protocol does not allow now
    ├── ASGIProtocolError (RuntimeError)    an ASGI/WSGI app misused send()/start_response
    ├── ClientDisconnected (OSError)        send() after the client went away (ASGI spec 2.4)
    ├── LifespanFailure (RuntimeError)      lifespan startup/shutdown failed
    ├── InterfaceError (TypeError)          the CLI target is not an app of that interface
    ├── TargetError                         the CLI could not load module:attr
    ├── UsageError                          a command line that cannot be served (exit 2)
    ├── TLSConfigError (ValueError)         AppOptions/--ssl-* that cannot serve TLS (names the file)
    ├── RelayProtocolError                  a broken frame between --workers (pub/sub relay)
    └── CoreError (RuntimeError)            the C core refused a call; one class per code:
        ├── StaleHandleError                SC_ESTALE  closed connection / finished response
        ├── InvalidArgumentError (ValueError)   SC_EINVAL
        ├── CoreMemoryError (MemoryError)   SC_ENOMEM
        ├── BackpressureError               SC_EAGAIN  (backpressure, not a fault)
        ├── ConnectionClosedError (ConnectionError)  SC_EIO
        └── WrongThreadError                         SC_ETHREAD
    (SC_ESTATE is ResponseStateError; SC_EOS(errno) is an OSError: ``core_error`` maps them)

Re-exported from the packages socketify builds on (each its own root, since those packages
do not depend on socketify): ``RouterError`` and its ``PatternError``,
``DuplicateRouteError``, ``URLBuildError``, ``MiddlewareStopped`` (socketify_router), and
``JSONError``, ``JSONEncodeError``, ``JSONDecodeError`` (socketify_json).  The TestClient's
errors are socketify_testing's (root ``TestClientError``).

Errors that map to an HTTP status carry it in ``status_hint``: without an error handler
of the app's own, an error of ours with a 4xx hint is answered with that status and its
message (and the connection closed, since a refused body may still be arriving); any
other exception is a 500.
"""

from __future__ import annotations

import os

from socketify_json import JSONDecodeError, JSONEncodeError, JSONError
from socketify_router import (
    DuplicateRouteError,
    MiddlewareStopped,
    PatternError,
    RouterError,
    URLBuildError,
)

__all__ = [
    "ASGIProtocolError",
    "BackpressureError",
    "ConnectionClosedError",
    "WrongThreadError",
    "CoreError",
    "CoreMemoryError",
    "InvalidArgumentError",
    "StaleHandleError",
    "core_error",
    "BodyDecodeError",
    "ClientDisconnected",
    "DuplicateRouteError",
    "InterfaceError",
    "InvalidContentType",
    "InvalidHeader",
    "InvalidPartHeaders",
    "InvalidSetting",
    "InvalidStatus",
    "JSONDecodeError",
    "JSONEncodeError",
    "JSONError",
    "LifespanFailure",
    "TLSConfigError",
    "LimitExceeded",
    "MiddlewareStopped",
    "MultipartError",
    "PatternError",
    "RelayProtocolError",
    "RequestExpired",
    "ResponseStateError",
    "RouterError",
    "SocketifyError",
    "TargetError",
    "TruncatedBody",
    "URLBuildError",
    "UsageError",
    "WebSocketError",
]


class SocketifyError(Exception):
    status_hint = 500


class InvalidSetting(SocketifyError, ValueError):
    pass


class InvalidStatus(SocketifyError, ValueError):
    pass


class InvalidHeader(SocketifyError, ValueError):
    pass


class ResponseStateError(SocketifyError, RuntimeError):
    pass


class RequestExpired(SocketifyError, RuntimeError):
    pass


class BodyDecodeError(SocketifyError, ValueError):
    status_hint = 400


class ASGIProtocolError(SocketifyError, RuntimeError):
    """An ASGI or WSGI application broke its protocol (start twice, body before start...)."""


class ClientDisconnected(SocketifyError, OSError):
    """``send()`` on a connection whose client went away (ASGI spec 2.4: an OSError)."""


class LifespanFailure(SocketifyError, RuntimeError):
    """The application's lifespan startup (or shutdown) failed."""


class WebSocketError(SocketifyError, RuntimeError):
    """A WebSocket call the protocol does not allow in the current state."""


class MultipartError(SocketifyError, ValueError):
    """A multipart body that cannot be accepted; ``status_hint`` is the HTTP status."""

    status_hint = 400

    @property
    def status(self) -> int:
        return self.status_hint


class InvalidContentType(MultipartError):
    """The Content-Type is not ``multipart/form-data`` with a valid boundary."""


class TruncatedBody(MultipartError):
    """The body ended before the close delimiter."""


class InvalidPartHeaders(MultipartError):
    """A part without a usable Content-Disposition, or with a malformed header line."""


class LimitExceeded(MultipartError):
    """A size or count limit was passed; ``limit`` names it."""

    status_hint = 413

    def __init__(self, limit: str, value: int) -> None:
        super().__init__(f"multipart body exceeds {limit}={value}")
        self.limit = limit
        self.value = value


class InterfaceError(SocketifyError, TypeError):
    """The object is not an application of the interface asked for (or none at all)."""


class TargetError(SocketifyError):
    """The CLI target names a module, attribute or object that cannot be served."""


class UsageError(SocketifyError):
    """A command line that cannot be served (printed as one line, exit code 2)."""


class TLSConfigError(SocketifyError, ValueError):
    """A TLS configuration that cannot be served: a missing or unreadable file, a wrong
    passphrase, a key that does not match its certificate, an expired certificate..."""


class RelayProtocolError(SocketifyError):
    """A frame that breaks the relay protocol (a broken or foreign peer)."""


class CoreError(SocketifyError, RuntimeError):
    """The C core refused a call; ``code`` is its return code (socketify.h)."""

    code = 0


class StaleHandleError(CoreError):
    """SC_ESTALE: the handle names a closed connection or a finished response."""

    code = -1


class InvalidArgumentError(CoreError, ValueError):
    """SC_EINVAL: the core refused an argument."""

    code = -2


class CoreMemoryError(CoreError, MemoryError):
    """SC_ENOMEM: the core could not allocate."""

    code = -3


class BackpressureError(CoreError):
    """SC_EAGAIN: past max_backpressure (callers treat it as backpressure, not a fault)."""

    code = -5


class ConnectionClosedError(CoreError, ConnectionError):
    """SC_EIO: a socket error closed the connection."""

    code = -6


class WrongThreadError(CoreError):
    """SC_ETHREAD: a response or WebSocket was used from a thread that is not its loop's.

    The core has no lock; hand the call to the loop's thread instead:
    ``app.loop.call_soon_threadsafe(res.end, data)`` (or ``asyncio.run_coroutine_threadsafe``
    for a coroutine)."""

    code = -7


def wrong_thread(what: str) -> WrongThreadError:
    return WrongThreadError(
        f"{what} was called from a thread that is not the event loop's; the core is not "
        "thread-safe: hand the call to the loop with app.loop.call_soon_threadsafe(...) "
        "(or asyncio.run_coroutine_threadsafe(coro, app.loop))"
    )


SC_ETHREAD = -7
SC_EOS_BASE = -1000  # socketify.h: SC_EOS(errno) = SC_EOS_BASE - errno
_BY_CODE: dict[int, type[BaseException]] = {
    -1: StaleHandleError,
    -2: InvalidArgumentError,
    -3: CoreMemoryError,
    -4: ResponseStateError,
    -5: BackpressureError,
    -6: ConnectionClosedError,
    -7: WrongThreadError,
}


def core_error(rc: int, what: str) -> BaseException:
    """The exception for a negative return code of the core (one class per code); an
    operating-system error (``SC_EOS(errno)``) is an ``OSError`` with that errno."""
    if rc <= SC_EOS_BASE:
        errno = SC_EOS_BASE - rc
        return OSError(errno, f"{what}: {os.strerror(errno)}")
    if rc == SC_ETHREAD:
        return wrong_thread(what)
    kind = _BY_CODE.get(rc)
    if kind is None:
        return CoreError(f"{what}: unknown core return code {rc}")
    return kind(f"{what}: the core refused the call (code {rc})")
