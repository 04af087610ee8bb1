"""Slow and hostile clients against a real server on 127.0.0.1.

Each test starts ``socketify.App`` in a subprocess (``SERVER`` below, settings passed as
JSON) so it can look at the server from outside: its open descriptors and RSS in
/proc/<pid>, its CPU time, its exit status after SIGTERM.  Every wait is bounded; every test
takes a few seconds.  docs/security.md describes the behaviour these tests pin down.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and uses the epoll core"
)

SERVER = r"""
import asyncio, gc, json, resource, sys
from socketify import App

settings = json.loads(sys.argv[1])
nofile = settings.pop("_nofile", None)
if nofile:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
app = App(**settings)
BIG = b"x" * (1024 * 1024)

app.get("/", lambda res, req: res.end("ok"))
app.get("/big", lambda res, req: res.end(BIG))


def collect(res, req):
    gc.collect()  # tests measure RSS after a full collection (PyPy's heap grows until one)
    res.end("ok")

app.get("/gc", collect)


slow_started = [0]


async def slow(res, req):
    slow_started[0] += 1
    await asyncio.sleep(float(req.get_query("s") or 0.5))
    res.end("slow")

app.get("/slow", slow)
app.get("/slow-started", lambda res, req: res.end(str(slow_started[0])))
app.listen(0, lambda config: print("PORT", config.port, flush=True))
app.run()
print("EXITED", flush=True)
"""

START_TIMEOUT_S = 10.0
LINGER_RST = struct.pack("ii", 1, 0)  # close() sends RST instead of FIN
MIB = 1024 * 1024


class Server:
    """One server process: port, pid, and what /proc says about it."""

    def __init__(self, script: Path, **settings: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        # poll, not select: a long run (PyPy closes dropped sockets only at GC) may hold
        # descriptors past select()'s FD_SETSIZE of 1024
        poller = select.poll()
        poller.register(self.proc.stdout, select.POLLIN)
        ready = poller.poll(START_TIMEOUT_S * 1000)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError(f"server did not start: {line!r} {self.stderr()}")
        return int(line.split()[1])

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()[-4000:]

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def servers_of(tmp_path: Path, source: str) -> Iterator[Any]:
    """The body of a ``serve`` fixture: ``start(**settings)`` runs ``source`` as a server
    process; every one started is stopped afterwards (test_memory_budget, test_lingering_close
    use it with their own server scripts)."""
    script = tmp_path / "server.py"
    script.write_text(source)
    started: list[Server] = []

    def start(**settings: Any) -> Server:
        server = Server(script, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    yield from servers_of(tmp_path, SERVER)


def read_response(
    sock: socket.socket, deadline: float, carry: Optional[bytearray] = None
) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length body (what SERVER sends), or AssertionError.

    Bytes past that response (the next pipelined one) are kept in ``carry`` when given."""
    data = bytes(carry) if carry else b""
    while b"\r\n\r\n" not in data:
        data += recv_some(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        body += recv_some(sock, deadline)
    if carry is not None:
        carry[:] = body[size:]
    return int(lines[0].split()[1]), headers, body[:size]


def recv_some(sock: socket.socket, deadline: float) -> bytes:
    left = deadline - time.monotonic()
    assert left > 0, "timed out waiting for the server"
    sock.settimeout(left)
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection"
    return chunk


def wait_closed(sock: socket.socket, deadline: float) -> tuple[bytes, Optional[float]]:
    """Read until EOF/reset; returns (what was read, monotonic time of the close or None)."""
    got = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return got, time.monotonic()
        if not chunk:
            return got, time.monotonic()
        got += chunk
    return got, None


def get(server: Server, path: str = "/") -> int:
    with server.connect() as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, _, _ = read_response(sock, time.monotonic() + 5)
        return status


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ---- slowloris ------------------------------------------------------------------------------


def test_slowloris_head_gets_408_at_the_header_timeout(serve: Any) -> None:
    server = serve(header_timeout=1, idle_timeout=10)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200
    served: list[int] = []

    def polite() -> None:
        time.sleep(0.4)
        served.append(get(server))

    helper = threading.Thread(target=polite)
    with server.connect() as slow:
        started = time.monotonic()
        helper.start()
        got, closed_at = b"", None
        for byte in head[:40]:  # 4 s of dribbling at most
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            poller = select.poll()
            poller.register(slow, select.POLLIN)
            ready = poller.poll(100)
            if ready:
                got, closed_at = wait_closed(slow, time.monotonic() + 1)
                break
        helper.join(timeout=5)
    assert closed_at is not None, "the slow client was never cut off"
    elapsed = closed_at - started
    assert 0.8 <= elapsed <= 3.0, f"cut off after {elapsed:.2f} s (header_timeout 1 s)"
    assert got == b"" or got.startswith(b"HTTP/1.1 408 "), got
    assert served == [200], "a well-behaved client was not served meanwhile"


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(serve: Any) -> None:
    server = serve(idle_timeout=1, header_timeout=10)
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body = read_response(sock, time.monotonic() + 5)
        assert (status, body) == (200, b"ok")
        assert headers.get("connection", "") != "close"
        answered = time.monotonic()
        got, closed_at = wait_closed(sock, answered + 5)
    assert got == b""
    assert closed_at is not None, "an idle keep-alive connection stayed open"
    assert 0.8 <= closed_at - answered <= 3.0, f"closed after {closed_at - answered:.2f} s"


# ---- a client that never reads ----------------------------------------------------------------


def test_client_that_never_reads_is_bounded_by_max_backpressure(serve: Any) -> None:
    """200 pipelined requests for 1 MiB each, never read: the server must not buffer 200 MiB
    for one connection.  max_backpressure is 1 MiB: either it stops taking requests from that
    connection (its socket buffers fill up) or it closes it; its memory stays bounded."""
    server = serve(max_backpressure=MIB, idle_timeout=30)
    assert get(server) == 200
    before = server.rss()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    try:
        sock.setblocking(False)
        request = b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n"
        pending = request * 200
        deadline = time.monotonic() + 3
        while pending and time.monotonic() < deadline:
            try:
                pending = pending[sock.send(pending) :]
            except BlockingIOError:
                time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                break
        time.sleep(1.5)  # let the server work through what it accepted
        grown = server.rss() - before
        assert get(server) == 200, "the server stopped serving others"
    finally:
        sock.close()
    assert grown < 48 * MIB, f"server RSS grew {grown / MIB:.0f} MiB for one non-reading client"


def test_pipelined_responses_over_max_backpressure_all_arrive(serve: Any) -> None:
    """The other side of the bound above: a client that pipelines requests for large
    responses and does read gets every response; holding requests back while the output is
    over max_backpressure must not stall the connection once it drains."""
    server = serve(max_backpressure=256 * 1024, idle_timeout=30)
    count = 4
    with server.connect() as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * count)
        deadline = time.monotonic() + 6
        sizes = []
        carry = bytearray()
        try:
            for _ in range(count):
                sizes.append(len(read_response(sock, deadline, carry)[2]))
        except (socket.timeout, AssertionError):
            pass
    assert sizes == [MIB] * count, f"only {len(sizes)} of {count} responses arrived"


