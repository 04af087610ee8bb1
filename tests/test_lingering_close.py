"""Lingering close: an early answer to an upload reaches clients that send it all first.

http.client and requests write the whole body before they read anything.  When the server
answers early (413 for a body over max_body_size, a handler's 403 that closes the
connection) and closes at once, the kernel resets the connection because unread upload
bytes are still arriving, and the client reports a reset instead of the answer.  The core
shuts down its sending side and reads and drops input first (lingering_timeout,
max_lingering_bytes), as nginx and Go's net/http do.
"""

from __future__ import annotations

import http.client
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_hostile_clients import MIB, Server, servers_of, wait_closed, wait_until

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and uses the epoll core"
)

SERVER = r"""
import json, sys
from socketify import App

app = App(**json.loads(sys.argv[1]))
app.post("/forbidden", lambda res, req: res.write_status(403).end("forbidden", True))
app.post("/ok", lambda res, req: res.end("ok"))
app.listen(0, lambda config: print("PORT", config.port, flush=True))
app.run()
"""

BODY = b"u" * (20 * MIB)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    yield from servers_of(tmp_path, SERVER)


def settled_fds(server: Server) -> int:
    """The server's descriptors after one request (its event loop is fully set up)."""
    with server.connect() as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        held = server.fds()  # counted while the answered connection is open for sure
    # the server closed its side too: the count dropped below that (a slow turn of the
    # server's cannot make a later count include the connection)
    assert wait_until(lambda: server.fds() < held, 10)
    return server.fds()


def http_client_post(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", path, body=BODY)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/ok", "/forbidden"])
def test_http_client_reads_an_early_413_every_time(serve: Any, path: str) -> None:
    server = serve(max_body_size=MIB)
    answers = [http_client_post(server.port, path) for _ in range(5)]
    assert [status for status, _ in answers] == [413] * 5


def test_http_client_reads_a_handlers_early_403_that_closes(serve: Any) -> None:
    server = serve(max_body_size=64 * MIB)
    answers = [http_client_post(server.port, "/forbidden") for _ in range(5)]
    assert answers == [(403, b"forbidden")] * 5


def test_requests_reads_the_early_answers(serve: Any) -> None:
    server = serve(max_body_size=MIB)
    url = f"http://127.0.0.1:{server.port}"
    statuses = [requests.post(f"{url}/ok", data=BODY, timeout=20).status_code for _ in range(5)]
    assert statuses == [413] * 5
    big = serve(max_body_size=64 * MIB)
    url = f"http://127.0.0.1:{big.port}"
    got = [requests.post(f"{url}/forbidden", data=BODY, timeout=20) for _ in range(5)]
    assert [(r.status_code, r.text) for r in got] == [(403, "forbidden")] * 5


def test_lingering_ends_at_the_timeout_for_a_client_that_keeps_the_socket_open(
    serve: Any,
) -> None:
    # bounds in halves of the lingering time, never tight ones: a slow host keeps them
    linger = 2.0
    server = serve(max_body_size=1024, lingering_timeout=linger)
    fds = settled_fds(server)
    with server.connect() as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n")
        start = time.monotonic()
        got, closed_at = wait_closed(sock, start + 10)
        assert got.startswith(b"HTTP/1.1 413 ")
        # the server's FIN comes with the answer (its sending side is shut down) ...
        assert closed_at is not None and closed_at - start < linger / 2
        # ... and its descriptor goes once the lingering time is over
        assert wait_until(lambda: server.fds() <= fds, 10)
        assert linger / 2 < time.monotonic() - start


def test_lingering_stops_after_max_lingering_bytes(serve: Any) -> None:
    server = serve(max_body_size=1024, max_lingering_bytes=256 * 1024, lingering_timeout=30)
    with server.connect() as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n")
        sock.settimeout(10)
        sent = 0
        try:
            while sent < 64 * MIB:
                sent += sock.send(b"x" * 65536)
        except OSError:  # the server closed after the byte bound: a reset, as intended
            pass
        assert sent < 16 * MIB, "the server kept reading past max_lingering_bytes"


def test_lingering_timeout_zero_closes_at_once(serve: Any) -> None:
    server = serve(max_body_size=1024, lingering_timeout=0)
    fds = settled_fds(server)
    with server.connect() as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n")
        got, _ = wait_closed(sock, time.monotonic() + 10)  # answered: the server has it
        assert got.startswith(b"HTTP/1.1 413 ")
        # and closed at once: well before half the default lingering time (5 s) would end
        assert wait_until(lambda: server.fds() <= fds, 2.5)


def test_a_lingering_connection_drops_what_follows_and_is_not_answered(serve: Any) -> None:
    server = serve(max_body_size=1024, lingering_timeout=1)
    with server.connect() as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n")
        time.sleep(0.1)
        try:
            sock.sendall(b"x" * 4096 + b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        got, _ = wait_closed(sock, time.monotonic() + 5)
        assert got.count(b"HTTP/1.1") == 1 and got.startswith(b"HTTP/1.1 413 ")


def test_bad_lingering_settings_are_refused() -> None:
    from socketify import App
    from socketify.errors import InvalidSetting

    with pytest.raises(InvalidSetting):
        App(lingering_timeout=-1)
    with pytest.raises(InvalidSetting):
        App(max_lingering_bytes=2**40)
    with pytest.raises(TypeError):
        App(max_lingering_bytes=1.5)


def test_sockets_left_by_lingering_are_not_leaked(serve: Any) -> None:
    server = serve(max_body_size=1024, lingering_timeout=0.2)
    fds = settled_fds(server)
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n")
            wait_closed(sock, time.monotonic() + 5)
    assert wait_until(lambda: server.fds() <= fds, 5), (server.fds(), fds)
