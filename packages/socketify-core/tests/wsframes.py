"""Raw WebSocket frames for the core's tests: masked client frames in, server frames out.

``Peer`` is one client on the memory transport: it sends the upgrade request, keeps what
followed the 101, and parses the unmasked frames the server writes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib
from typing import Any, Optional

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(
    opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0
) -> bytes:
    """A client frame (masked unless mask=False); rsv: 0x40 RSV1, 0x20, 0x10."""
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 65536:
        head = bytes([first, bit | 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: Optional[int] = 1000, reason: bytes = b"") -> bytes:
    return frame(8, b"" if code is None else struct.pack("!H", code) + reason)


def deflate(data: bytes) -> bytes:
    """permessage-deflate payload of a whole message (no context takeover)."""
    z = zlib.compressobj(wbits=-15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data: bytes, z: Any = None) -> bytes:
    z = z or zlib.decompressobj(wbits=-15)
    return z.decompress(data + b"\x00\x00\xff\xff")  # type: ignore[no-any-return]


def parse_frames(data: bytes) -> tuple[list[tuple[bool, int, int, bytes]], bytes]:
    """Server frames (fin, rsv, opcode, payload) from data, and the incomplete rest."""
    frames = []
    pos = 0
    while len(data) - pos >= 2:
        b0, b1 = data[pos], data[pos + 1]
        assert not b1 & 0x80, "server frames are never masked"
        size, head = b1 & 0x7F, 2
        if size == 126:
            if len(data) - pos < 4:
                break
            size, head = struct.unpack("!H", data[pos + 2 : pos + 4])[0], 4
        elif size == 127:
            if len(data) - pos < 10:
                break
            size, head = struct.unpack("!Q", data[pos + 2 : pos + 10])[0], 10
        if len(data) - pos < head + size:
            break
        payload = data[pos + head : pos + head + size]
        frames.append((bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, payload))
        pos += head + size
    return frames, data[pos:]


def upgrade_request(path: str = "/ws", key: Optional[str] = None, headers: Any = ()) -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: test",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Peer:
    """A WebSocket client on a memory connection of ``wire`` (conftest's Wire)."""

    def __init__(self, wire: Any, path: str = "/ws", headers: Any = (), spin: bool = True):
        self.wire = wire
        self.conn = wire.connect()
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.conn.feed(upgrade_request(path, self.key, headers))
        if spin:
            wire.until(lambda: b"\r\n\r\n" in self._peek())
        raw = self._take()
        head, _, self.rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0] else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self._pending = b""

    def _peek(self) -> bytes:
        self._buffer = getattr(self, "_buffer", b"") + self.conn.read()
        return self._buffer

    def _take(self) -> bytes:
        data = self._peek()
        self._buffer = b""
        return data

    def send(self, *args: Any, **kw: Any) -> None:
        self.conn.feed(frame(*args, **kw))

    def send_raw(self, data: bytes) -> None:
        self.conn.feed(data)

    def frames(self, count: int = 0, timeout: float = 2.0) -> list[tuple[bool, int, int, bytes]]:
        """Frames written so far; with count, wait (spinning the loop) for that many."""
        found: list[tuple[bool, int, int, bytes]] = []

        def more() -> bool:
            data = self._pending + self.rest + self.conn.read()
            self.rest = b""
            parsed, self._pending = parse_frames(data)
            found.extend(parsed)
            return len(found) >= count

        if count:
            self.wire.until(more, timeout)
        else:
            more()
        return found

    def close_code(self, frames: list[tuple[bool, int, int, bytes]]) -> Optional[int]:
        for _, _, opcode, payload in frames:
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if payload else 1005
        return None
