"""Route the C core's callbacks to the Python objects that own each loop.

The core calls ``sc_py_on_request/on_data/on_aborted/on_writable(owner, handle, ...)``
(``extern "Python"`` functions of ``socketify._native``).  ``register(target)`` gives a
loop owner its id (pass it to ``sc_loop_new``); ``target`` has the methods
``_on_request(h)``, ``_on_data(h)``, ``_on_aborted(h)`` and
``_on_writable(h, offset) -> bool``.  The bound methods are kept until
``unregister(owner_id)``.

WebSocket events (``sc_py_ws_message/close/drain/ping/pong/subscription``) go to a
second target per owner, set with ``register_ws(owner_id, hub)`` once the loop has
WebSocket routes; ``hub`` has ``_on_message(ws, opcode)``, ``_on_close(ws, code)``,
``_on_drain(ws)``, ``_on_ping(ws)``, ``_on_pong(ws)`` and
``_on_subscription(ws, new_count, old_count)`` (payloads are in the loop's event view).

``route_requests(owner_id, fn)`` replaces the ``_on_request`` of a registered owner
(the ASGI/WSGI adapters route requests straight to their dispatch).

``register_topics(owner_id, fn)`` routes ``sc_py_topic_interest``: ``fn(active)`` when a
topic (in the event view) gains its first or loses its last local subscriber, for the
pub/sub backend (socketify.pubsub) that follows local interest.

``register_tls(owner_id, fn)`` routes ``sc_py_tls_server_name``: ``fn()`` when a TLS client
asks for a server name (in the event view) the SNI table lacks (App.missing_server_name).

Contexts: a request (``on_request``) and every WebSocket event runs in its own copy of the
thread's current context (``contextvars.copy_context().run``), as asyncio runs each callback
and Task: a ContextVar that a handler, an ASGI app or a WebSocket handler sets stays with
that call and the Tasks it starts, and never reaches the next request.  The callbacks of a
response that outlives its request (``on_data``, ``on_writable``, ``on_aborted``) go to the
runtime as they are: it runs a handler registered through ``on_data``, ``on_writable`` or
``on_aborted`` in the context it was registered in (runtime.py, ``_run_in``), and the
adapters' body handlers, which are set directly, in none, so a body chunk costs no context
copy.

No exception ever escapes into C: cffi's ``onerror`` logs it with its traceback on the
``socketify`` logger, and the callback returns its default (``on_writable``: 1, stop
asking).
"""

from __future__ import annotations

import itertools
import logging
from contextvars import copy_context as _context
from types import TracebackType
from typing import Any, Callable, Optional

from socketify._native import ffi

__all__ = [
    "register",
    "register_tls",
    "register_topics",
    "register_ws",
    "route_requests",
    "unregister",
]

_log = logging.getLogger("socketify")

# PERF: one dict per callback kind holding bound methods: a callback costs one dict
# lookup and one call, no attribute lookup on the target.
_on_request: dict[int, Callable[[int], Any]] = {}
_on_data: dict[int, Callable[[int], Any]] = {}
_on_aborted: dict[int, Callable[[int], Any]] = {}
_on_writable: dict[int, Callable[[int, int], Any]] = {}
_ws_message: dict[int, Callable[[int, int], Any]] = {}
_ws_close: dict[int, Callable[[int, int], Any]] = {}
_ws_drain: dict[int, Callable[[int], Any]] = {}
_ws_ping: dict[int, Callable[[int], Any]] = {}
_ws_pong: dict[int, Callable[[int], Any]] = {}
_ws_subscription: dict[int, Callable[[int, int, int], Any]] = {}
_topic_interest: dict[int, Callable[[int], Any]] = {}
_tls_server_name: dict[int, Callable[[], Any]] = {}
_WS_TABLES = (
    _ws_message,
    _ws_close,
    _ws_drain,
    _ws_ping,
    _ws_pong,
    _ws_subscription,
    _topic_interest,
    _tls_server_name,
)
_ids = itertools.count(1)


