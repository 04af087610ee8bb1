"""The C core over real sockets: listeners, accept, addresses, timeouts, backpressure.

Everything runs in the test's thread: clients are non-blocking sockets and the loop is
pumped with sc_loop_poll in bounded loops (127.0.0.1, ::1 and Unix sockets only).
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from socketify import _bridge
from socketify._native import ffi, lib

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback here")


class Server:
    """An sc_loop with a test owner; handler(server, h, target) answers requests."""

    def __init__(self, handler: Optional[Callable[[Server, int, bytes], None]], **settings: int):
        s = ffi.new("sc_settings *")
        lib.sc_settings_default(s)
        for name, value in settings.items():
            setattr(s, name, value)
        self.owner = _bridge.register(self)
        self.loop = lib.sc_loop_new(s, self.owner)
        self.handler = handler
        self.handles: list[int] = []
        self.aborted: list[int] = []
        self.addresses: list[tuple[bytes, bytes]] = []
        self.on_writable: Optional[Callable[[Server, int, int], bool]] = None

    def _on_request(self, h: int) -> None:
        view = lib.sc_loop_request_view(self.loop)
        self.handles.append(h)
        text, raw, proxied = ffi.new("char[64]"), ffi.new("char[16]"), ffi.new("char[64]")
        n = lib.sc_res_remote_address(self.loop, h, text, 64)
        m = lib.sc_res_remote_bytes(self.loop, h, raw, 16)
        p = lib.sc_res_proxied_address(self.loop, h, proxied, 64)
        self.addresses.append((ffi.unpack(text, n), ffi.unpack(raw, m), ffi.unpack(proxied, p)))
        if self.handler:
            self.handler(self, h, ffi.unpack(view.target, view.target_len))

    def _on_data(self, h: int) -> None:
        pass

    def _on_aborted(self, h: int) -> None:
        self.aborted.append(h)

    def _on_writable(self, h: int, offset: int) -> bool:
        return self.on_writable(self, h, offset) if self.on_writable else True

    def end(self, h: int, body: bytes = b"", flags: int = 0) -> int:
        return lib.sc_res_write(self.loop, h, b"", 0, body, len(body), flags | lib.SC_W_END)

    def listen(self, host: Optional[str] = "127.0.0.1", port: int = 0, flags: int = 0) -> int:
        out = ffi.new("uint16_t *")
        rc = lib.sc_listen_tcp(
            self.loop, host.encode() if host is not None else ffi.NULL, port, flags, out
        )
        assert rc >= 0, os.strerror(-rc)
        return out[0]

    def pump(self, until: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                return False
            assert lib.sc_loop_poll(self.loop, 5) >= 0
        return True

    @property
    def connections(self) -> int:
        return lib.sc_loop_num_connections(self.loop)

    def free(self) -> None:
        lib.sc_loop_free(self.loop)
        _bridge.unregister(self.owner)


def echo_target(server: Server, h: int, target: bytes) -> None:
    server.end(h, b"path=" + target)


class Client:
    def __init__(self, family: int, address: Any) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(address)
        self.data = b""
        self.eof = False

    def send(self, server: Server, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 5
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                assert time.monotonic() < deadline, "client could not send"
                lib.sc_loop_poll(server.loop, 5)

    def _read(self) -> None:
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.eof = True
                    return
                self.data += chunk
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            self.eof = True

    def wait(self, server: Server, until: Callable[[Client], bool], timeout: float = 5.0) -> bytes:
        def done() -> bool:
            self._read()
            return until(self)

        assert server.pump(done, timeout), f"timed out; got {self.data[:200]!r}"
        return self.data

    def responses(self, server: Server, count: int) -> bytes:
        return self.wait(server, lambda c: c.data.count(b"HTTP/1.1 ") >= count)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def make() -> Any:
    servers: list[Server] = []

    def factory(handler: Any = echo_target, **settings: int) -> Server:
        server = Server(handler, **settings)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.free()


# ---- TCP ------------------------------------------------------------------------------


def test_tcp_get_keep_alive_and_pipelining(make: Any) -> None:
    server = make()
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
    data = client.responses(server, 1)
    assert data.startswith(b"HTTP/1.1 200 OK\r\nDate: ") and data.endswith(b"path=/one")
    assert b"Content-Length: 9\r\n" in data
    client.data = b""
    client.send(
        server, b"".join(f"GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(3))
    )
    data = client.wait(server, lambda c: c.data.endswith(b"path=/2"))
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"path=/0") < data.index(b"path=/1") < data.index(b"path=/2")
    assert server.connections == 1
    assert server.addresses[0][:2] == (b"127.0.0.1", bytes([127, 0, 0, 1]))
    client.close()
    assert server.pump(lambda: server.connections == 0)


@pytest.mark.parametrize("host", [None, "", "::"])
def test_dual_stack_listener_reports_plain_ipv4(make: Any, host: Optional[str]) -> None:
    if not _has_ipv6() and host == "::":
        pytest.skip("no IPv6")
    server = make()
    port = server.listen(host)
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    client.responses(server, 1)
    text, raw, _ = server.addresses[0]
    assert text == b"127.0.0.1" and raw == bytes([127, 0, 0, 1])
    client.close()


@needs_ipv6
def test_ipv6_loopback_address(make: Any) -> None:
    server = make()
    port = server.listen("::1")
    client = Client(socket.AF_INET6, ("::1", port))
    client.send(server, GET)
    client.responses(server, 1)
    text, raw, _ = server.addresses[0]
    assert text == b"::1" and raw == bytes(15) + b"\x01"
    client.close()


def test_exclusive_port_in_use_returns_minus_errno(make: Any) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    server = make()
    out = ffi.new("uint16_t *")
    rc = lib.sc_listen_tcp(server.loop, b"127.0.0.1", port, lib.SC_LISTEN_EXCLUSIVE_PORT, out)
    assert rc == lib.SC_EOS_BASE - errno.EADDRINUSE
    taken.close()

    first = make()
    port = first.listen()
    rc = lib.sc_listen_tcp(server.loop, b"127.0.0.1", port, lib.SC_LISTEN_EXCLUSIVE_PORT, out)
    assert rc == lib.SC_EOS_BASE - errno.EADDRINUSE


def test_listen_on_an_address_not_here_fails(make: Any) -> None:
    server = make()
    out = ffi.new("uint16_t *")
    assert (
        lib.sc_listen_tcp(server.loop, b"203.0.113.1", 0, 0, out)
        == lib.SC_EOS_BASE - errno.EADDRNOTAVAIL
    )


def test_reuseport_lets_two_loops_share_a_port(make: Any) -> None:
    a, b = make(), make()
    port = a.listen()
    assert b.listen(port=port) == port
    clients = [Client(socket.AF_INET, ("127.0.0.1", port)) for _ in range(16)]
    for client in clients:
        client.send(a, GET)

    def all_answered() -> bool:
        lib.sc_loop_poll(b.loop, 0)
        for client in clients:
            client._read()
        return all(c.data.count(b"HTTP/1.1 200") == 1 for c in clients)

    assert a.pump(all_answered)
    assert len(a.handles) + len(b.handles) == 16
    for client in clients:
        client.close()


def test_listen_fd_adopts_a_listening_socket(make: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    server = make()
    assert lib.sc_listen_fd(server.loop, os.dup(sock.fileno())) >= 0
    sock.close()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    assert client.responses(server, 1).endswith(b"path=/")
    client.close()
    assert lib.sc_listen_fd(server.loop, -1) == lib.SC_EOS_BASE - errno.EBADF


def test_close_listeners_refuses_new_but_serves_open_connections(make: Any) -> None:
    server = make()
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    client.responses(server, 1)
    lib.sc_loop_close_listeners(server.loop)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    client.data = b""
    client.send(server, GET)
    assert client.responses(server, 1).endswith(b"path=/")
    lib.sc_loop_drain(server.loop)
    client.wait(server, lambda c: c.eof)
    assert server.connections == 0


# ---- Unix sockets ---------------------------------------------------------------------


def test_unix_socket_serves_with_empty_remote_address(make: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    server = make()
    assert lib.sc_listen_unix(server.loop, path.encode(), 0) >= 0
    client = Client(socket.AF_UNIX, path)
    client.send(server, GET)
    assert client.responses(server, 1).endswith(b"path=/")
    assert server.addresses[0] == (b"", b"", b"")
    client.close()
    lib.sc_loop_close_listeners(server.loop)
    assert not os.path.exists(path)


def test_unix_stale_file_is_replaced_but_a_live_one_is_not(make: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays, nobody listens
    server = make()
    assert lib.sc_listen_unix(server.loop, path.encode(), 0) >= 0
    other = make()
    assert lib.sc_listen_unix(other.loop, path.encode(), 0) == lib.SC_EOS_BASE - errno.EADDRINUSE
    too_long = ("/tmp/" + "x" * 200).encode()
    assert lib.sc_listen_unix(other.loop, too_long, 0) == lib.SC_EOS_BASE - errno.ENAMETOOLONG
    assert lib.sc_listen_unix(other.loop, b"", 0) == lib.SC_EOS_BASE - errno.EINVAL


# ---- lifecycle ------------------------------------------------------------------------


def test_errors_are_flushed_before_the_close(make: Any) -> None:
    server = make()
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, b"GET / HTTP/1.1\r\n\r\n")  # no Host
    data = client.wait(server, lambda c: c.eof)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close\r\n" in data
    # The server lingers (reads and drops) until the client's own FIN or lingering_timeout
    # (5 s, as long as pump's wait): the client closes, as clients do after the EOF.
    client.close()
    assert server.pump(lambda: server.connections == 0)


def test_client_disconnect_aborts_the_pending_response(make: Any) -> None:
    server = make(handler=None)
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    assert server.pump(lambda: len(server.handles) == 1)
    client.close()
    assert server.pump(lambda: server.aborted == server.handles)
    assert server.end(server.handles[0]) == lib.SC_ESTALE
    assert server.connections == 0


def test_idle_timeout_over_a_socket(make: Any) -> None:
    server = make(handler=None, idle_timeout_ms=200)
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    client.wait(server, lambda c: c.eof)
    assert client.data == b""
    assert server.aborted == server.handles and len(server.handles) == 1


def test_header_timeout_over_a_socket(make: Any) -> None:
    server = make(header_timeout_ms=200)
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, b"GET / HTTP/1.1\r\n")
    data = client.wait(server, lambda c: c.eof)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_idle_server_has_no_timer_events(make: Any) -> None:
    server = make(idle_timeout_ms=50)
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    assert server.pump(lambda: server.connections == 1)
    client.close()
    assert server.pump(lambda: server.connections == 0)
    time.sleep(0.12)  # let a tick expire if the timer were still armed
    assert lib.sc_loop_poll(server.loop, 0) <= 1  # at most the last tick already queued
    assert lib.sc_loop_poll(server.loop, 150) == 0


def test_thousand_connections_opened_and_dropped(make: Any) -> None:
    server = make()
    port = server.listen()
    total = 0
    for batch in range(10):
        clients = [Client(socket.AF_INET, ("127.0.0.1", port)) for _ in range(100)]
        assert server.pump(lambda: server.connections == 100), server.connections
        for i, client in enumerate(clients):
            if i % 3 == 0:
                client.send(server, GET)
            elif i % 3 == 1:
                client.send(server, b"GET / HT")
        for client in clients:
            client.close()
        total += len(clients)
        assert server.pump(lambda: server.connections == 0), (batch, server.connections)
    assert total == 1000
    assert server.connections == 0


# ---- backpressure ---------------------------------------------------------------------


def test_large_response_is_buffered_and_drained(make: Any) -> None:
    body = os.urandom(4 << 20)
    server = make(lambda server, h, target: server.end(h, body))
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    assert server.pump(lambda: len(server.handles) == 1)
    data = client.wait(server, lambda c: len(c.data) > len(body))
    head = data.partition(b"\r\n\r\n")[0]
    assert f"Content-Length: {len(body)}".encode() in head
    client.wait(server, lambda c: len(c.data.partition(b"\r\n\r\n")[2]) == len(body))
    assert client.data.partition(b"\r\n\r\n")[2] == body


def test_try_end_streams_with_on_writable_over_a_socket(make: Any) -> None:
    body = os.urandom(8 << 20)
    calls: list[int] = []

    def start(server: Server, h: int, target: bytes) -> None:
        rc = lib.sc_res_try_end(server.loop, h, b"", 0, body, len(body), len(body), 0)
        assert rc >= 0

    def resume(server: Server, h: int, offset: int) -> bool:
        calls.append(offset)
        rest = body[offset:]
        rc = lib.sc_res_try_end(server.loop, h, b"", 0, rest, len(rest), len(body), 0)
        assert rc >= 0
        return bool(rc & 1)

    server = make(start)
    server.on_writable = resume
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    client.wait(server, lambda c: len(c.data.partition(b"\r\n\r\n")[2]) >= len(body), 10)
    assert client.data.partition(b"\r\n\r\n")[2] == body
    assert calls and calls == sorted(calls)  # the kernel buffer filled at least once


def test_write_past_backpressure_gets_on_writable_even_when_the_socket_took_it_all(
    make: Any,
) -> None:
    # sc_res_write answered SC_EAGAIN inside the callback; the batch then flushed whole
    # (loopback buffers are large): on_writable must still come, or the stream stalls.
    chunk = b"q" * 65536
    state = {"n": 0, "calls": []}

    def push(server, h):
        while state["n"] < 64:
            state["n"] += 1
            rc = lib.sc_res_write(server.loop, h, b"", 0, chunk, len(chunk), 0)
            if rc == -5:
                return False
            assert rc == 0, rc
        lib.sc_res_write(server.loop, h, b"", 0, b"", 0, 1)
        return True

    def start(server, h, target):
        if not push(server, h):
            lib.sc_res_want_writable(server.loop, h, 1)

    def resume(server, h, offset):
        state["calls"].append(offset)
        return push(server, h)

    server = make(start, max_backpressure=256 * 1024)
    server.on_writable = resume
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, GET)
    client.wait(server, lambda c: len(c.data) >= 64 * 65536, 10)
    assert state["n"] == 64


def test_proxy_v1_over_a_socket(make: Any) -> None:
    server = make(proxy_protocol=1)
    port = server.listen()
    client = Client(socket.AF_INET, ("127.0.0.1", port))
    client.send(server, b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\n" + GET)
    client.responses(server, 1)
    assert server.addresses[0] == (b"127.0.0.1", bytes([127, 0, 0, 1]), b"198.51.100.7")
    bad = Client(socket.AF_INET, ("127.0.0.1", port))
    bad.send(server, GET)
    assert bad.wait(server, lambda c: c.eof).startswith(b"HTTP/1.1 400 ")
