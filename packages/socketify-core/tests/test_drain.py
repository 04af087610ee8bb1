"""Backpressure that resumes: ``drain`` and ``on_writable`` after output that never blocked.

The original socketify's idiom: send until ``ws.get_buffered_amount()`` passes a threshold,
then continue in ``drain``.  Bytes written inside a callback are corked, so they count as
buffered even when the socket takes them all at the end of the callback; drain must fire then
too, or the stream stops for good.  The same for HTTP: write until ``get_write_offset()``
passes a mark, continue in ``on_writable``.  Real sockets, a fast and a slow reader.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from socketify import App, OpCode

websockets = pytest.importorskip("websockets")

TOTAL = 3000
PAYLOAD = b"m" * 1024
THRESHOLD = 32 * 1024


def streaming_app() -> App:
    sent: dict[int, int] = {}

    def pump(ws):
        key = id(ws)
        while sent[key] < TOTAL and ws.get_buffered_amount() < THRESHOLD:
            ws.send(sent[key].to_bytes(4, "big") + PAYLOAD, OpCode.BINARY)
            sent[key] += 1
        # here the buffered amount passed the threshold: drain continues the stream

    def open_(ws):
        sent[id(ws)] = 0
        pump(ws)

    return App().ws("/stream", {"open": open_, "drain": pump, "max_backpressure": 1 << 24})


@pytest.mark.parametrize("slow", [False, True])
def test_a_stream_that_waits_for_drain_never_stalls(serve, slow):
    with serve(streaming_app()) as port:

        async def main() -> list[int]:
            seen = []
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/stream", compression=None, max_queue=4
            ) as ws:
                while len(seen) < TOTAL:
                    message = await asyncio.wait_for(ws.recv(), 5)
                    seen.append(int.from_bytes(message[:4], "big"))
                    if slow and len(seen) % 200 == 0:
                        await asyncio.sleep(0.02)  # a reader that falls behind
            return seen

        seen = asyncio.run(asyncio.wait_for(main(), 60))
    assert seen == list(range(TOTAL))


CHUNK = b"h" * 4096
BIG = 400 * len(CHUNK)


def big_app() -> App:
    chunk, total = CHUNK, BIG

    def handler(res, req):
        res.write_header("Content-Length", str(total))

        def more(res, offset):
            while res.get_write_offset() < total:
                res.write(chunk)
                if res.get_write_offset() - offset >= 64 * 1024:
                    return False  # enough for now: on_writable goes on
            res.end()
            return True

        more(res, 0)
        if not res.has_responded():
            res.on_writable(more)

    return App().get("/big", handler)


def test_http_on_writable_fires_after_corked_output_left_memory(wire):
    client = wire(big_app())
    reply = client.get("/big", timeout=10)
    assert reply.status == 200 and reply.body == CHUNK * 400


def test_http_on_writable_fires_after_corked_output_left(serve):
    total = BIG
    with serve(big_app()) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 10
            while len(data) < total and time.monotonic() < deadline:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) == total