# ---- connection floods ------------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("SOCKETIFY_SANITIZE") == "1",
    reason="under ASan freed memory sits in the sanitizer's quarantine: RSS is not ours",
)
def test_ten_thousand_dropped_connections_leave_no_fd_and_little_memory(serve: Any) -> None:
    server = serve()
    assert get(server) == 200
    total, batch = 10_000, 250
    partial = b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Cut: "

    def flood(count: int, fds_before: int = 0) -> None:
        for start in range(0, count, batch):
            socks = []
            for _ in range(batch):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.settimeout(5)
                sock.connect(("127.0.0.1", server.port))
                socks.append(sock)
            if start == 0 and fds_before:  # the server really accepts them (not just the kernel)
                # (fds_before may still count the connection of the get() just before)
                assert wait_until(lambda: server.fds() >= fds_before + batch - 2, 5)
            for index, sock in enumerate(socks):
                if index % 3:
                    sock.sendall(partial[: 1 + (start + index) % len(partial)])
                if index % 2:  # close with RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
                sock.close()

    fds_idle = server.fds()
    flood(1000)  # warm up: the slot table and allocator reach their working size
    assert wait_until(lambda: server.fds() <= fds_idle, 10)
    assert get(server) == 200
    fds_before = server.fds()

    # Memory is judged over repeated equal rounds, not against one absolute threshold: a leak
    # grows the process in every round, while a warming heap has rounds in which it does not
    # grow.  PyPy's GC heap grows between major collections towards a steady state reached
    # only after ~100k connections, so the server runs a full collection (/gc) before each
    # reading; malloc arenas settle sooner.  After the fd check of the first big flood, run
    # equal rounds until one of them leaves the RSS (nearly) flat.  A leak of 256 bytes per
    # dropped connection (far less than one connection's buffers) fails every round.
    flood(total, fds_before)
    settled = wait_until(lambda: server.fds() <= fds_before, 10)
    assert settled, f"server holds {server.fds() - fds_before} more descriptors than before"
    assert get(server) == 200
    per_round, rounds = 2_000, 10
    flat = 256 * per_round
    growth: list[int] = []
    for _ in range(rounds):
        assert get(server, "/gc") == 200
        rss_before = server.rss()
        flood(per_round)
        assert wait_until(lambda: server.fds() <= fds_before, 10), "descriptors leaked"
        assert get(server, "/gc") == 200
        growth.append(server.rss() - rss_before)
        if growth[-1] < flat:
            break
    assert min(growth) < flat, (
        f"RSS grew in each of {rounds} equal rounds of {per_round} dropped connections "
        f"(KiB per round: {[g // 1024 for g in growth]}): a leak"
    )


