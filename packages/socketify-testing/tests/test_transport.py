"""The client's transport logic against a scripted server that writes raw bytes.

The real core never writes a malformed response on purpose, so the strict parser's
integration (a framing bug surfaces as ProtocolError, the connection is dropped) is shown
here with a fake app implementing the same seam (``memory_host()`` returning a
socketify.memory.MemoryHost).  Everything else is tested through the real core in
test_client.py.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, Callable

import pytest

from socketify_testing import (
    AsyncTestClient,
    LifespanWarning,
    ProtocolError,
    ResponseTimeout,
    TestClient,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class FakeConnection:
    def __init__(self, app: FakeApp, remote: tuple[str, int]) -> None:
        self.app = app
        self.remote = remote
        self.out = bytearray()
        self.received = bytearray()
        self.pending = b""
        self.open = True
        self.aborted = False

    def feed(self, data: bytes) -> None:
        if not self.open:
            raise ConnectionError("closed")
        self.received += data
        self.pending += data
        while self.open:
            end = self.pending.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.pending[:end].decode("latin-1")
            length = 0
            chunked = False
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                if name.lower() == "transfer-encoding":
                    chunked = True
            if chunked:
                stop = self.pending.find(b"0\r\n\r\n", end + 4)
                if stop < 0:
                    return
                total = stop + 5
            else:
                total = end + 4 + length
                if len(self.pending) < total:
                    return
            request, self.pending = self.pending[:total], self.pending[total:]
            method, target, _ = head.split("\r\n")[0].split(" ")
            self.app.responder(self, method, target, request)

    def write(self, data: bytes) -> None:
        self.out += data

    def read(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data

    def server_close(self) -> None:
        self.open = False

    def close(self) -> None:
        if self.open:
            self.aborted = True
        self.open = False

    def set_capacity(self, n: int) -> None:
        pass


Responder = Callable[[FakeConnection, str, str, bytes], None]


class FakeApp:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.loop: Any = None
        self.exception_sink: Any = None
        self.connections: list[FakeConnection] = []
        self.events: list[str] = []

    def memory_host(self) -> FakeApp:
        return self

    def bind_loop(self, loop: Any) -> None:
        self.loop = loop

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    def set_exception_sink(self, sink: Any) -> Any:
        previous, self.exception_sink = self.exception_sink, sink
        return previous

    def open_connection(self, remote: tuple[str, int]) -> FakeConnection:
        conn = FakeConnection(self, remote)
        self.connections.append(conn)
        return conn


def answer(data: bytes) -> Responder:
    return lambda conn, method, target, request: conn.write(data)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "duplicate"),
        (b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", "bare CR or LF"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "204"),
        (OK + b"junk", "4 bytes after the end of the response to GET /x"),
    ],
)
def test_malformed_response_raises_protocol_error(data: bytes, message: str) -> None:
    app = FakeApp(answer(data))
    with TestClient(app) as client:
        with pytest.raises(ProtocolError, match=message):
            client.get("/x")
        assert app.connections[0].aborted  # a broken connection is never reused


def test_server_close_without_response() -> None:
    def close(conn: FakeConnection, *_: Any) -> None:
        conn.server_close()

    with TestClient(FakeApp(close)) as client:
        with pytest.raises(ProtocolError, match="without a response"):
            client.get("/x")


def test_close_delimited_body_ends_with_server_close() -> None:
    def respond(conn: FakeConnection, *_: Any) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\n\r\nuntil close")
        conn.server_close()

    app = FakeApp(respond)
    with TestClient(app) as client:
        assert client.get("/").content == b"until close"
        assert client.get("/").content == b"until close"
    assert len(app.connections) == 2


def test_keep_alive_reuses_one_connection_until_close() -> None:
    responses = iter(
        [OK, OK, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", OK]
    )
    app = FakeApp(lambda conn, *_: conn.write(next(responses)))
    with TestClient(app) as client:
        for _ in range(4):
            assert client.get("/").status_code == 200
    assert len(app.connections) == 2
    assert app.connections[0].received.count(b"GET / HTTP/1.1") == 3


def test_request_bytes_on_the_wire() -> None:
    app = FakeApp(answer(OK))
    with TestClient(app, base_url="http://example.com:8080") as client:
        client.post("/p?x=1", content=b"body", headers={"X-Test": "1"})
    assert bytes(app.connections[0].received) == (
        b"POST /p?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: socketify-testclient/0.1.0"
        b"\r\nAccept: */*\r\nContent-Length: 4\r\nX-Test: 1\r\n\r\nbody"
    )


def test_streamed_request_body_is_chunked() -> None:
    app = FakeApp(answer(OK))

    def gen():
        yield b"ab"
        yield b""
        yield "cd"

    with TestClient(app) as client:
        client.post("/", content=gen())
    received = bytes(app.connections[0].received)
    assert b"Transfer-Encoding: chunked\r\n" in received
    assert b"Content-Length" not in received
    assert received.endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")


def test_async_answer_runs_the_loop() -> None:
    def later(conn: FakeConnection, *_: Any) -> None:
        conn.app.loop.call_later(0.01, conn.write, OK)

    with TestClient(FakeApp(later)) as client:
        assert client.get("/").text == "ok"


def test_timeout_names_method_and_route_and_drops_connection() -> None:
    app = FakeApp(lambda *_: None)
    with TestClient(app, timeout=0.05) as client:
        with pytest.raises(ResponseTimeout, match=r"GET /never\?x=1 did not respond within 0.05 s"):
            client.get("/never", params={"x": 1})
        assert app.connections[0].aborted
    assert isinstance(ResponseTimeout("m"), TimeoutError)


def test_timeout_reports_partial_body() -> None:
    app = FakeApp(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
    with TestClient(app, timeout=0.05) as client:
        with pytest.raises(ResponseTimeout, match="3 body bytes"):
            client.get("/slow", timeout=0.02)


def test_exception_sink_error_is_raised_and_only_once() -> None:
    def boom(conn: FakeConnection, *_: Any) -> None:
        conn.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        conn.app.exception_sink(KeyError("boom"))

    app = FakeApp(boom)
    with TestClient(app) as client:
        with pytest.raises(KeyError, match="boom"):
            client.get("/")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500
    assert app.exception_sink is None  # restored on close


def test_lifespan_with_block() -> None:
    app = FakeApp(answer(OK))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TestClient(app) as client:
            assert app.events == ["startup"]
            client.get("/")
    assert app.events == ["startup", "shutdown"]


def test_lifespan_without_with_warns_and_close_runs_shutdown() -> None:
    app = FakeApp(answer(OK))
    client = TestClient(app)
    with pytest.warns(LifespanWarning, match="on_shutdown runs only when client.close"):
        client.get("/")
    assert app.events == ["startup"]
    client.get("/")  # warned once
    client.close()
    assert app.events == ["startup", "shutdown"]


def test_stream_yields_chunks_as_written() -> None:
    # Each part is written only once the stream has yielded the one before it, so the
    # chunks cannot coalesce however slow the machine is (fixed delays could).
    parts = [b"5\r\nfirst\r\n", b"6\r\nsecond\r\n", b"0\r\n\r\n"]
    conns: list[FakeConnection] = []

    def trickle(conn: FakeConnection, *_: Any) -> None:
        conns.append(conn)
        conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + parts[0])

    seen = []
    with TestClient(FakeApp(trickle)) as client:
        with client.stream("GET", "/") as r:
            assert r.status_code == 200
            for chunk in r.iter_bytes():
                seen.append(chunk)
                conn = conns[0]
                conn.app.loop.call_soon_threadsafe(conn.write, parts[len(seen)])
        assert r.content == b"firstsecond"
    assert seen == [b"first", b"second"]


def test_async_client_against_fake() -> None:
    def later(conn: FakeConnection, *_: Any) -> None:
        conn.app.loop.call_later(0.01, conn.write, OK)

    app = FakeApp(later)

    async def main() -> str:
        async with AsyncTestClient(app) as client:
            assert app.loop is asyncio.get_running_loop()
            r = await client.get("/")
            return r.text

    assert asyncio.run(main()) == "ok"
    assert app.events == ["startup", "shutdown"]
