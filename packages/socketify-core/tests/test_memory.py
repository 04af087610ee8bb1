from __future__ import annotations

import pytest

from socketify import App


def test_feed_read_and_open(wire):
    app = App().get("/", lambda res, req: res.end("hi"))
    w = wire(app)
    conn = w.connect()
    assert conn.open
    assert conn.read() == b""
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = conn.read()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nhi")
    assert conn.read() == b""  # consumed


def test_feed_after_server_close_raises_connection_error(wire):
    app = App().get("/", lambda res, req: res.end("bye", end_connection=True))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert w.until(lambda: not conn.open)
    with pytest.raises(ConnectionError):
        conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")


def test_bad_request_is_400_and_closes(wire):
    app = App().get("/", lambda res, req: res.end("hi"))
    w = wire(app)
    conn = w.connect()
    conn.feed(
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert w.replies(conn)[0].status == 400
    assert not conn.open


def test_feed_type_and_capacity_checks(wire):
    w = wire(App())
    conn = w.connect()
    with pytest.raises(TypeError):
        conn.feed("text")
    with pytest.raises(ValueError):
        conn.set_capacity(-1)


def test_pipelined_requests_answered_in_order(wire):
    app = App().get("/:n", lambda res, req: res.end(req.get_parameter(0)))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"".join(f"GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(5)))
    assert [r.text for r in w.replies(conn, count=5)] == ["0", "1", "2", "3", "4"]


def test_pipelined_requests_wait_for_async_responses(wire):
    import asyncio

    async def slow(res, req):
        await asyncio.sleep(0.01)
        res.end("slow")

    app = App().get("/slow", slow).get("/fast", lambda res, req: res.end("fast"))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [r.text for r in w.replies(conn, count=2)] == ["slow", "fast"]
