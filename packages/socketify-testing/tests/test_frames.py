"""The client's RFC 6455 byte level: handshake keys, masked frames out, strict reader in."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from socketify_testing import ProtocolError
from socketify_testing._frames import (
    FrameReader,
    accept_for,
    apply_mask,
    close_payload,
    encode_frame,
    new_key,
    valid_close_code,
)


def server_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def unmask(frame: bytes) -> tuple[int, int, bytes]:
    """(first byte, payload length, unmasked payload) of a masked client frame."""
    size, pos = frame[1] & 0x7F, 2
    assert frame[1] & 0x80, "client frames are masked"
    if size == 126:
        size, pos = struct.unpack_from("!H", frame, 2)[0], 4
    elif size == 127:
        size, pos = struct.unpack_from("!Q", frame, 2)[0], 10
    key = frame[pos : pos + 4]
    payload = frame[pos + 4 :]
    assert len(payload) == size
    return frame[0], size, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_accept_matches_the_rfc_example() -> None:
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_new_key_is_16_random_bytes() -> None:
    first, second = new_key(), new_key()
    assert len(base64.b64decode(first)) == 16 and first != second


@pytest.mark.parametrize("size", [0, 1, 5, 125, 126, 65535, 65536])
def test_encode_frame_masks_every_length_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = encode_frame(2, payload)
    first, length, data = unmask(frame)
    assert first == 0x82 and length == size and data == payload


def test_encode_frame_flags_and_unmasked_option() -> None:
    assert encode_frame(1, b"hi", fin=False, rsv=0x40, mask=False) == b"\x41\x02hi"
    assert unmask(encode_frame(0, b"x"))[0] == 0x80


def test_apply_mask_is_its_own_inverse() -> None:
    key = b"\x01\x02\x03\x04"
    assert apply_mask(apply_mask(b"hello world", key), key) == b"hello world"
    assert apply_mask(b"", key) == b""


def test_reader_parses_messages_fed_byte_by_byte() -> None:
    reader = FrameReader()
    data = server_frame(1, "héllo".encode()) + server_frame(2, b"\x00" * 300)
    events = []
    for i in range(len(data)):
        events += reader.feed(data[i : i + 1])
    assert events == [("text", "héllo"), ("bytes", b"\x00" * 300)]
    assert reader.buffered == 0


def test_reader_reassembles_fragments_with_a_ping_between() -> None:
    reader = FrameReader()
    data = (
        server_frame(1, b"ab", fin=False)
        + server_frame(9, b"p")
        + server_frame(0, b"cd", fin=False)
        + server_frame(0, b"ef")
    )
    assert reader.feed(data) == [("ping", b"p"), ("text", "abcdef")]


def test_reader_keeps_an_incomplete_frame() -> None:
    reader = FrameReader()
    frame = server_frame(2, b"x" * 70000)
    assert reader.feed(frame[:1000]) == []
    assert reader.buffered == 1000
    assert reader.feed(frame[1000:]) == [("bytes", b"x" * 70000)]


def test_reader_close_frames() -> None:
    assert FrameReader().feed(server_frame(8)) == [("close", (1005, ""))]
    payload = close_payload(4001, "bye ✓".encode())
    assert FrameReader().feed(server_frame(8, payload)) == [("close", (4001, "bye ✓"))]


def test_reader_inflates_permessage_deflate() -> None:
    compressor = zlib.compressobj(wbits=-15)
    body = compressor.compress(b"hello " * 50) + compressor.flush(zlib.Z_SYNC_FLUSH)
    reader = FrameReader(deflate=True)
    half = len(body[:-4]) // 2
    data = server_frame(1, body[:half], fin=False, rsv=0x40) + server_frame(0, body[half:-4])
    assert reader.feed(data) == [("text", "hello " * 50)]


def test_valid_close_codes() -> None:
    assert all(valid_close_code(c) for c in (1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999))
    assert not any(valid_close_code(c) for c in (999, 1004, 1005, 1006, 1015, 2000, 5000))


BROKEN = [
    (b"\x81\x82abcdxy", "masked"),
    (server_frame(3), "reserved opcode 3"),
    (server_frame(11), "reserved opcode 11"),
    (server_frame(1, b"x", rsv=0x40), "reserved bits"),
    (server_frame(1, b"x", rsv=0x20), "reserved bits"),
    (b"\x82\x7e\x00\x05hello", "minimal encoding"),
    (b"\x82\x7f" + struct.pack("!Q", 5) + b"hello", "minimal encoding"),
    (b"\x82\x7f" + struct.pack("!Q", 1 << 63), "most significant bit"),
    (server_frame(9, b"x", fin=False), "fragmented ping frame"),
    (server_frame(10, b"x" * 126), "pong frame of 126 bytes"),
    (server_frame(9, b"x", rsv=0x40), "reserved bits set on a ping"),
    (server_frame(0, b"x"), "continuation frame without a message"),
    (server_frame(1, b"a", fin=False) + server_frame(2, b"b"), "new bytes message inside"),
    (server_frame(1, b"\xff\xfe"), "not valid UTF-8"),
    (server_frame(8, b"\x03"), "1-byte payload"),
    (server_frame(8, struct.pack("!H", 1005)), "close code 1005"),
    (server_frame(8, struct.pack("!H", 1000) + b"\xff"), "close reason"),
    (server_frame(8) + server_frame(1, b"late"), "after its close frame"),
]


@pytest.mark.parametrize(("data", "message"), BROKEN, ids=[m for _, m in BROKEN])
def test_reader_refuses_broken_frames(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        FrameReader().feed(data)
    assert caught.value.data  # the error quotes the frame


def test_reader_refuses_rsv1_on_a_continuation_and_bad_deflate() -> None:
    reader = FrameReader(deflate=True)
    bad = server_frame(1, b"a", fin=False, rsv=0x40) + server_frame(0, b"b", rsv=0x40)
    with pytest.raises(ProtocolError, match="RSV1 set on a continuation"):
        reader.feed(bad)
    with pytest.raises(ProtocolError, match="does not inflate"):
        FrameReader(deflate=True).feed(server_frame(2, b"\xff\xff\xff", rsv=0x40))
