"""Access log: one line per finished response, on the ``socketify.access`` logger.

Off by default and free when off: ``enable(app)`` registers a finished hook
(``app.on_finished``), so an app that never enabled it runs the plain response class with no
check at all.  The hook sees every way a response ends (``end``, ``send``, ``sendfile``, the
last ``try_end``, a WebSocket upgrade, the error fallback) or the client going away::

    127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET /users?id=3 HTTP/1.1" 200 512 0.81ms

that is the Common Log Format (client, ident, user, time, request line, status, body bytes)
followed by the time from the request head to the end of the response.  A response the
client abandoned ends with `` aborted``.  With ``--access-log-format json`` each line is a
JSON object instead (for log shippers)::

    {"time": "2024-10-10T13:55:36.120Z", "client": "127.0.0.1", "method": "GET",
     "target": "/users?id=3", "http_version": "1.1", "status": 200, "bytes": 512,
     "duration_ms": 0.81, "aborted": false}
  Errors are not logged here: the runtime logs every
unhandled exception with its traceback on the ``socketify`` logger.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App
    from ..runtime import Finished

__all__ = ["FORMATS", "enable", "logger"]

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


def _iso(epoch: float) -> str:
    t = time.gmtime(epoch)
    millis = int((epoch % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{millis:03d}Z"


def log_json(res: Any, info: Finished) -> None:
    """The finished hook of the JSON format: one object per line."""
    logger.info(
        "%s",
        json.dumps(
            {
                "time": _iso(info.started),
                "client": info.client or None,
                "method": info.method,
                "target": info.target,
                "http_version": info.http_version,
                "status": info.status,
                "bytes": info.body_bytes,
                "duration_ms": round(info.duration * 1000.0, 3),
                "aborted": info.aborted,
            },
            separators=(", ", ": "),
        ),
    )


FORMATS = {"common": log_line, "json": log_json}


def enable(app: App, fmt: str = "common") -> None:
    """Log every response of ``app`` on ``socketify.access`` (level INFO), in the Common
    Log Format or as JSON lines (``fmt="json"``)."""
    try:
        hook = FORMATS[fmt]
    except KeyError:
        raise ValueError(
            f"access log format must be one of {', '.join(FORMATS)}, not {fmt!r}"
        ) from None
    app.on_finished(hook)
