"""The WebSocket object: sending, topics and the connection's facts, one C call each.

After the core reports the close, ``ws._h`` is 0 and every method is a no-op (``send``
returns ``SendStatus.DROPPED``) without entering C; the core refuses a stale handle anyway.
Routes, behaviors, the upgrade and ``app.publish`` live in ``routes.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from .._native import ffi, lib
from ..enums import OpCode, SendStatus
from ..errors import WebSocketError, wrong_thread
from ..tls import TLSFacts

if TYPE_CHECKING:
    from ..runtime import Runtime
    from .routes import _Behavior

__all__ = ["WebSocket", "WebSocketError"]

SC_ESTALE, SC_EINVAL, SC_ENOMEM, SC_ESTATE = -1, -2, -3, -4
SC_ETHREAD = -7
SEND_COMPRESS, SEND_MORE = 1, 2
DONE = 2  # AppResponse._state of an ended response

_unpack = ffi.unpack
# PERF: module-level C functions and enum tables: a send is one call and one tuple index.
_send = lib.sc_ws_send
_publish = lib.sc_loop_publish
_STATUS = (SendStatus.BACKPRESSURE, SendStatus.SUCCESS, SendStatus.DROPPED)
_OPCODES = {int(op): op for op in OpCode}
_DROPPED = SendStatus.DROPPED


def _as_bytes(value: Any, what: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _message(rt: Runtime, message: Any, opcode: Any) -> tuple[bytes, int]:
    kind = type(message)
    if kind is bytes:
        return message, 2 if opcode is None else int(opcode)
    if kind is str:
        return message.encode(), 1 if opcode is None else int(opcode)
    if message is None:
        return b"", 2 if opcode is None else int(opcode)
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message), 2 if opcode is None else int(opcode)
    return rt.serializer().dumps(message), 1 if opcode is None else int(opcode)


def _publish_from(
    rt: Runtime, sender: int, topic: Any, message: Any, opcode: Any, compress: bool
) -> bool:
    native = rt.native
    if native is None:
        return False
    topic_b = _as_bytes(topic, "topic")
    data, op = _message(rt, message, opcode)
    if op not in (1, 2):
        raise ValueError(f"publish sends TEXT or BINARY messages, not opcode {op}")
    rc = _publish(native, sender, topic_b, len(topic_b), data, len(data), op, 1 if compress else 0)
    if rc == SC_ETHREAD:
        raise wrong_thread("publish()")
    backend = rt.pubsub
    if backend is not None and rc >= 0:
        backend.publish(topic_b, data, op, compress)  # other processes (socketify.pubsub)
    return rc > 0


def _check_text(data: Any, what: str) -> None:
    """RFC 6455 requires UTF-8 in TEXT messages and close reasons: refuse to send others."""
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what} must be valid UTF-8 ({exc.reason} at byte {exc.start}); "
            "send bytes as BINARY instead"
        ) from None


class WebSocket:
    """One open WebSocket.  After its close every method is a safe no-op."""

    __slots__ = ("__weakref__", "_behavior", "_h", "_native", "_rt", "_tls", "_user_data")

    def __init__(self, rt: Runtime, handle: int, behavior: _Behavior, user_data: Any) -> None:
        self._rt = rt
        self._h = handle
        self._native = rt.native
        self._behavior = behavior
        self._user_data = user_data
        self._tls = TLSFacts.read(lib.sc_ws_tls_info, self._native, handle)

    @property
    def app(self) -> Any:
        """The App this WebSocket belongs to."""
        return self._rt.app

    # ---- sending -------------------------------------------------------------------------------
    def send(
        self, message: Any, opcode: Any = None, compress: bool = False, fin: bool = True
    ) -> SendStatus:
        """Send a message (str: TEXT, bytes: BINARY, anything else: JSON TEXT, unless
        ``opcode`` says otherwise).  ``fin=False`` starts a fragmented message."""
        h = self._h
        if not h:
            return _DROPPED
        kind = type(message)
        # PERF: the two common types without a function call
        if kind is str:
            data = message.encode()
            op = 1 if opcode is None else opcode
        elif kind is bytes:
            data = message
            op = 2 if opcode is None else opcode
        else:
            data, op = _message(self._rt, message, opcode)
        if op == 1 and kind is not str and fin:
            _check_text(data, "a TEXT message")
        flags = SEND_COMPRESS if compress else 0
        if not fin:
            flags |= SEND_MORE
        rc = _send(self._native, h, op, data, len(data), flags)
        if rc >= 0:
            return _STATUS[rc]
        return self._refused(rc, op)

    def _refused(self, rc: int, op: Any) -> SendStatus:
        if rc == SC_ETHREAD:
            raise wrong_thread("ws.send()")
        if rc == SC_ESTATE:
            if op == 0:
                raise WebSocketError("send_fragment() without a send_first_fragment()")
            raise WebSocketError("a fragmented message is open: finish it first")
        if rc == SC_EINVAL:
            raise ValueError(f"cannot send opcode {op!r} with this payload (control: <= 125 B)")
        raise MemoryError("the core could not buffer the message")

    def send_first_fragment(
        self, message: Any, opcode: Any = None, compress: bool = False
    ) -> SendStatus:
        return self.send(message, opcode, compress, False)

    def send_fragment(self, message: Any, compress: bool = False) -> SendStatus:
        return self.send(message, OpCode.CONTINUATION, compress, False)

    def send_last_fragment(self, message: Any, compress: bool = False) -> SendStatus:
        return self.send(message, OpCode.CONTINUATION, compress, True)

    def cork(self, callback: Callable[[WebSocket], Any]) -> WebSocket:
        """Run ``callback(ws)`` with output corked: what it sends leaves in one write."""
        h = self._h
        if not h:
            callback(self)
            return self
        lib.sc_ws_cork(self._native, h, 1)
        try:
            callback(self)
        finally:
            if self._h:
                lib.sc_ws_cork(self._native, h, 0)
        return self

    def cork_send(
        self, message: Any, opcode: Any = None, compress: bool = False, fin: bool = True
    ) -> SendStatus:
        status: list[SendStatus] = []
        self.cork(lambda ws: status.append(ws.send(message, opcode, compress, fin)))
        return status[0]

    # ---- closing --------------------------------------------------------------------------------
    def end(self, code: int = 1000, message: Any = None) -> None:
        """Start the closing handshake with ``code`` and an optional reason (str or
        bytes, cut to 123 bytes); the close handler runs now."""
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 4999:
            raise ValueError(f"close code must be an int in 1000..4999, not {code!r}")
        h = self._h
        if not h:
            return
        reason = _as_bytes(message, "close reason")
        if reason:
            _check_text(reason, "a close reason")
            if len(reason) > 123:  # the frame's limit: cut on a character boundary
                reason = reason[:123].decode("utf-8", "ignore").encode()
        rc = lib.sc_ws_end(self._native, h, code, reason, len(reason))
        if rc == SC_ETHREAD:
            raise wrong_thread("ws.end()")
        if rc == SC_EINVAL:
            raise ValueError(f"{code} is not a close code that may be sent")

    def close(self) -> None:
        """Close the connection now, without a closing handshake (the close handler gets
        1006)."""
        h = self._h
        if h and lib.sc_ws_close(self._native, h) == SC_ETHREAD:
            raise wrong_thread("ws.close()")

    # ---- topics ---------------------------------------------------------------------------------
    def _topic_call(self, fn: Any, topic: Any) -> bool:
        h = self._h
        if not h:
            return False
        topic_b = _as_bytes(topic, "topic")
        rc = fn(self._native, h, topic_b, len(topic_b))
        if rc == SC_ETHREAD:
            raise wrong_thread("ws.subscribe()/unsubscribe()")
        if rc == SC_ESTATE:
            raise WebSocketError("topics cannot change inside a subscription handler")
        if rc == SC_ENOMEM:
            raise MemoryError("the core could not subscribe")
        return rc > 0

    def subscribe(self, topic: Any) -> bool:
        """True when newly subscribed."""
        return self._topic_call(lib.sc_ws_subscribe, topic)

    def unsubscribe(self, topic: Any) -> bool:
        return self._topic_call(lib.sc_ws_unsubscribe, topic)

    def is_subscribed(self, topic: Any) -> bool:
        return self._topic_call(lib.sc_ws_is_subscribed, topic)

    def get_topics(self) -> list[str]:
        h = self._h
        if not h:
            return []
        native = self._native
        count = lib.sc_ws_topic_count(native, h)
        name = ffi.new("const char **")
        size = ffi.new("size_t *")
        topics = []
        for index in range(count):
            if lib.sc_ws_topic_at(native, h, index, name, size) == 0:
                topics.append(_unpack(name[0], size[0]).decode("utf-8", "replace"))
        return topics

    def for_each_topic(self, handler: Callable[[str], Any]) -> None:
        for topic in self.get_topics():
            handler(topic)

    def publish(
        self,
        topic: Any,
        message: Any,
        opcode: Any = None,
        compress: bool = False,
        include_self: bool = False,
    ) -> bool:
        """To every subscriber of ``topic`` but this WebSocket (``include_self=True``: this
        one too, as the original socketify did); True when anyone got it."""
        h = self._h
        if not h:
            return False
        return _publish_from(self._rt, 0 if include_self else h, topic, message, opcode, compress)

    # ---- state ----------------------------------------------------------------------------------
    def get_buffered_amount(self) -> int:
        h = self._h
        return int(lib.sc_ws_buffered(self._native, h)) if h else 0

    def _address(self, fetch: Any) -> bytes:
        h = self._h
        if not h:
            return b""
        buf = ffi.new("char[64]")
        n = fetch(self._native, h, buf, 64)
        return _unpack(buf, n) if n > 0 else b""

    def get_remote_address(self) -> str:
        return self._address(lib.sc_ws_remote_address).decode("ascii", "replace")

    # ---- TLS: captured at the upgrade, so still there in the close handler -------------
    def is_secure(self) -> bool:
        """True for a WebSocket over TLS (wss://)."""
        return self._tls.secure

    def get_peer_certificate(self, binary_form: bool = False) -> Any:
        """The client's verified certificate, as ``AppRequest.get_peer_certificate``."""
        return self._tls.certificate(binary_form)

    def get_tls_version(self) -> Optional[str]:
        return self._tls.version

    def get_cipher(self) -> Optional[tuple[str, str, int]]:
        return self._tls.cipher_tuple()

    def get_alpn_protocol(self) -> Optional[str]:
        return self._tls.alpn

    def get_server_name(self) -> Optional[str]:
        return self._tls.server_name

    def get_remote_address_bytes(self) -> bytes:
        return self._address(lib.sc_ws_remote_bytes)

    def get_user_data(self) -> Any:
        return self._user_data

    @property
    def closed(self) -> bool:
        """True once the close handler ran (or was due)."""
        return not self._h

    def __repr__(self) -> str:
        return f"<WebSocket {self._behavior.pattern!r}{' closed' if not self._h else ''}>"
