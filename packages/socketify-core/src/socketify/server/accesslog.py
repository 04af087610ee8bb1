"""Access log: one line per finished response, on the ``socketify.access`` logger.

Off by default and free when off: ``enable(app)`` sets ``app._response_type`` to
``LoggedResponse``, an AppResponse subclass, so an app that never enabled it runs the plain
class with no check at all.  When on, a response records where it came from while the
request view is still valid (method, target, HTTP version, client address, start time),
counts the body bytes it hands to the core, and logs once, when it ends (``end``, ``send``,
``end_without_body``, the last ``try_end``) or when the client goes away::

    127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET /users?id=3 HTTP/1.1" 200 512 0.81ms

that is the Common Log Format (client, ident, user, time, request line, status, body bytes)
followed by the time from the request head to the end of the response.  A response the
client abandoned ends with `` aborted``.  Errors are not logged here: the App logs every
unhandled exception with its traceback on the ``socketify`` logger.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .._native import ffi, lib
from ..response import DONE, AppResponse

if TYPE_CHECKING:
    from ..app import App

__all__ = ["LoggedResponse", "enable", "logger"]

logger = logging.getLogger("socketify.access")

_ADDRESS_SIZE = 64
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clf_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


class LoggedResponse(AppResponse):
    """An AppResponse that writes one access-log line when it finishes."""

    __slots__ = ("_log_client", "_log_request", "_log_start", "_log_wall", "_sent")

    def __init__(self, app: App, handle: int, request_flags: int = 0) -> None:
        super().__init__(app, handle, request_flags)
        view = app._view  # valid: responses are built inside the on_request callback
        method = ffi.unpack(view.method, view.method_len).decode("latin-1")
        target = ffi.unpack(view.target, view.target_len).decode("latin-1")
        self._log_request = f"{method} {target} HTTP/1.{view.http_minor}"
        buf = ffi.new("char[]", _ADDRESS_SIZE)
        n = lib.sc_res_remote_address(app._native, handle, buf, _ADDRESS_SIZE)
        self._log_client = ffi.unpack(buf, n).decode("ascii", "replace") if n > 0 else "-"
        self._log_wall = time.time()
        self._log_start = time.perf_counter()
        self._sent = 0

    def _log(self, aborted: bool = False) -> None:
        start = self._log_start
        if not start:
            return  # logged already
        self._log_start = 0.0
        status = self._status
        code = status[:3].decode("latin-1") if status else "200"
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        logger.info(
            '%s - - [%s] "%s" %s %d %.2fms%s',
            self._log_client,
            _clf_time(self._log_wall),
            self._log_request,
            code,
            self._sent,
            elapsed_ms,
            " aborted" if aborted else "",
        )

    def _coerce(self, message: Any) -> Any:
        # Serialize here, once, so the byte count is exact; AppResponse gets bytes.
        if message is None or type(message) is bytes:
            return message
        return self._body(message)

    def end(self, message: Any = None, end_connection: bool = False) -> AppResponse:
        if self._state == DONE:
            return self
        body = self._coerce(message)
        if body is not None:
            self._sent += len(body)
        AppResponse.end(self, body, end_connection)
        self._log(self.aborted)
        return self

    cork_end = end

    def end_without_body(self, end_connection: bool = False) -> AppResponse:
        if self._state == DONE:
            return self
        AppResponse.end_without_body(self, end_connection)
        self._log(self.aborted)
        return self

    def write(self, message: Any) -> AppResponse:
        if self._state == DONE:
            return self
        body = self._coerce(message)
        if body is not None:
            self._sent += len(body)
        return AppResponse.write(self, body)

    def try_end(
        self, message: Any, total_size: int, end_connection: bool = False
    ) -> tuple[bool, bool]:
        if self._state == DONE:
            return (False, True)
        ok, done = AppResponse.try_end(self, message, total_size, end_connection)
        if done:
            if not self.aborted:
                self._sent = total_size
            self._log(self.aborted)
        return (ok, done)

    def _mark_aborted(self) -> None:
        AppResponse._mark_aborted(self)
        self._log(aborted=True)


def enable(app: App) -> None:
    """Log every response of ``app`` on ``socketify.access`` (level INFO)."""
    app._response_type = LoggedResponse
