"""WebSocket routes, the WebSocket object and pub/sub, on the core's ws_conn.c and ws_api.c.

Theory of operation
-------------------
``app.ws(pattern, behavior)`` validates the behavior dict once (a bad option raises
InvalidSetting, a ValueError, at registration) and routes ``GET pattern`` to an upgrade
handler.  For each request there:

1. ``sc_ws_check_request`` checks the RFC 6455 handshake on the request view: a bad one
   gets 400, a wrong version 426 with ``Sec-WebSocket-Version: 13``, a plain GET 426.
2. The user's ``upgrade(res, req, context)`` runs (sync or async), or by default the
   request is accepted with the first offered subprotocol and the negotiated
   permessage-deflate.  ``res.upgrade(key, protocol, extensions, context, user_data)`` calls
   ``sc_ws_upgrade``, which writes the 101 and switches the connection to WebSocket mode;
   the response handle stays valid across an ``await`` until then.
3. Python makes the WebSocket (its handle is the connection's) and runs ``open(ws)``.
4. The core calls back per message (``sc_py_ws_message``: one crossing, the payload in the
   loop's event view), ping, pong, drain and subscription change, and once
   ``sc_py_ws_close(code)``.  From then on ``ws._h`` is 0: every method is a no-op
   (``send`` returns ``SendStatus.DROPPED``) without entering C, and the core would refuse
   the stale handle anyway (generation check), so a task that outlives its connection
   can never touch freed memory.

Handlers may be ``async def``: they run up to their first ``await`` at once, the rest as
a task (errors go to the app's error handler with ``res``/``req`` None).

Errors: WebSocketError (a SocketifyError and RuntimeError) for calls the protocol does not
allow now (a fragment without a fragmented message, a new message inside one); ValueError
for bad arguments (a ping over 125 bytes, a close code that may not be sent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _bridge
from .._native import ffi, lib
from ..coroutines import awaiting, is_coroutine
from ..enums import CompressOptions
from ..errors import InvalidSetting
from ..limits import WS_SETTINGS
from .socket import (
    _OPCODES,
    DONE,
    SC_EINVAL,
    SC_ESTALE,
    SC_ESTATE,
    WebSocket,
    WebSocketError,
    _as_bytes,
    _publish_from,
    _unpack,
)

if TYPE_CHECKING:
    from ..request import AppRequest
    from ..response import AppResponse
    from ..runtime import Runtime

__all__ = [
    "HANDLERS",
    "num_subscribers",
    "publish",
    "register_ws",
    "set_ws_defaults",
    "upgrade",
    "validate_ws_options",
]

WSS_CLOSE_ON_BACKPRESSURE, WSS_RESET_IDLE_ON_SEND, WSS_AUTO_PING = 1, 2, 4
WSS_ON_DRAIN, WSS_ON_PING, WSS_ON_PONG, WSS_ON_SUBSCRIPTION = 8, 16, 32, 64


HANDLERS = ("upgrade", "open", "message", "drain", "ping", "pong", "close", "subscription")
_HANDLER_FLAGS = {
    "drain": WSS_ON_DRAIN,
    "ping": WSS_ON_PING,
    "pong": WSS_ON_PONG,
    "subscription": WSS_ON_SUBSCRIPTION,
}
_BOOL_BITS = {
    "close_on_backpressure_limit": WSS_CLOSE_ON_BACKPRESSURE,
    "reset_idle_timeout_on_send": WSS_RESET_IDLE_ON_SEND,
    "send_pings_automatically": WSS_AUTO_PING,
}
# name -> (bit, default) and name -> (smallest, largest, default), from the one settings
# table (limits.WS_SETTINGS); idle_timeout in seconds, max_lifetime in minutes
_BOOL_OPTIONS = {name: (bit, WS_SETTINGS[name].default) for name, bit in _BOOL_BITS.items()}
_NUMBER_OPTIONS = {
    name: (spec.low, spec.high, spec.default)
    for name, spec in WS_SETTINGS.items()
    if spec.kind in ("bytes", "seconds", "minutes")
}
_OPTIONS = ("compression", *_NUMBER_OPTIONS, *_BOOL_OPTIONS)


def _compression(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSetting(f"ws compression must be a CompressOptions value, not {value!r}")
    low, high = value & 0xFF, value >> 8
    if value < 0 or low > CompressOptions.DEDICATED_COMPRESSOR_256KB or high > 8:
        raise InvalidSetting(f"ws compression {value!r} is not a CompressOptions combination")
    return int(value)


def _number(name: str, value: Any) -> float:
    low, high, _ = _NUMBER_OPTIONS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidSetting(f"ws {name} must be a number, not {value!r}")
    if not low <= value <= high:
        raise InvalidSetting(f"ws {name} must be between {low} and {high}, not {value!r}")
    if name in ("max_payload_length", "max_backpressure") and not isinstance(value, int):
        raise InvalidSetting(f"ws {name} must be an int (bytes), not {value!r}")
    return value


class _Behavior:
    """One ``app.ws()`` route: its handlers and settings (the ``socket_context``)."""

    __slots__ = (
        "_given",
        "_id",
        "_native",
        "close",
        "drain",
        "message",
        "open",
        "options",
        "pattern",
        "ping",
        "pong",
        "subscription",
        "upgrade",
    )
    # the user's handlers (None when the behavior does not set one)
    open: Optional[Callable[..., Any]]
    message: Optional[Callable[..., Any]]
    close: Optional[Callable[..., Any]]
    drain: Optional[Callable[..., Any]]
    ping: Optional[Callable[..., Any]]
    pong: Optional[Callable[..., Any]]
    subscription: Optional[Callable[..., Any]]
    upgrade: Optional[Callable[..., Any]]

    def __init__(self, pattern: str, behavior: Any) -> None:
        if behavior is None:
            behavior = {}
        if not hasattr(behavior, "get") or not hasattr(behavior, "keys"):
            raise TypeError(f"app.ws() takes a dict of handlers and options, not {behavior!r}")
        unknown = sorted(str(k) for k in behavior.keys() if k not in HANDLERS and k not in _OPTIONS)
        if unknown:
            raise InvalidSetting(
                f"unknown ws option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(HANDLERS + _OPTIONS)}"
            )
        self.pattern = pattern
        for name in HANDLERS:
            handler = behavior.get(name)
            if handler is not None and not callable(handler):
                raise TypeError(f"ws {name} handler is not callable: {handler!r}")
            setattr(self, name, handler)
        options: dict[str, Any] = {"compression": _compression(behavior.get("compression", 0))}
        for name, (_, _, default) in _NUMBER_OPTIONS.items():
            options[name] = _number(name, behavior.get(name, default))
        for name, (_, default) in _BOOL_OPTIONS.items():
            options[name] = bool(behavior.get(name, default))
        self.options = options
        self._given = frozenset(k for k in behavior.keys() if k in _OPTIONS)
        self._native: Any = None
        self._id = -1

    def apply_defaults(self, defaults: dict[str, Any]) -> None:
        """Options the route did not set itself take these (the CLI's --ws-* flags)."""
        for name, value in defaults.items():
            if name in self._given:
                continue
            if name == "compression":
                self.options[name] = _compression(value)
            elif name in _NUMBER_OPTIONS:
                self.options[name] = _number(name, value)
            else:
                self.options[name] = bool(value)
        self._native = None  # registered again with the new settings on first use

    def id_for(self, native: Any) -> int:
        """The core's behavior id in this native loop (registered on first use)."""
        if self._native is native:
            return self._id
        o = self.options
        settings = ffi.new("sc_ws_settings *")
        lib.sc_ws_settings_default(settings)
        settings.max_payload_length = o["max_payload_length"]
        settings.max_backpressure = o["max_backpressure"]
        settings.idle_timeout_ms = int(o["idle_timeout"] * 1000)
        settings.max_lifetime_ms = int(o["max_lifetime"] * 60000)
        settings.compression = o["compression"]
        flags = 0
        for name, (flag, _) in _BOOL_OPTIONS.items():
            if o[name]:
                flags |= flag
        for name, flag in _HANDLER_FLAGS.items():
            if getattr(self, name) is not None:
                flags |= flag
        settings.flags = flags
        rc = lib.sc_ws_behavior_new(native, settings)
        if rc < 0:
            raise InvalidSetting(f"the core refused the ws settings of {self.pattern!r} ({rc})")
        self._native = native
        self._id = rc
        return rc

    def __repr__(self) -> str:
        return f"<ws behavior {self.pattern!r}>"


# ---- the per-app hub: live WebSockets and the core's callbacks ----------------------------------
class _Hub:
    __slots__ = ("_owner", "_rt", "defaults", "sockets", "specs")

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._owner = 0
        self.sockets: dict[int, WebSocket] = {}
        self.specs: list[_Behavior] = []
        self.defaults: dict[str, Any] = {}

    def attach(self) -> None:
        owner = self._rt.owner
        if owner != self._owner:
            _bridge.register_ws(owner, self)
            self._owner = owner

    def release(self) -> None:
        """The native loop is going away: every WebSocket turns stale, no callbacks."""
        for ws in self.sockets.values():
            ws._h = 0
        self.sockets.clear()
        self._owner = 0

    def _run(self, handler: Callable[..., Any], *args: Any) -> None:
        rt = self._rt
        try:
            result = handler(*args)
            if result is not None:
                if is_coroutine(result):
                    rt.spawn(result, None, None)
                elif hasattr(result, "__await__"):
                    rt.spawn(awaiting(result), None, None)
        except Exception as exc:
            rt.report(exc, None, None)

    def _payload(self) -> bytes:
        event = self._rt.event
        size = event.len
        return _unpack(event.data, size) if size else b""  # type: ignore[no-any-return]

    def _on_message(self, h: int, opcode: int) -> None:
        ws = self.sockets.get(h)
        if ws is None:
            return
        handler = ws._behavior.message
        if handler is None:
            return
        event = self._rt.event
        size = event.len
        data = _unpack(event.data, size) if size else b""
        # PERF: text was validated as UTF-8 by the core; decode() cannot fail here.
        message = data.decode() if opcode == 1 else data
        try:
            result = handler(ws, message, _OPCODES[opcode])
            if result is not None:
                self._rt.handler_result(result, None, None)  # async: first step now, then a task
        except Exception as exc:
            self._rt.report(exc, None, None)

    def _on_close(self, h: int, code: int) -> None:
        ws = self.sockets.pop(h, None)
        if ws is None:
            return
        ws._h = 0
        handler = ws._behavior.close
        if handler is not None:
            reason = self._payload()
            self._run(handler, ws, code, reason or None)

    def _on_drain(self, h: int) -> None:
        ws = self.sockets.get(h)
        if ws is not None and ws._behavior.drain is not None:
            self._run(ws._behavior.drain, ws)

    def _on_ping(self, h: int) -> None:
        ws = self.sockets.get(h)
        if ws is not None and ws._behavior.ping is not None:
            self._run(ws._behavior.ping, ws, self._payload())

    def _on_pong(self, h: int) -> None:
        ws = self.sockets.get(h)
        if ws is not None and ws._behavior.pong is not None:
            self._run(ws._behavior.pong, ws, self._payload())

    def _on_subscription(self, h: int, new_count: int, old_count: int) -> None:
        ws = self.sockets.get(h)
        if ws is not None and ws._behavior.subscription is not None:
            topic = self._payload().decode("utf-8", "replace")
            self._run(ws._behavior.subscription, ws, topic, new_count, old_count)


def _hub(rt: Runtime) -> _Hub:
    hub = rt.ws_hub
    if hub is None:
        hub = rt.ws_hub = _Hub(rt)
    return hub


_REFUSALS = {
    400: (400, (), b"Bad WebSocket handshake"),
    426: (426, ((b"Sec-WebSocket-Version", b"13"),), b"Unsupported WebSocket version"),
    1: (426, ((b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")), b"Upgrade Required"),
}


def register_ws(rt: Runtime, pattern: str, behavior: Any) -> _Behavior:
    """``app.ws(pattern, behavior)``: validate the behavior, route ``GET pattern``."""
    if not isinstance(pattern, str):
        raise TypeError(f"ws pattern must be a str, not {type(pattern).__name__}")
    spec = _Behavior(pattern, behavior)
    hub = _hub(rt)
    spec.apply_defaults(hub.defaults)
    hub.specs.append(spec)

    def ws_upgrade_route(res: AppResponse, req: AppRequest) -> Any:
        status = lib.sc_ws_check_request(rt.native)
        if status:
            code, headers, body = _REFUSALS.get(status, _REFUSALS[400])
            res.write_status(code)
            for name, value in headers:
                res.write_header(name, value)
            return res.write_header(b"Content-Type", b"text/plain").end(body)
        if spec.upgrade is not None:
            return spec.upgrade(res, req, spec)
        upgrade(
            res,
            req.get_header("sec-websocket-key"),
            _first_protocol(req.get_header("sec-websocket-protocol")),
            req.get_header("sec-websocket-extensions"),
            spec,
        )
        return None

    rt.add_ws_route(pattern, ws_upgrade_route)
    return spec


def validate_ws_options(options: dict[str, Any]) -> None:
    """Raise ``InvalidSetting``/``TypeError`` for what ``app.ws()`` would refuse."""
    unknown = sorted(str(k) for k in options if k not in _OPTIONS)
    if unknown:
        raise InvalidSetting(f"unknown ws option(s) {', '.join(unknown)}")
    _Behavior("/", dict(options))  # the same checks as app.ws()


def set_ws_defaults(rt: Runtime, defaults: dict[str, Any]) -> None:
    """Defaults for the options of every ``app.ws()`` route, present and future, that the
    route does not set itself (what the command line's ``--ws-*`` flags do).  Unknown
    names and out-of-range values raise ``InvalidSetting`` like ``app.ws()`` does."""
    validate_ws_options(defaults)
    hub = _hub(rt)
    hub.defaults.update(defaults)
    for spec in hub.specs:
        spec.apply_defaults(defaults)


def _first_protocol(offered: Optional[str]) -> Optional[str]:
    if not offered:
        return None
    return offered.split(",", 1)[0].strip() or None


def upgrade(
    res: AppResponse,
    key: Any,
    protocol: Any,
    extensions: Any,
    socket_context: Any,
    user_data: Any = None,
) -> bool:
    """``res.upgrade(...)``: answer 101 and open the WebSocket.  False (a no-op) when the
    response already ended or the client left."""
    if not isinstance(socket_context, _Behavior):
        raise TypeError(
            "socket_context must be the context the ws upgrade handler received, "
            f"not {socket_context!r}"
        )
    if res._state == DONE:
        return False
    rt = res._rt
    native = rt.native
    behavior = socket_context.id_for(native)
    key_b = _as_bytes(key, "key")
    proto_b = _as_bytes(protocol, "protocol")
    ext_b = _as_bytes(extensions, "extensions")
    head = b"".join(res._headers) if res._headers else b""
    out = ffi.new("sc_handle *")
    rc = lib.sc_ws_upgrade(
        native,
        res._h,
        key_b,
        len(key_b),
        proto_b,
        len(proto_b),
        ext_b,
        len(ext_b),
        head,
        len(head),
        behavior,
        out,
    )
    if rc == SC_ESTALE:
        res._mark_aborted()
        return False
    if rc == SC_EINVAL:
        raise ValueError(f"cannot upgrade: invalid Sec-WebSocket-Key {key!r}")
    if rc == SC_ESTATE:
        raise WebSocketError("cannot upgrade: the response has already been started")
    if rc < 0:
        raise MemoryError("the core could not upgrade the connection")
    res._status = b"101 Switching Protocols\r\n"  # what the core sent (finished hooks read it)
    res._finished()
    hub = _hub(rt)
    hub.attach()
    ws = WebSocket(rt, out[0], socket_context, user_data)
    hub.sockets[ws._h] = ws
    if socket_context.open is not None:
        hub._run(socket_context.open, ws)
    return True


# ---- pub/sub from the app ----------------------------------------------------------------------
def publish(
    rt: Runtime, topic: Any, message: Any, opcode: Any = None, compress: bool = False
) -> bool:
    """``app.publish``: to every subscriber of ``topic``; True when anyone got it."""
    return _publish_from(rt, 0, topic, message, opcode, compress)


def num_subscribers(rt: Runtime, topic: Any) -> int:
    native = rt.native
    if native is None:
        return 0
    topic_b = _as_bytes(topic, "topic")
    return int(lib.sc_loop_num_subscribers(native, topic_b, len(topic_b)))


# ---- the WebSocket --------------------------------------------------------------------------------
