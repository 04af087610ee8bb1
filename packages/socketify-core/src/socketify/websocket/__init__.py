"""WebSockets: routes and the upgrade (``routes``), the WebSocket object (``socket``).

The protocol itself (handshake checks, frames, deflate, topics) is in the C core:
``ws_handshake.c``, ``ws_frame.c``, ``ws_deflate.c``, ``ws_conn.c``, ``ws_api.c``, ``topics.c``.
"""

from __future__ import annotations

from .routes import (
    HANDLERS,
    num_subscribers,
    publish,
    register_ws,
    set_ws_defaults,
    upgrade,
    validate_ws_options,
)
from .socket import WebSocket, WebSocketError

__all__ = [
    "HANDLERS",
    "WebSocket",
    "WebSocketError",
    "num_subscribers",
    "publish",
    "register_ws",
    "set_ws_defaults",
    "upgrade",
    "validate_ws_options",
]
