"""Access log: one line per finished response, on the ``socketify.access`` logger.

Off by default and free when off: ``enable(app)`` registers a finished hook
(``app.on_finished``), so an app that never enabled it runs the plain response class with no
check at all.  The hook sees every way a response ends (``end``, ``send``, ``sendfile``, the
last ``try_end``, a WebSocket upgrade, the error fallback) or the client going away::

    127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET /users?id=3 HTTP/1.1" 200 512 0.81ms

that is the Common Log Format (client, ident, user, time, request line, status, body bytes)
followed by the time from the request head to the end of the response.  A response the
client abandoned ends with `` aborted``.  Errors are not logged here: the runtime logs every
unhandled exception with its traceback on the ``socketify`` logger.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App
    from ..runtime import Finished

__all__ = ["enable", "logger"]

logger = logging.getLogger("socketify.access")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _clf_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def log_line(res: Any, info: Finished) -> None:
    """The finished hook: one Common Log Format line (plus the duration)."""
    logger.info(
        '%s - - [%s] "%s %s HTTP/%s" %d %d %.2fms%s',
        info.client or "-",
        _clf_time(info.started),
        info.method,
        info.target,
        info.http_version,
        info.status,
        info.body_bytes,
        info.duration * 1000.0,
        " aborted" if info.aborted else "",
    )


def enable(app: App) -> None:
    """Log every response of ``app`` on ``socketify.access`` (level INFO)."""
    app.on_finished(log_line)
