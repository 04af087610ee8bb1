"""RFC 6455 on the client side: the handshake key, masked frames out, strict frames in.

Theory of operation
-------------------
A WebSocket session of the TestClient speaks to the core over the memory connection
that carried the upgrade request.  This module is the byte level of that conversation
and, like ``_wire.py`` for HTTP, it is deliberately strict: a framing bug in the core's
WebSocket writer must fail the test, not be papered over.

Out: :func:`encode_frame` builds a client frame, masked with a fresh random key as
RFC 6455 section 5.3 requires (``mask=False`` exists only to test that the server
refuses it).  :func:`new_key` and :func:`accept_for` do the handshake's key arithmetic.

In: :class:`FrameReader` is fed whatever ``conn.read()`` returned and gives back events,
``(kind, value)`` pairs, one per complete message or control frame::

    ("text", str) ("bytes", bytes)      a whole message, fragments reassembled
    ("ping", bytes) ("pong", bytes)     control frames, delivered between fragments too
    ("close", (code, reason))           code 1005 when the close frame had no payload

What the reader refuses with a ProtocolError quoting the frame: a masked server frame, a
reserved opcode, reserved bits (RSV1 is allowed only on the first frame of a message
when permessage-deflate was negotiated), a length not in its minimal encoding or with
the top bit set, a fragmented or oversized (> 125 bytes) control frame, a continuation
without a message or a new message inside a fragmented one, text that is not UTF-8, a
1-byte close payload, a close code that may not be sent, a non-UTF-8 close reason, and
any frame after the close frame.

The per-opcode rules are the OPCODES table below; everything else is the length header.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from typing import Any, Optional, Union

from ._errors import ProtocolError

__all__ = ["OPCODES", "Event", "FrameReader", "accept_for", "encode_frame", "new_key"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10
RSV1, RSV_OTHER = 0x40, 0x30
DEFLATE_TAIL = b"\x00\x00\xff\xff"

# opcode -> (event kind, is control); opcodes 3-7 and 11-15 are reserved
OPCODES = {
    CONTINUATION: ("continuation", False),
    TEXT: ("text", False),
    BINARY: ("bytes", False),
    CLOSE: ("close", True),
    PING: ("ping", True),
    PONG: ("pong", True),
}

Event = tuple[str, Any]


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to ``key``."""
    digest = hashlib.sha1(key.encode("latin-1") + GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_close_code(code: int) -> bool:
    """A code that may appear in a close frame (RFC 6455 7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def apply_mask(payload: bytes, key: bytes) -> bytes:
    size = len(payload)
    if not size:
        return b""
    # PERF: one big-integer XOR instead of a Python loop over every byte
    pad = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(pad, "big")).to_bytes(size, "big")


def encode_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """One client frame; ``rsv`` is the raw bits (0x40 RSV1, 0x20 RSV2, 0x10 RSV3)."""
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head = bytes((first, bit | size))
    elif size < 65536:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def close_payload(code: Optional[int], reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


class FrameReader:
    """Incremental, strict parser of the frames a server writes."""

    __slots__ = ("_buf", "_compressed", "_inflater", "_kind", "_parts", "closed", "deflate")

    def __init__(self, deflate: bool = False) -> None:
        self._buf = bytearray()
        self.deflate = deflate  # permessage-deflate was negotiated
        self._inflater: Any = None
        self._kind: Optional[str] = None  # kind of the fragmented message being read
        self._parts: list[bytes] = []
        self._compressed = False
        self.closed = False  # a close frame was read: nothing may follow

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for the rest."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buf
        if data:
            buf += data
        events: list[Event] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            if self.closed:
                raise self._fail("the server wrote a frame after its close frame", buf, pos)
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise self._fail("the server masked a frame (RFC 6455 5.1)", buf, pos)
            size, head = b1 & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
                if size < 126:
                    raise self._fail("frame length not in its minimal encoding", buf, pos)
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
                if size >> 63:
                    raise self._fail("frame length with the most significant bit set", buf, pos)
                if size < 65536:
                    raise self._fail("frame length not in its minimal encoding", buf, pos)
            if end - pos < head + size:
                break
            payload = bytes(buf[pos + head : pos + head + size])
            self._frame(b0, payload, events, buf, pos)
            pos += head + size
        if pos:
            del buf[:pos]
        return events

    def _fail(self, message: str, buf: Union[bytes, bytearray], pos: int) -> ProtocolError:
        return ProtocolError(message, bytes(buf[pos : pos + 200]))

    def _frame(self, b0: int, payload: bytes, events: list[Event], buf: Any, pos: int) -> None:
        fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
        entry = OPCODES.get(opcode)
        if entry is None:
            raise self._fail(f"reserved opcode {opcode}", buf, pos)
        kind, control = entry
        if control:
            if not fin:
                raise self._fail(f"fragmented {kind} frame", buf, pos)
            if len(payload) > 125:
                raise self._fail(f"{kind} frame of {len(payload)} bytes (max 125)", buf, pos)
            if rsv:
                raise self._fail(f"reserved bits set on a {kind} frame", buf, pos)
            if opcode == CLOSE:
                events.append(("close", self._close(payload, buf, pos)))
                self.closed = True
            else:
                events.append((kind, payload))
            return
        if rsv & RSV_OTHER or (rsv and not self.deflate):
            raise self._fail("reserved bits set without a negotiated extension", buf, pos)
        if opcode == CONTINUATION:
            if self._kind is None:
                raise self._fail("continuation frame without a message to continue", buf, pos)
            if rsv:
                raise self._fail("RSV1 set on a continuation frame", buf, pos)
        else:
            if self._kind is not None:
                raise self._fail(f"new {kind} message inside a fragmented message", buf, pos)
            self._kind = kind
            self._compressed = bool(rsv)
        self._parts.append(payload)
        if not fin:
            return
        parts, self._parts = self._parts, []
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        kind, self._kind = self._kind, None
        if self._compressed:
            data = self._inflate(data, buf, pos)
        if kind == "text":
            try:
                events.append(("text", data.decode("utf-8")))
            except UnicodeDecodeError:
                raise self._fail("text message that is not valid UTF-8", buf, pos) from None
        else:
            events.append(("bytes", data))

    def _inflate(self, data: bytes, buf: Any, pos: int) -> bytes:
        # One decompressor for the session: valid whether or not the server keeps its
        # compression context between messages (a fresh stream never reaches back).
        if self._inflater is None:
            self._inflater = zlib.decompressobj(wbits=-15)
        try:
            return self._inflater.decompress(data + DEFLATE_TAIL)  # type: ignore[no-any-return]
        except zlib.error as error:
            raise self._fail(
                f"compressed message that does not inflate ({error})", buf, pos
            ) from None

    def _close(self, payload: bytes, buf: Any, pos: int) -> tuple[int, str]:
        if not payload:
            return 1005, ""
        if len(payload) == 1:
            raise self._fail("close frame with a 1-byte payload", buf, pos)
        code = struct.unpack_from("!H", payload)[0]
        if not valid_close_code(code):
            raise self._fail(f"close code {code} may not be sent", buf, pos)
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("close reason that is not valid UTF-8", buf, pos) from None
        return code, reason
