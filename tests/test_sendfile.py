"""Files sent by the core (sc_res_sendfile): sendfile(2) on a plain socket, pread + the
layer's write over TLS and the memory transport, through real sockets and the TestClient.

The server runs in a subprocess (test_hostile_clients.Server) so its descriptors and RSS are
its own; ``/facts`` reports them with the core's file counters.  Leak checks compare repeated
equal rounds: a descriptor kept per aborted file shows as growth from round to round.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_hostile_clients import (
    LINGER_RST,
    MIB,
    Server,
    read_response,
    recv_some,
    servers_of,
    wait_until,
)
from tls_support import Certs, body_of, https_get, listen_port, make_certs, serving

from socketify import App, AppOptions
from socketify.static import static
from socketify_testing import TestClient

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and uses the epoll core"
)

SANITIZED = os.environ.get("SOCKETIFY_SANITIZE") == "1"
BIG = 8 * MIB + 5  # far past static.CHUNK: handed to the core
HUGE = 48 * MIB  # what a crowd of non-readers asks for

SERVER = r"""
import gc, json, os, sys
from socketify import App, AppOptions

settings = json.loads(sys.argv[1])
root = settings.pop("_root")
tls = settings.pop("_tls", None)
app = App(AppOptions(**tls), **settings) if tls else App(**settings)
app.static("/files", root)


def facts(res, req):
    gc.collect()
    stats = app.stats()
    res.end({
        "fds": len(os.listdir("/proc/self/fd")),
        "open": stats["connections_open"],
        "sendfile": stats["file_bytes_sendfile"],
        "copied": stats["file_bytes_copied"],
    })

app.get("/facts", facts)
app.listen(0, lambda config: print("PORT", config.port, flush=True))
app.run()
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


@pytest.fixture(scope="module")
def www(tmp_path_factory: Any) -> Path:
    root = tmp_path_factory.mktemp("www")
    (root / "big.bin").write_bytes(os.urandom(BIG))
    (root / "small.txt").write_bytes(b"small file\n")
    with open(root / "huge.bin", "wb") as f:  # sparse: cheap to make, read as zeros
        f.truncate(HUGE)
    return root


@pytest.fixture
def serve(tmp_path: Path, www: Path) -> Iterator[Any]:
    starts = servers_of(tmp_path, SERVER)
    start = next(starts)

    def with_root(**settings: Any) -> Server:
        return start(_root=str(www), **settings)

    yield with_root
    next(starts, None)


