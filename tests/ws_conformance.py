"""A WebSocket conformance matrix in the spirit of the Autobahn fuzzing-client cases.

Runs against a server that echoes every message with the same opcode (compressed when
the client negotiated permessage-deflate) on PATH; every case is a raw-socket client
(stdlib only) that checks what comes back, including the close code the server sends
when it must fail the connection.

    python tests/ws_conformance.py --port 9001 [--host 127.0.0.1] [--path /echo]
    python tests/ws_conformance.py --serve      # starts a socketify echo server itself

Prints one line per case (PASS/FAIL and why) and exits 1 when any case failed.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import struct
import sys
import threading
import time
import zlib
from typing import Callable, Optional

Case = Callable[["Client"], None]
TIMEOUT = 3.0


class Closed(Exception):
    pass


class Client:
    """One raw WebSocket connection (masked frames out, frames in)."""

    def __init__(self, host: str, port: int, path: str, deflate: bool = False) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{ext}\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"no 101: {head[:60]!r}")
        self.extensions = ""
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                self.extensions = value.strip()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed()
        self.buf += chunk

    def send(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> None:
        self.sock.sendall(encode(opcode, payload, fin, rsv))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> tuple[int, int, bytes]:
        """The next frame (opcode, rsv, payload); raises Closed at EOF."""
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                size, head = b1 & 0x7F, 2
                if size == 126 and len(self.buf) >= 4:
                    size, head = struct.unpack("!H", self.buf[2:4])[0], 4
                elif size == 127 and len(self.buf) >= 10:
                    size, head = struct.unpack("!Q", self.buf[2:10])[0], 10
                if size < 126 or head > 2:
                    if len(self.buf) >= head + size:
                        payload = self.buf[head : head + size]
                        self.buf = self.buf[head + size :]
                        if not b0 & 0x80:
                            raise AssertionError("the echo server should not fragment")
                        return b0 & 0x0F, b0 & 0x70, payload
            self._fill()

    def expect(self, opcode: int, payload: bytes, rsv: Optional[int] = None) -> None:
        got_op, got_rsv, got = self.recv()
        if got_rsv & 0x40:
            got = zlib.decompressobj(wbits=-15).decompress(got + b"\x00\x00\xff\xff")
        if (got_op, got) != (opcode, payload):
            raise AssertionError(f"expected {opcode}/{payload[:40]!r}, got {got_op}/{got[:40]!r}")
        if rsv is not None and got_rsv != rsv:
            raise AssertionError(f"expected rsv {rsv:#x}, got {got_rsv:#x}")

    def expect_close(self, code: Optional[int]) -> None:
        """The server's close frame carries code (None: no payload), then EOF."""
        while True:
            opcode, _, payload = self.recv()
            if opcode == 8:
                break
            if opcode not in (1, 2, 9, 10):
                raise AssertionError(f"unexpected opcode {opcode}")
        got = struct.unpack("!H", payload[:2])[0] if payload else None
        if got != code:
            raise AssertionError(f"expected close {code}, got {got}")
        try:
            while True:
                self._fill()
        except Closed:
            return
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()


