"""The embedded relay's frames, on the Unix socket pair between a worker and the supervisor.

Every frame is a 7-byte header, ``!IBH`` = (body length, kind, topic length), then the body:
the topic, then the message.  Kinds:

    0x01 TEXT, 0x02 BINARY      a published message (| 0x80: the publisher asked to compress)
    0x10 SUB, 0x11 UNSUB        the sender's process gained / lost local interest in topic

The relay forwards a published frame as it is (its bytes are not rebuilt).  A frame whose
length or kind is wrong is a ``RelayProtocolError``: the peer is broken, the pair is closed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from ..errors import RelayProtocolError

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "SUB",
    "UNSUB",
    "RelayProtocolError",
    "encode",
    "frames",
    "messages",
]

HEADER = struct.Struct("!IBH")
SUB, UNSUB = 0x10, 0x11
COMPRESS = 0x80
MAX_FRAME = 256 * 1024 * 1024  # a body larger than this is a broken peer, not a message
MAX_TOPIC = 0xFFFF
_KINDS = frozenset((1, 2, 1 | COMPRESS, 2 | COMPRESS, SUB, UNSUB))
_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
_HLEN = HEADER.size


def encode(kind: int, topic: bytes, message: bytes = b"") -> bytes:
    if len(topic) > MAX_TOPIC:
        raise ValueError(f"a topic carried by the relay is at most {MAX_TOPIC} bytes")
    return _pack(len(topic) + len(message), kind, len(topic)) + topic + message


def _bad(size: int, kind: int, tlen: int) -> RelayProtocolError:
    return RelayProtocolError(
        f"bad relay frame: kind {kind:#x}, body {size} bytes, topic {tlen} bytes"
    )


def messages(buf: bytearray) -> list[tuple[int, bytes, bytes]]:
    """The complete frames at the start of ``buf`` as (kind, topic, message), removed from
    ``buf``; the receiving worker's side (PERF: one copy of each topic and message)."""
    out = []
    pos = 0
    end = len(buf)
    with memoryview(buf) as view:
        while end - pos >= _HLEN:
            size, kind, tlen = _unpack_from(view, pos)
            if size > MAX_FRAME or tlen > size or kind not in _KINDS:
                raise _bad(size, kind, tlen)
            stop = pos + _HLEN + size
            if stop > end:
                break
            body = pos + _HLEN + tlen
            out.append((kind, bytes(view[pos + _HLEN : body]), bytes(view[body:stop])))
            pos = stop
    del buf[:pos]
    return out


def frames(buf: bytearray) -> Iterator[tuple[int, bytes, bytes]]:
    """Complete frames at the start of ``buf`` as (kind, topic, frame bytes); consumed bytes
    are removed from ``buf`` when the iteration ends."""
    pos = 0
    end = len(buf)
    try:
        while end - pos >= _HLEN:
            size, kind, tlen = _unpack_from(buf, pos)
            if size > MAX_FRAME or tlen > size or kind not in _KINDS:
                raise _bad(size, kind, tlen)
            stop = pos + _HLEN + size
            if stop > end:
                break
            frame = bytes(buf[pos:stop])
            pos = stop
            yield kind, frame[_HLEN : _HLEN + tlen], frame
    finally:
        del buf[:pos]
