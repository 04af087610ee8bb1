"""res.send_fd / sc_res_sendfile on the memory transport: ordering, framing, the descriptor
the core owns (closed on every path), and the errors of bad calls."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from socketify import App
from socketify.errors import ResponseStateError

SIZE = 300_000
SC_ESTALE, SC_EINVAL = -1, -2
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    target = tmp_path / "blob.bin"
    target.write_bytes(os.urandom(SIZE))
    return target


def closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_whole_file_gets_its_content_length(wire: Any, blob: Path) -> None:
    app = App()

    async def handler(res: Any, req: Any) -> None:
        await res.send_fd(os.open(blob, os.O_RDONLY), 10, 1000)

    app.get("/", handler)
    w = wire(app)
    reply = w.get("/")
    assert reply.status == 200 and reply.header("content-length") == "1000"
    assert reply.body == blob.read_bytes()[10:1010]
    assert app.stats()["file_bytes_copied"] == 1000


def test_chunks_and_file_parts_leave_in_order(wire: Any, blob: Path) -> None:
    app = App()
    data = blob.read_bytes()

    async def handler(res: Any, req: Any) -> None:
        res.write(b"<")
        for start in (0, 200_000):
            assert await res.send_fd(os.open(blob, os.O_RDONLY), start, 70_000, end=False)
            res.write(b"|")
        res.end(b">")

    app.get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(5000)  # backpressure all along: pieces wait for the reader
    conn.feed(GET)
    reply = w.replies(conn, timeout=10)[0]
    assert reply.header("transfer-encoding") == "chunked"
    assert reply.body == b"<" + data[:70_000] + b"|" + data[200_000:270_000] + b"|>"


def test_bad_calls_raise_and_close_the_descriptor(wire: Any, blob: Path) -> None:
    app = App()
    seen: list[Any] = []

    async def handler(res: Any, req: Any) -> None:
        fd = os.open(blob, os.O_RDONLY)
        with pytest.raises(ValueError, match="offset and count as ints >= 0"):
            await res.send_fd(fd, -1, 10)
        seen.append(closed(fd))
        first = asyncio.ensure_future(res.send_fd(os.open(blob, os.O_RDONLY), 0, SIZE))
        await asyncio.sleep(0)  # queued: the core sends it meanwhile
        second = os.open(blob, os.O_RDONLY)
        with pytest.raises(ResponseStateError):
            await res.send_fd(second, 0, 10, end=False)
        seen.append(closed(second))
        seen.append(await first)

    app.get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(1000)
    conn.feed(GET)
    reply = w.replies(conn, timeout=10)[0]
    assert reply.body == blob.read_bytes()
    assert seen == [True, True, True]


def test_a_file_shorter_than_promised_closes_the_connection(
    open_fds: Any, wire: Any, blob: Path
) -> None:
    app = App()
    results: list[Any] = []

    async def handler(res: Any, req: Any) -> None:
        results.append(await res.send_fd(os.open(blob, os.O_RDONLY), SIZE - 10, 100))

    app.get("/", handler)
    w = wire(app)
    conn = w.connect()
    before = open_fds()
    conn.feed(GET)
    assert w.until(lambda: not conn.open)
    out = conn.read()
    assert b"Content-Length: 100" in out and out.endswith(blob.read_bytes()[-10:])
    assert w.until(lambda: bool(results))
    assert results == [False]  # the client saw 10 of 100 bytes and a close
    assert open_fds() == before


def test_a_file_past_the_handlers_content_length_is_cut_and_the_connection_closes(
    open_fds: Any, wire: Any, blob: Path
) -> None:
    app = App()

    async def handler(res: Any, req: Any) -> None:
        res.write_header("Content-Length", "7")
        await res.send_fd(os.open(blob, os.O_RDONLY), 100, 1000)

    app.get("/", handler)
    w = wire(app)
    conn = w.connect()
    before = open_fds()
    conn.feed(GET + GET)  # a keep-alive client: the cut bytes must never read as an answer
    assert w.until(lambda: not conn.open)
    out = conn.read()
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"Content-Length: 7" in head and head.count(b"HTTP/1.1 ") == 1
    assert body == blob.read_bytes()[100:107]
    assert open_fds() == before


def test_send_fd_after_the_client_left_closes_the_descriptor(wire: Any, blob: Path) -> None:
    app = App()
    results: list[Any] = []

    async def handler(res: Any, req: Any) -> None:
        res.grab_aborted_handler()
        await gate_holder[0]
        fd = os.open(blob, os.O_RDONLY)
        results.append(await res.send_fd(fd, 0, 100))
        results.append(closed(fd))

    gate_holder: list[Any] = []
    app.get("/", handler)
    w = wire(app)
    gate_holder.append(w.loop.create_future())
    conn = w.connect()
    conn.feed(GET)
    conn.close()
    w.spin(0.01)
    gate_holder[0].set_result(None)
    assert w.until(lambda: len(results) == 2)
    assert results == [False, True]


def test_the_core_call_owns_the_descriptor_on_every_error(wire: Any, blob: Path) -> None:
    from socketify._native import lib

    app = App()
    w = wire(app)
    native = app._rt.native_loop()
    fd = os.open(blob, os.O_RDONLY)
    assert lib.sc_res_sendfile(native, 12345, b"", 0, fd, 0, 10, 0) == SC_ESTALE
    assert closed(fd)
    assert lib.sc_res_sendfile(native, 12345, b"", 0, -1, 0, 10, 0) == SC_EINVAL
    w.spin(0)


def test_head_and_304_never_read_the_file(wire: Any, blob: Path) -> None:
    app = App()

    async def handler(res: Any, req: Any) -> None:
        if req.get_query("status"):
            res.write_status(304)
        await res.send_fd(os.open(blob, os.O_RDONLY), 0, SIZE)

    app.get("/", handler)
    w = wire(app)
    reply = w.request("HEAD", "/")
    assert reply.header("content-length") == str(SIZE) and reply.body == b""
    reply = w.get("/?status=1")
    assert reply.status == 304 and reply.body == b""
    assert app.stats()["file_bytes_copied"] == 0


def test_finished_hooks_count_the_file_bytes(wire: Any, blob: Path) -> None:
    app = App()
    app.static("/f", str(blob.parent))
    seen: list[tuple[int, int]] = []
    app.on_finished(lambda res, info: seen.append((info.status, info.body_bytes)))
    w = wire(app)
    w.get("/f/blob.bin", timeout=10)
    w.get("/f/blob.bin", headers=[("Range", "bytes=1000-200999")], timeout=10)
    w.request("HEAD", "/f/blob.bin")
    assert w.until(lambda: len(seen) == 3)
    assert sorted(seen) == [(200, 0), (200, SIZE), (206, 200_000)]  # HEAD may end first