def facts(server: Server) -> dict[str, int]:
    with server.connect() as sock:
        sock.sendall(b"GET /facts HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = read_response(sock, time.monotonic() + 10)
        assert status == 200
        return json.loads(body)


def read_head(sock: socket.socket, carry: bytearray) -> dict[str, str]:
    """The head of a HEAD answer (no body follows it); bytes after it stay in carry."""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in carry:
        carry += recv_some(sock, deadline)
    end = carry.index(b"\r\n\r\n")
    lines = carry[:end].decode("latin-1").split("\r\n")
    del carry[: end + 4]
    assert lines[0].startswith("HTTP/1.1 200"), lines
    return {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}


def fetch(server: Server, request: bytes) -> tuple[int, bytes, bytes]:
    with server.connect(timeout=20) as sock:
        sock.sendall(request)
        return read_response(sock, time.monotonic() + 30)


# ---- plain sockets: sendfile(2) -----------------------------------------------------------
def test_large_file_leaves_by_sendfile_and_small_ones_in_one_write(serve: Any, www: Path) -> None:
    server = serve()
    status, head, body = fetch(server, b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 200
    assert head["content-length"] == str(BIG)
    assert hashlib.sha256(body).digest() == hashlib.sha256((www / "big.bin").read_bytes()).digest()
    after = facts(server)
    assert after["sendfile"] == BIG and after["copied"] == 0
    status, _, body = fetch(server, b"GET /files/small.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert (status, body) == (200, b"small file\n")
    assert facts(server)["sendfile"] == BIG  # a small file goes with its head in one end()


def test_head_range_304_and_full_file_pipelined_on_one_connection(serve: Any, www: Path) -> None:
    """Four requests sent at once: each answer follows the file queued before it."""
    server = serve()
    blob = (www / "big.bin").read_bytes()
    with server.connect() as sock:
        sock.sendall(b"HEAD /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        etag = read_head(sock, bytearray())["etag"].encode()
    requests = (
        b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100000-399999\r\n\r\n"
        b"HEAD /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + etag + b"\r\n\r\n"
        b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    with server.connect(timeout=20) as sock:
        sock.sendall(requests)
        deadline = time.monotonic() + 30
        carry = bytearray()
        s206, h206, b206 = read_response(sock, deadline, carry)
        head = read_head(sock, carry)
        s304, _, b304 = read_response(sock, deadline, carry)
        s200, _, b200 = read_response(sock, deadline, carry)
    assert s206 == 206 and b206 == blob[100000:400000]
    assert h206["content-range"] == f"bytes 100000-399999/{BIG}"
    assert head["content-length"] == str(BIG) and head["etag"] == etag.decode()
    assert (s304, b304) == (304, b"")
    assert s200 == 200 and b200 == blob
    assert facts(server)["sendfile"] == 300000 + BIG  # HEAD and 304 never read the file


def test_client_that_stops_reading_holds_no_memory(serve: Any) -> None:
    """Non-readers of a 48 MiB file: the server sends what the sockets take and waits.  Its
    RSS while they wait is flat across equal rounds and far under what the crowd asked for
    (the whole file read into memory would be 6 x 48 MiB)."""
    server = serve()
    clients = 6
    baseline = server.rss()

    def round_of() -> tuple[int, int]:
        start = facts(server)["sendfile"]
        socks = []
        for _ in range(clients):
            sock = server.connect()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /files/huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            socks.append(sock)
        assert wait_until(lambda: facts(server)["sendfile"] > start, 10)
        sent = -1
        while True:  # until the server stops making progress: every socket is full
            time.sleep(0.2)
            now = facts(server)["sendfile"] - start
            if now == sent:
                break
            sent = now
        held = server.rss()
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            sock.close()
        assert wait_until(lambda: facts(server)["open"] == 1, 10)
        return held, sent

    rounds = [round_of() for _ in range(4)]
    # backpressure: most was never sent (what the kernel's socket buffers can take is
    # allowed for: a host tuned for large buffers takes more before the sockets are full)
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    per_client = min(HUGE, max(HUGE // 4, 2 * wmem + MIB))
    for _, sent in rounds:
        assert 0 < sent < clients * per_client, (rounds, wmem)
    if not SANITIZED:  # ASan's quarantine keeps freed memory
        assert rounds[0][0] - baseline < HUGE // 2, (baseline, rounds)
        # equal rounds after the first (a warming PyPy heap settles there): flat.  The
        # bound is in the bytes a round sends (what the host's socket buffers let through):
        # keeping a quarter of them per round grows rounds 2 and 3 by half a round's bytes;
        # never under 4 MiB, the RSS noise of a heap and its allocator arenas (a host with
        # small socket buffers sends little a round), never over 8 MiB (a host with large
        # ones sends much, which sendfile keeps out of the process: no more noise)
        per_round = min(sent for _, sent in rounds[2:])
        bound = min(max(per_round // 2, 4 * MIB), 8 * MIB)
        assert rounds[3][0] - rounds[1][0] < bound, (rounds, bound)


def reset_rounds(facts_of: Any, connect: Any, rounds: int = 3, clients: int = 8) -> list[int]:
    """Clients that reset after the first bytes of the big file; the server's descriptor
    count after each round (a descriptor left per aborted file grows it by `clients`)."""
    counts = []
    for _ in range(rounds):
        for _ in range(clients):
            sock = connect()
            sock.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            got = 0
            while got < 64 * 1024:  # past the head: the file is being sent
                chunk = sock.recv(65536)
                assert chunk, "closed before the file"
                got += len(chunk)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            sock.close()
        assert wait_until(lambda: facts_of()["open"] == 1, 10)
        counts.append(facts_of()["fds"])
    return counts


def test_client_reset_mid_file_leaks_no_descriptor(serve: Any) -> None:
    server = serve()
    baseline = facts(server)["fds"]
    counts = reset_rounds(lambda: facts(server), server.connect)
    assert counts == [baseline] * len(counts), (baseline, counts)
    assert facts(server)["sendfile"] > 0  # (how much left before the resets is the kernel's)


def test_client_reset_mid_file_over_tls_leaks_no_descriptor(serve: Any, certs: Certs) -> None:
    server = serve(
        _tls={"key_file_name": str(certs.server_key), "cert_file_name": str(certs.server_cert)}
    )
    ctx = certs.client_context()

    def connect() -> ssl.SSLSocket:
        return ctx.wrap_socket(server.connect(), server_hostname="localhost")

    def tls_facts() -> dict[str, int]:
        data, tls = https_get(server.port, ctx, "/facts")
        tls.close()
        return dict(json.loads(body_of(data)))

    baseline = tls_facts()["fds"]
    counts = reset_rounds(tls_facts, connect)
    assert counts == [baseline] * len(counts), (baseline, counts)
    after = tls_facts()
    assert after["sendfile"] == 0 and after["copied"] > 0  # read and encrypted in the core


def test_idle_timeout_closes_a_stalled_file_and_its_descriptor(serve: Any) -> None:
    """The server side closes (idle timeout) under a file nobody reads: descriptor freed."""
    server = serve(idle_timeout=1)
    baseline = facts(server)["fds"]
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /files/huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    assert wait_until(lambda: facts(server)["sendfile"] > 0, 10)
    assert wait_until(lambda: facts(server)["open"] == 1, 15)  # the server closed it
    assert facts(server)["fds"] == baseline
    sock.close()


# ---- TLS: pread + SSL_write in the core ----------------------------------------------------
def test_files_over_tls_are_read_and_encrypted_by_the_core(certs: Certs, www: Path) -> None:
    app = App(
        AppOptions(key_file_name=str(certs.server_key), cert_file_name=str(certs.server_cert))
    )
    static(app, "/files", str(www))
    port = listen_port(app)
    blob = (www / "big.bin").read_bytes()
    with serving(app):
        ctx = certs.client_context()
        data, _ = https_get(port, ctx, "/files/big.bin")
        assert hashlib.sha256(body_of(data)).digest() == hashlib.sha256(blob).digest()
        data, _ = https_get(port, ctx, "/files/big.bin", extra=b"Range: bytes=70000-3000000\r\n")
        assert data.startswith(b"HTTP/1.1 206") and body_of(data) == blob[70000:3000001]
        stats = app.stats()  # read while serving (a closed app reports zeros)
        assert stats["file_bytes_sendfile"] == 0  # no kernel TLS here: never sendfile(2)
        assert stats["file_bytes_copied"] == BIG + 3000001 - 70000


# ---- the TestClient: the memory transport ---------------------------------------------------
def test_testclient_gets_files_through_the_memory_layer(www: Path) -> None:
    app = App()
    static(app, "/files", str(www))
    blob = (www / "big.bin").read_bytes()
    with TestClient(app) as client:
        response = client.get("/files/big.bin")
        assert response.status_code == 200 and response.content == blob
        response = client.get("/files/big.bin", headers={"Range": "bytes=-200000"})
        assert response.status_code == 206 and response.content == blob[-200000:]
        response = client.head("/files/big.bin")
        assert response.headers["content-length"] == str(BIG) and response.content == b""
        stats = app.stats()
        assert stats["file_bytes_copied"] == BIG + 200000 and stats["file_bytes_sendfile"] == 0


def test_asgi_pathsend_and_wsgi_file_wrapper_through_the_testclient(www: Path) -> None:
    from socketify import ASGI, WSGI

    target = www / "big.bin"
    blob = target.read_bytes()

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(target)})

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        file = open(target, "rb")
        file.seek(BIG - 300000)
        return environ["wsgi.file_wrapper"](file)

    served = ASGI(asgi_app, lifespan="off")
    with TestClient(served) as client:
        response = client.get("/")
        assert response.content == blob and response.headers["content-length"] == str(BIG)
        assert client.head("/").content == b""
        assert served.stats()["file_bytes_copied"] == BIG  # HEAD never read the file
    wsgi = WSGI(wsgi_app)
    with TestClient(wsgi) as client:
        assert client.get("/").content == blob[-300000:]
        assert wsgi.stats()["file_bytes_copied"] == 300000