def register(target: Any) -> int:
    """Route the callbacks of a new loop to ``target``; returns the owner id."""
    owner = next(_ids) & 0xFFFFFFFF
    while owner == 0 or owner in _on_request:
        owner = next(_ids) & 0xFFFFFFFF
    _on_request[owner] = target._on_request
    _on_data[owner] = target._on_data
    _on_aborted[owner] = target._on_aborted
    _on_writable[owner] = target._on_writable
    return owner


def route_requests(owner_id: int, fn: Callable[[int], Any]) -> None:
    """Send the requests of loop ``owner_id`` to ``fn(handle)`` instead of the target's
    ``_on_request`` (the ASGI/WSGI adapters' dispatch, without a frame in between)."""
    if owner_id in _on_request:
        _on_request[owner_id] = fn


def register_ws(owner_id: int, hub: Any) -> None:
    """Route the WebSocket callbacks of loop ``owner_id`` to ``hub``."""
    _ws_message[owner_id] = hub._on_message
    _ws_close[owner_id] = hub._on_close
    _ws_drain[owner_id] = hub._on_drain
    _ws_ping[owner_id] = hub._on_ping
    _ws_pong[owner_id] = hub._on_pong
    _ws_subscription[owner_id] = hub._on_subscription


def register_topics(owner_id: int, fn: Callable[[int], Any]) -> None:
    """Route the topic interest changes of loop ``owner_id`` to ``fn(active)``."""
    _topic_interest[owner_id] = fn


def register_tls(owner_id: int, fn: Callable[[], Any]) -> None:
    """Route ``sc_py_tls_server_name`` of loop ``owner_id`` to ``fn()`` (the unknown server
    name is in the loop's event view)."""
    _tls_server_name[owner_id] = fn


def unregister(owner_id: int) -> None:
    """Forget an owner (its loop must be freed or never polled again)."""
    for table in (_on_request, _on_data, _on_aborted, _on_writable, *_WS_TABLES):
        table.pop(owner_id, None)


def _log_error(
    exc_type: Optional[type[BaseException]],
    exc: Optional[BaseException],
    tb: Optional[TracebackType],
) -> None:
    if exc is not None:
        _log.error("exception in a socketify core callback", exc_info=(type(exc), exc, tb))


@ffi.def_extern(onerror=_log_error)
def sc_py_on_request(owner: int, res: int) -> None:
    _context().run(_on_request[owner], res)


# The runtime runs each response's handlers in their own contexts (see the module doc).
@ffi.def_extern(onerror=_log_error)
def sc_py_on_data(owner: int, res: int) -> None:
    _on_data[owner](res)


@ffi.def_extern(onerror=_log_error)
def sc_py_on_aborted(owner: int, res: int) -> None:
    _on_aborted[owner](res)


@ffi.def_extern(error=1, onerror=_log_error)
def sc_py_on_writable(owner: int, res: int, offset: int) -> int:
    return 1 if _on_writable[owner](res, offset) else 0


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_message(owner: int, ws: int, opcode: int) -> None:
    _context().run(_ws_message[owner], ws, opcode)


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_close(owner: int, ws: int, code: int) -> None:
    _context().run(_ws_close[owner], ws, code)


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_drain(owner: int, ws: int) -> None:
    _context().run(_ws_drain[owner], ws)


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_ping(owner: int, ws: int) -> None:
    _context().run(_ws_ping[owner], ws)


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_pong(owner: int, ws: int) -> None:
    _context().run(_ws_pong[owner], ws)


@ffi.def_extern(onerror=_log_error)
def sc_py_ws_subscription(owner: int, ws: int, new_count: int, old_count: int) -> None:
    _context().run(_ws_subscription[owner], ws, new_count, old_count)


@ffi.def_extern(onerror=_log_error)
def sc_py_topic_interest(owner: int, active: int) -> None:
    fn = _topic_interest.get(owner)
    if fn is not None:
        _context().run(fn, active)


@ffi.def_extern(onerror=_log_error)
def sc_py_tls_server_name(owner: int) -> None:
    fn = _tls_server_name.get(owner)
    if fn is not None:
        _context().run(fn)