def encode(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    size = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    if size < 126:
        head = bytes([first, 0x80 | size])
    elif size < 65536:
        head = bytes([first, 0x80 | 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, 0x80 | 127]) + struct.pack("!Q", size)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def deflate(data: bytes) -> bytes:
    z = zlib.compressobj(wbits=-15)
    return (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]


# ---- the matrix -----------------------------------------------------------------------------------
CASES: dict[str, tuple[bool, Case]] = {}  # name -> (needs deflate, case)


def case(name: str, deflate_on: bool = False) -> Callable[[Case], Case]:
    def add(fn: Case) -> Case:
        CASES[name] = (deflate_on, fn)
        return fn

    return add


def _echo(op: int, payload: bytes) -> Case:
    def run(c: Client) -> None:
        c.send(op, payload)
        c.expect(op, payload)

    return run


for _size in (0, 125, 126, 127, 65535, 65536, 1 << 20):
    case(f"1.1 text echo {_size} B")(_echo(1, b"*" * _size))
    case(f"1.2 binary echo {_size} B")(
        _echo(2, bytes(range(256)) * (_size // 256) + b"\xfe" * (_size % 256))
    )


def _fail(data: bytes, code: int) -> Case:
    def run(c: Client) -> None:
        c.send_raw(data)
        c.expect_close(code)

    return run


@case("2.1 ping with payload gets the same pong")
def _ping(c: Client) -> None:
    c.send(9, b"Hello, world!")
    c.expect(10, b"Hello, world!")


@case("2.2 ping with 125 bytes of binary payload")
def _ping_125(c: Client) -> None:
    c.send(9, bytes(range(125)))
    c.expect(10, bytes(range(125)))


case("2.3 ping with 126 bytes fails 1002")(_fail(encode(9, b"x" * 126), 1002))


@case("2.4 unsolicited pong is ignored")
def _pong(c: Client) -> None:
    c.send(10, b"unasked")
    c.send(1, b"after")
    c.expect(1, b"after")


@case("2.5 ten pings get ten pongs in order")
def _pings(c: Client) -> None:
    for i in range(10):
        c.send(9, b"%d" % i)
    for i in range(10):
        c.expect(10, b"%d" % i)


@case("5.1 text in three fragments")
def _frag(c: Client) -> None:
    c.send(1, b"frag", fin=False)
    c.send(0, b"men", fin=False)
    c.send(0, b"ted")
    c.expect(1, b"fragmented")


@case("5.2 one-byte fragments with pings between")
def _frag_pings(c: Client) -> None:
    text = b"interleaved"
    for i, byte in enumerate(text):
        c.send(1 if i == 0 else 0, bytes([byte]), fin=i == len(text) - 1)
        c.send(9, b"%d" % i)
    for i in range(len(text) - 1):
        c.expect(10, b"%d" % i)
    c.expect(1, text)  # complete before the last ping arrived
    c.expect(10, b"%d" % (len(text) - 1))


@case("5.3 empty fragments")
def _frag_empty(c: Client) -> None:
    c.send(2, b"", fin=False)
    c.send(0, b"", fin=False)
    c.send(0, b"")
    c.expect(2, b"")


case("5.4 continuation without a message fails 1002")(_fail(encode(0, b"x"), 1002))
case("5.5 new message inside a fragmented one fails 1002")(
    _fail(encode(1, b"a", fin=False) + encode(1, b"b"), 1002)
)
case("5.6 fragmented ping fails 1002")(_fail(encode(9, b"a", fin=False) + encode(0, b"b"), 1002))
case("5.7 fragmented close fails 1002")(_fail(encode(8, b"\x03\xe8", fin=False), 1002))

for _rsv in (0x40, 0x20, 0x10, 0x70):
    case(f"3.{_rsv >> 4} reserved bits {_rsv:#x} without extension fail 1002")(
        _fail(encode(1, b"hi", rsv=_rsv), 1002)
    )
for _op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
    case(f"4.{_op} reserved opcode {_op} fails 1002")(_fail(encode(_op, b""), 1002))

VALID_UTF8 = [
    "κόσμε",
    "\u0080",
    "\u07ff",
    "\u0800",
    "\uffff",
    "\U00010000",
    "\U0010ffff",
    "\ud7ff",
    "\ue000",
    "\ufffd",
]
INVALID_UTF8 = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # surrogate
    b"\xc0\xaf",  # overlong /
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf5",
    b"\xff",
    b"\x80",  # stray continuation
    b"\xc2",  # truncated
    b"\xe2\x82",
    b"\xed\xbf\xbf",
]
for _i, _text in enumerate(VALID_UTF8):
    case(f"6.1.{_i} valid UTF-8 {_text!a}")(_echo(1, _text.encode()))
for _i, _bad in enumerate(INVALID_UTF8):
    case(f"6.2.{_i} invalid UTF-8 {_bad!r} fails 1007")(_fail(encode(1, _bad), 1007))


@case("6.3 invalid UTF-8 split across fragments fails fast with 1007")
def _utf8_split(c: Client) -> None:
    c.send(1, "κόσμε".encode(), fin=False)
    c.send(0, b"\xed\xa0\x80", fin=False)  # no final fragment: fail on this one
    c.expect_close(1007)


@case("6.4 valid UTF-8 split inside a code point")
def _utf8_cut(c: Client) -> None:
    data = "€uro".encode()
    c.send(1, data[:2], fin=False)
    c.send(0, data[2:])
    c.expect(1, data)


def _close_echo(code: int, reason: bytes = b"") -> Case:
    def run(c: Client) -> None:
        c.send(8, struct.pack("!H", code) + reason)
        c.expect_close(code)

    return run


case("7.1 close 1000 is echoed")(_close_echo(1000))
case("7.2 close with a reason")(_close_echo(1000, b"Hello World!"))
case("7.3 close reason of 123 bytes")(_close_echo(1000, b"*" * 123))
for _code in (1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
    case(f"7.7 close code {_code} is echoed")(_close_echo(_code))
for _code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    case(f"7.9 invalid close code {_code} fails 1002")(
        _fail(encode(8, struct.pack("!H", _code)), 1002)
    )
case("7.3.1 empty close gets an empty close")(_fail(encode(8, b""), None))  # type: ignore[arg-type]
case("7.3.2 one-byte close payload fails 1002")(_fail(encode(8, b"\x03"), 1002))
case("7.5 close reason not UTF-8 fails 1007")(
    _fail(
        encode(8, b"\x03\xe8" + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), 1007
    )
)


@case("7.6 data after close is ignored")
def _after_close(c: Client) -> None:
    c.send_raw(encode(8, b"\x03\xe8") + encode(1, b"ignored") + encode(9, b"ignored"))
    c.expect_close(1000)


# a header announcing 17 MiB (past the server's 16 MiB) fails before any payload arrives
case("9.1 message over max_payload_length fails 1009")(
    _fail(bytes([0x82, 0xFF]) + struct.pack("!Q", 17 << 20) + b"mask", 1009)
)
case("9.2 fragments summing past max_payload_length fail 1009")(
    _fail(
        encode(2, b"x" * 100, fin=False)
        + bytes([0x00, 0xFF])
        + struct.pack("!Q", 16 << 20)
        + b"mask",
        1009,
    )
)


@case("12.1 compressed text echo", deflate_on=True)
def _z_text(c: Client) -> None:
    assert c.extensions.startswith("permessage-deflate"), c.extensions
    text = ("Hello compressed world " * 100).encode()
    c.send(1, deflate(text), rsv=0x40)
    c.expect(1, text, rsv=0x40)


@case("12.2 compressed binary, many sizes", deflate_on=True)
def _z_sizes(c: Client) -> None:
    for size in (0, 1, 16, 1000, 65536, 1 << 18):
        data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        c.send(2, deflate(data), rsv=0x40)
        c.expect(2, data)


@case("12.3 compressed message in fragments", deflate_on=True)
def _z_frag(c: Client) -> None:
    text = ("fragment me " * 300).encode()
    packed = deflate(text)
    third = len(packed) // 3
    c.send(1, packed[:third], fin=False, rsv=0x40)
    c.send(0, packed[third : 2 * third], fin=False)
    c.send(0, packed[2 * third :])
    c.expect(1, text)


@case("12.4 uncompressed message on a deflate connection", deflate_on=True)
def _z_plain(c: Client) -> None:
    c.send(1, b"plain")
    c.expect(1, b"plain")


case("13.1 RSV1 on a continuation fails 1002", deflate_on=True)(
    _fail(encode(1, deflate(b"ab"), fin=False, rsv=0x40) + encode(0, b"", rsv=0x40), 1002)
)
case("13.2 RSV1 on a ping fails 1002", deflate_on=True)(_fail(encode(9, b"", rsv=0x40), 1002))
case("13.3 invalid deflate data fails 1007", deflate_on=True)(
    _fail(encode(2, b"\xff\xff\xff\xff", rsv=0x40), 1007)
)
case("13.4 compressed invalid UTF-8 fails 1007", deflate_on=True)(
    _fail(encode(1, deflate(b"\xc0\xaf"), rsv=0x40), 1007)
)


# ---- running --------------------------------------------------------------------------------------
def run_cases(host: str, port: int, path: str = "/echo") -> dict[str, Optional[str]]:
    """Run every case; name -> None (pass) or the failure message."""
    results: dict[str, Optional[str]] = {}
    for name, (deflate_on, fn) in CASES.items():
        client = None
        try:
            client = Client(host, port, path, deflate_on)
            fn(client)
            results[name] = None
        except Exception as exc:  # every failure is reported, none stops the run
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            if client is not None:
                client.close()
    return results


def echo_app():  # type: ignore[no-untyped-def]
    """The socketify echo server the matrix expects."""
    from socketify import App, CompressOptions

    return App().ws(
        "/echo",
        {
            "compression": CompressOptions.SHARED_COMPRESSOR,
            "max_payload_length": 16 << 20,
            "message": lambda ws, message, opcode: ws.send(message, opcode, compress=True),
        },
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--path", default="/echo")
    parser.add_argument("--serve", action="store_true", help="start a socketify echo server")
    args = parser.parse_args()
    app = None
    if args.serve:
        ports: list[int] = []
        app = echo_app()
        app.listen({"port": 0, "host": args.host}, lambda config: ports.append(config.port))
        threading.Thread(target=app.run, daemon=True).start()
        time.sleep(0.2)
        args.port = ports[0]
    results = run_cases(args.host, args.port, args.path)
    for name, failure in results.items():
        print(
            f"{'PASS' if failure is None else 'FAIL'}  {name}"
            + (f"  ({failure})" if failure else "")
        )
    failed = sum(1 for failure in results.values() if failure is not None)
    print(f"{len(results) - failed} passed, {failed} failed")
    if app is not None:
        app.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
