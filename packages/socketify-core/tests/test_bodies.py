"""Request bodies without copies: on_data(copy=False) views, bodies the core gathers for
get_data() and the ASGI/WSGI adapters, over real sockets (the loop's read buffer) and the
TestClient (the memory transport)."""

from __future__ import annotations

import asyncio
import os
import pickle
import platform
import socket
import sys
import time

import pytest

from socketify import App
from socketify.asgi import ASGI
from socketify.errors import InvalidSetting
from socketify.wsgi import WSGI
from socketify_testing import TestClient


def exchange(port: int, pieces: list[bytes], replies: int = 1, pause: float = 0.03) -> bytes:
    """Send ``pieces`` with a pause between them (so they arrive in separate reads) and read
    until ``replies`` responses (counted by their status lines) or the server closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for index, piece in enumerate(pieces):
            if index:
                time.sleep(pause)
            sock.sendall(piece)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if data.count(b"HTTP/1.1 ") >= replies and complete(data, replies):
                break
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        sock.close()


def complete(data: bytes, replies: int) -> bool:
    """True when ``data`` holds ``replies`` whole Content-Length framed responses."""
    rest = data
    for _ in range(replies):
        head, sep, body = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(body) < length:
            return False
        rest = body[length:]
    return True


def bodies_of(data: bytes) -> list[bytes]:
    found = []
    rest = data
    while rest:
        head, _, body = rest.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        found.append(body[:length])
        rest = body[length:]
    return found


def post(path: str, body: bytes) -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
        % (
            path.encode(),
            len(body),
        )
        + body
    )


def pattern(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


# ---- on_data(copy=False) ------------------------------------------------------------------
def view_app(seen: list, kept: list) -> App:
    app = App()

    def echo(res, req):
        parts = []

        def on_data(res, chunk, is_end):
            seen.append(type(chunk))
            kept.append(chunk)  # kept as it is: unusable once the call returns
            parts.append(bytes(chunk))  # the documented way to keep bytes
            if is_end:
                res.end(b"".join(parts))

        res.on_data(on_data, copy=False)

    app.post("/echo", echo)
    return app


def test_views_over_sockets_span_reads_and_echo_right(serve):
    seen: list = []
    kept: list = []
    body = pattern(300_000)
    with serve(view_app(seen, kept)) as port:
        wire = post("/echo", body)
        data = exchange(port, [wire[:70_000], wire[70_000:200_000], wire[200_000:]])
    assert bodies_of(data) == [body]
    assert len(seen) > 1 and set(seen) == {memoryview}


def test_a_view_kept_past_its_call_raises_on_use(serve):
    seen: list = []
    kept: list = []
    with serve(view_app(seen, kept)) as port:
        data = exchange(port, [post("/echo", b"hello")])
    assert bodies_of(data) == [b"hello"]
    assert kept, "on_data was not called"
    for chunk in kept:
        with pytest.raises(ValueError):
            bytes(chunk)


def test_copies_and_slices_kept_past_the_call_stay_safe_after_reuse(serve):
    copies: list[bytes] = []
    slices: list[memoryview] = []
    app = App()

    def keep(res, req):
        def on_data(res, chunk, is_end):
            copies.append(bytes(chunk))
            slices.append(chunk[:4])  # a slice is not released with the chunk
            if is_end:
                res.end("ok")

        res.on_data(on_data, copy=False)

    app.post("/keep", keep)
    with serve(app) as port:
        for seed in range(5):  # each request reuses the same read buffer
            assert bodies_of(exchange(port, [post("/keep", pattern(5000, seed))])) == [b"ok"]
    assert b"".join(copies) == b"".join(pattern(5000, seed) for seed in range(5))
    # the app is closed and its loop freed: a slice still points into memory Python owns
    assert all(len(bytes(piece)) == 4 for piece in slices)


@pytest.mark.skipif(
    sys.implementation.name != "cpython",
    reason="PyPy releases a memoryview even while a buffer taken from it lives",
)
def test_a_buffer_exported_past_the_call_is_reported(serve):
    errors: list[BaseException] = []
    exported: list = []
    app = App()
    app.set_error_handler(lambda error, res, req: errors.append(error))

    def export(res, req):
        def on_data(res, chunk, is_end):
            exported.append(pickle.PickleBuffer(chunk))  # holds a buffer export
            if is_end:
                res.end("ok")

        res.on_data(on_data, copy=False)

    app.post("/export", export)
    with serve(app) as port:
        assert bodies_of(exchange(port, [post("/export", b"abc")])) == [b"ok"]
    assert errors and isinstance(errors[0], BufferError)
    assert "copy what you keep with bytes(chunk)" in str(errors[0])


def test_views_replay_chunks_that_arrived_before_the_handler_asked(serve):
    seen: list = []
    app = App()

    async def late(res, req):
        await asyncio.sleep(0.1)  # the body arrives meanwhile and is kept
        parts = []

        def on_data(res, chunk, is_end):
            seen.append(type(chunk))
            parts.append(bytes(chunk))
            if is_end:
                res.end(b"".join(parts))

        res.on_data(on_data, copy=False)

    app.post("/late", late)
    with serve(app) as port:
        assert bodies_of(exchange(port, [post("/late", b"early bytes")])) == [b"early bytes"]
    assert seen and set(seen) == {memoryview}


def test_views_through_the_test_client_and_without_a_body():
    seen: list = []
    kept: list = []
    app = view_app(seen, kept)
    app.get(
        "/empty",
        lambda res, req: res.on_data(
            lambda res, chunk, end: res.end(f"{type(chunk).__name__} {len(chunk)} {end}"),
            copy=False,
        ),
    )
    with TestClient(app) as client:
        assert client.post("/echo", content=b"x" * 100_000).content == b"x" * 100_000
        assert client.get("/empty").text == "memoryview 0 True"
    assert set(seen) == {memoryview}


def test_pipelined_requests_after_a_viewed_body(serve):
    seen: list = []
    kept: list = []
    app = view_app(seen, kept)
    app.get("/", lambda res, req: res.end("root"))
    with serve(app) as port:
        wire = (
            post("/echo", b"first")
            + post("/echo", b"second")
            + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        data = exchange(port, [wire], replies=3)
    assert bodies_of(data) == [b"first", b"second", b"root"]


def test_chunked_body_as_views(serve):
    seen: list = []
    kept: list = []
    with serve(view_app(seen, kept)) as port:
        head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        data = exchange(port, [head + b"5\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"])
    assert bodies_of(data) == [b"hello world"]
    assert set(seen) == {memoryview}


# ---- get_data(): the core gathers the body -------------------------------------------------
def gathering_app(pieces: list[int], **settings) -> App:
    app = App(**settings)

    async def echo(res, req):
        data = (await res.get_data()).getvalue()
        pieces.append(len(res._ext.chunks))  # how many bytes objects Python was handed
        res.end(data)

    app.post("/echo", echo)
    app.get("/", lambda res, req: res.end("root"))
    return app


@pytest.mark.parametrize("size", [99_999, 100_000, 100_001])
def test_get_data_at_below_and_above_max_body_size(serve, size):
    pieces: list[int] = []
    body = pattern(size)
    wire = post("/echo", body)
    with serve(gathering_app(pieces, max_body_size=100_000)) as port:
        data = exchange(port, [wire[:40_000], wire[40_000:80_000], wire[80_000:]])
    if size > 100_000:
        assert data.startswith(b"HTTP/1.1 413 ")
        assert pieces == []
    else:
        assert bodies_of(data) == [body]
        assert pieces == [1]  # spanning three reads, handed over once


def test_get_data_of_a_chunked_body_then_a_pipelined_request(serve):
    pieces: list[int] = []
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    first, second = pattern(30_000, 1), pattern(50_000, 2)
    wire = head + b"%x\r\n" % len(first) + first + b"\r\n"
    rest = b"%x\r\n" % len(second) + second + b"\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"
    with serve(gathering_app(pieces)) as port:
        data = exchange(port, [wire, rest], replies=2)
    assert bodies_of(data) == [first + second, b"root"]
    assert pieces == [1]


def test_get_data_of_chunked_body_past_max_body_size(serve):
    pieces: list[int] = []
    head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    with serve(gathering_app(pieces, max_body_size=1000)) as port:
        data = exchange(port, [head + b"200\r\n" + b"a" * 512 + b"\r\n", b"200\r\n" + b"b" * 512])
    assert data.startswith(b"HTTP/1.1 413 ")
    assert pieces == []


def test_get_data_bodies_in_a_row_reuse_buffers_and_stay_right(serve):
    pieces: list[int] = []
    with serve(gathering_app(pieces)) as port:
        for seed in range(6):
            body = pattern(70_000 + seed * 1000, seed)
            wire = post("/echo", body)
            assert bodies_of(exchange(port, [wire[:30_000], wire[30_000:]])) == [body]
    assert pieces == [1] * 6


def test_get_data_of_bodies_past_the_pooled_size(serve):
    """Past 1 MiB the core grows the buffer as the bytes come (not what the client
    announced) and frees it afterwards instead of pooling it."""
    pieces: list[int] = []
    with serve(gathering_app(pieces)) as port:
        for seed in range(2):
            body = pattern(3 * 1024 * 1024 + seed, seed)
            wire = post("/echo", body)
            parts = [wire[i : i + 700_000] for i in range(0, len(wire), 700_000)]
            assert bodies_of(exchange(port, parts, pause=0.01)) == [body]
    assert pieces == [1, 1]


def test_get_data_after_the_first_chunks_were_kept(serve):
    """A handler that awaits before get_data(): what arrived is kept by Python, the rest is
    gathered by the core; the body is whole either way."""
    app = App()

    async def late(res, req):
        await asyncio.sleep(0.1)
        res.end((await res.get_data()).getvalue())

    app.post("/late", late)
    body = pattern(90_000)
    wire = post("/late", body)
    with serve(app) as port:
        data = exchange(port, [wire[:20_000], wire[20_000:]], pause=0.2)
    assert bodies_of(data) == [body]


# ---- ASGI receive() and WSGI wsgi.input ---------------------------------------------------
async def asgi_echo(scope, receive, send):
    if scope["type"] == "lifespan":
        return
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if not message.get("more_body"):
            break
    body = b"".join(m["body"] for m in messages)
    reply = b"%d %s" % (len(messages), body[:10])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": reply})


def test_asgi_receive_gets_a_small_body_in_one_message(serve):
    body = b"0123456789" * 6000  # 60,000 bytes: within body_window (64 KiB)
    wire = post("/", body)
    with serve(ASGI(asgi_echo, lifespan="off")) as port:
        data = exchange(port, [wire[:20_000], wire[20_000:40_000], wire[40_000:]])
        assert bodies_of(data) == [b"1 0123456789"]
        big = b"z" * 300_000  # past body_window: streamed as it comes
        data = exchange(port, [post("/", big)[:100_000], post("/", big)[100_000:]])
    count, _, start = bodies_of(data)[0].partition(b" ")
    assert int(count) > 1 and start == b"z" * 10  # more than one message: not gathered


def test_wsgi_input_reads_a_body_sent_in_pieces(serve):
    def app(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d:%s" % (len(data), data[-5:])]

    body = pattern(50_000)
    wire = post("/", body)
    with serve(WSGI(app)) as port:
        data = exchange(port, [wire[:10_000], wire[10_000:]])
    assert bodies_of(data) == [b"50000:" + body[-5:]]


# ---- malloc_trim_threshold -----------------------------------------------------------------
@pytest.mark.parametrize("value", [-1, 2**31])
def test_malloc_trim_threshold_out_of_range_is_refused(value):
    with pytest.raises(InvalidSetting, match="malloc_trim_threshold"):
        App(malloc_trim_threshold=value)


@pytest.mark.parametrize("value", [0, 1, 2**31 - 1])
def test_malloc_trim_threshold_at_its_bounds_serves(wire, value):
    app = App(malloc_trim_threshold=value).post(
        "/", lambda res, req: res.on_data(lambda res, chunk, end: end and res.end(chunk))
    )
    assert wire(app).request("POST", "/", body=b"x" * 70_000).body == b"x" * 70_000


def test_the_core_takes_the_trim_threshold_only_where_it_can():
    from socketify._native import lib

    assert lib.sc_malloc_trim_threshold(0) == -2  # SC_EINVAL: 0 means "leave it"
    assert lib.sc_malloc_trim_threshold(2**31) == -2
    # glibc's allocator takes it; another C library, or ASan's allocator, has no such knob
    asan = os.environ.get("SOCKETIFY_SANITIZE") == "1"
    expected = 0 if platform.libc_ver()[0] == "glibc" and not asan else -2
    assert lib.sc_malloc_trim_threshold(4 * 1024 * 1024) == expected
