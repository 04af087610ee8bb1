"""WebSockets over TLS (wss://, with permessage-deflate, pub/sub) and files over TLS.

The ``websockets`` client speaks wss to the core's TLS layer; ``sendfile``/``static`` send
large files through it in bounded chunks with backpressure (read, encrypt, write).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_support import Certs, body_of, https_get, listen_port, make_certs, serving

# The asyncio client: one thread drives each TLS connection (the sync client reads in a
# thread of its own while the test thread writes, and now and then misses the handshake
# answer over TLS 1.3, a client-side race a raw ssl client never shows against this server).
from websockets.asyncio.client import connect

from socketify import App, AppOptions, CompressOptions, OpCode
from socketify.static import static

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the epoll core and the openssl CLI"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


def tls_app(certs: Certs) -> App:
    return App(
        AppOptions(key_file_name=str(certs.server_key), cert_file_name=str(certs.server_cert))
    )


def test_wss_with_permessage_deflate(certs):
    app = tls_app(certs)
    seen: list[Any] = []

    def on_open(ws: Any) -> None:
        seen.append((ws.is_secure(), ws.get_alpn_protocol()))

    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.send(message, opcode, compress=True)

    app.ws(
        "/echo",
        {
            "compression": CompressOptions.SHARED_COMPRESSOR,
            "max_payload_length": 4 * 1024 * 1024,
            "open": on_open,
            "message": on_message,
        },
    )
    port = listen_port(app)
    big_text = "socketify over TLS " * 50_000  # ~950 KB, compressible
    big_binary = os.urandom(300_000)

    async def client() -> None:
        url = f"wss://localhost:{port}/echo"
        async with connect(
            url, ssl=certs.client_context(), ping_interval=None, max_size=None
        ) as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert "permessage-deflate" in extensions
            for message in ("hi", big_text, big_binary, b"", "last"):
                await ws.send(message)
                assert await asyncio.wait_for(ws.recv(), 20) == message

    with serving(app):
        asyncio.run(client())
    assert seen == [(True, None)]  # the websockets client offers no ALPN


def test_wss_pubsub_between_clients(certs):
    app = tls_app(certs)

    def on_open(ws: Any) -> None:
        ws.subscribe("room")

    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        ws.publish("room", message, opcode)

    app.ws("/room", {"open": on_open, "message": on_message, "max_payload_length": 1 << 20})
    port = listen_port(app)

    async def clients() -> None:
        ctx = certs.client_context()
        url = f"wss://localhost:{port}/room"
        async with connect(url, ssl=ctx, ping_interval=None, max_size=None) as a:
            async with connect(url, ssl=ctx, ping_interval=None, max_size=None) as b:
                deadline = time.monotonic() + 10
                while app.num_subscribers("room") < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                await a.send("from a")
                assert await asyncio.wait_for(b.recv(), 10) == "from a"
                await b.send(b"\x00\x01 from b")
                assert await asyncio.wait_for(a.recv(), 10) == b"\x00\x01 from b"
                # a large message: one frame shared by the subscribers (published once),
                # encrypted per connection by each one's TLS layer
                big = os.urandom(200_000)
                await a.send(big)
                assert await asyncio.wait_for(b.recv(), 20) == big

    with serving(app):
        asyncio.run(clients())


def test_static_files_over_tls(certs, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    blob = os.urandom(6 * 1024 * 1024 + 123)  # far past one chunk: streamed with backpressure
    (root / "big.bin").write_bytes(blob)
    (root / "small.txt").write_text("small file")
    app = tls_app(certs)
    static(app, "/files", str(root))
    port = listen_port(app)
    with serving(app):
        ctx = certs.client_context()
        data, _ = https_get(port, ctx, "/files/small.txt")
        assert body_of(data) == b"small file"
        data, _ = https_get(port, ctx, "/files/big.bin")
        assert hashlib.sha256(body_of(data)).digest() == hashlib.sha256(blob).digest()
        data, _ = https_get(port, ctx, "/files/big.bin", extra=b"Range: bytes=1000-1999\r\n")
        assert data.startswith(b"HTTP/1.1 206") and body_of(data) == blob[1000:2000]


def test_slow_reader_of_a_large_file_over_tls(certs, tmp_path):
    """A client that reads slowly: the file still arrives whole, and the connection
    closes cleanly after (backpressure through the TLS layer, nothing lost or doubled)."""
    root = tmp_path / "www"
    root.mkdir()
    blob = os.urandom(3 * 1024 * 1024)
    (root / "f.bin").write_bytes(blob)
    app = tls_app(certs)
    static(app, "/f", str(root))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        tls = certs.client_context().wrap_socket(raw, server_hostname="localhost")
        tls.sendall(b"GET /f/f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = b""
        pauses = 0
        while True:
            try:
                chunk = tls.recv(32768)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            got += chunk
            if pauses < 20:  # slow at first: the server's socket buffer fills
                time.sleep(0.02)
                pauses += 1
        tls.close()
        assert body_of(got) == blob


def test_ws_binary_opcode_and_close_over_tls(certs):
    closed: list[int] = []
    app = tls_app(certs)
    app.ws(
        "/x",
        {
            "message": lambda ws, m, op: ws.send(m, OpCode.BINARY),
            "close": lambda ws, code, msg: closed.append(code),
        },
    )
    port = listen_port(app)

    async def client() -> None:
        url = f"wss://localhost:{port}/x"
        async with connect(url, ssl=certs.client_context(), ping_interval=None) as ws:
            await ws.send("text in")
            assert await asyncio.wait_for(ws.recv(), 10) == b"text in"

    with serving(app):
        asyncio.run(client())
        deadline = time.monotonic() + 10
        while not closed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert closed == [1000]