def test_out_of_descriptors_does_not_spin(serve: Any) -> None:
    """With every descriptor in use, pending connections cannot be accepted: the server must
    wait for a free descriptor, not retry accept() in a busy loop."""
    server = serve(_nofile=48)
    assert get(server) == 200
    socks = []
    try:
        for _ in range(80):  # more than the server can accept
            socks.append(server.connect())
        time.sleep(0.3)
        cpu_before = server.cpu_seconds()
        time.sleep(1.5)
        busy = server.cpu_seconds() - cpu_before
    finally:
        for sock in socks:
            sock.close()
    assert busy < 0.5, f"the server burned {busy:.2f} s of CPU in 1.5 s while out of descriptors"
    assert wait_until(lambda: server.fds() < 40, 5)
    assert get(server) == 200


# ---- graceful shutdown ------------------------------------------------------------------------


def slow_started(server: Server) -> int:
    with server.connect() as sock:
        sock.sendall(b"GET /slow-started HTTP/1.1\r\nHost: t\r\n\r\n")
        return int(read_response(sock, time.monotonic() + 5)[2])


def test_sigterm_finishes_accepted_requests_then_exits_0(serve: Any) -> None:
    server = serve(shutdown_timeout=5)
    count = 20
    socks = [server.connect() for _ in range(count)]
    for sock in socks:
        sock.sendall(b"GET /slow?s=3 HTTP/1.1\r\nHost: t\r\n\r\n")
    # all accepted and in their handler (3 s each, within shutdown_timeout: none is
    # answered before the SIGTERM, however slowly the polls below are answered)
    assert wait_until(lambda: slow_started(server) == count, 10)
    os.kill(server.pid, signal.SIGTERM)
    refused = False
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not refused:
        time.sleep(0.05)
        try:
            server.connect(timeout=1).close()
        except ConnectionRefusedError:
            refused = True
    responses = []
    for sock in socks:
        with sock:
            status, headers, body = read_response(sock, time.monotonic() + 5)
            responses.append((status, body, headers.get("connection")))
    assert responses == [(200, b"slow", "close")] * count
    assert refused, "the server still accepted connections after SIGTERM"
    assert server.proc.wait(timeout=8) == 0, server.stderr()
    assert server.proc.stdout is not None and "EXITED" in server.proc.stdout.read()
