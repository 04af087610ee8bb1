"""WebSocket-facing enums (names are the socketify contract; values are ours).

OpCode and SendStatus values are the wire opcodes and the core's sc_ws_send results.
CompressOptions: the low byte picks the compressor (1 shared, 2..9 dedicated 3KB..256KB),
the second byte the decompressor (1 shared, 2..8 dedicated 512B..32KB windows); combine
one of each with ``|`` (see docs/websockets.md and socketify.h).
"""

from __future__ import annotations

from enum import IntEnum


class OpCode(IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class SendStatus(IntEnum):
    BACKPRESSURE = 0
    SUCCESS = 1
    DROPPED = 2


class CompressOptions(IntEnum):
    # Low byte: compressor window, second byte: decompressor window (our own layout);
    # combine one of each with `|` (the result is a plain int).
    DISABLED = 0
    SHARED_COMPRESSOR = 1
    SHARED_DECOMPRESSOR = 1 << 8
    DEDICATED_COMPRESSOR_3KB = 2
    DEDICATED_COMPRESSOR_4KB = 3
    DEDICATED_COMPRESSOR_8KB = 4
    DEDICATED_COMPRESSOR_16KB = 5
    DEDICATED_COMPRESSOR_32KB = 6
    DEDICATED_COMPRESSOR_64KB = 7
    DEDICATED_COMPRESSOR_128KB = 8
    DEDICATED_COMPRESSOR_256KB = 9
    DEDICATED_COMPRESSOR = DEDICATED_COMPRESSOR_256KB
    DEDICATED_DECOMPRESSOR_512B = 2 << 8
    DEDICATED_DECOMPRESSOR_1KB = 3 << 8
    DEDICATED_DECOMPRESSOR_2KB = 4 << 8
    DEDICATED_DECOMPRESSOR_4KB = 5 << 8
    DEDICATED_DECOMPRESSOR_8KB = 6 << 8
    DEDICATED_DECOMPRESSOR_16KB = 7 << 8
    DEDICATED_DECOMPRESSOR_32KB = 8 << 8
    DEDICATED_DECOMPRESSOR = DEDICATED_DECOMPRESSOR_32KB
