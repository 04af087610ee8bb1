"""res.cork(fn): what fn writes leaves in one write after it, wherever cork is called.

The memory transport counts the writes its fake socket takes (``conn.writes``), as a
socket would count send calls.  Inside a core callback everything is corked by the batch
anyway; the cases that matter are an asyncio task and a call handed to the loop from a
thread, where every write would otherwise leave at once.
"""

from __future__ import annotations

import asyncio
import threading

from socketify import App


def three_writes(res):
    res.write("a")
    res.write("b")
    res.end("c")


def test_cork_from_a_task_leaves_in_one_write(wire):
    app = App()
    corked = {}

    async def handler(res, req):
        await asyncio.sleep(0)  # from here on: a task, outside any core callback
        corked["flag"] = True
        res.cork(three_writes)

    async def uncorked(res, req):
        await asyncio.sleep(0)
        three_writes(res)

    app.get("/corked", handler)
    app.get("/plain", uncorked)
    client = wire(app)
    counts = {}
    for path in ("/plain", "/corked"):
        conn = client.connect()
        conn.feed(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        before = conn.writes
        reply = client.replies(conn)[0]
        assert reply.body == b"abc"
        counts[path] = conn.writes - before
    assert counts["/plain"] >= 3  # the control: each write leaves on its own
    assert counts["/corked"] == 1, counts


def test_cork_from_a_thread_through_the_loop_leaves_in_one_write(wire):
    app = App()
    client = wire(app)
    pending = []

    def handler(res, req):
        res.grab_aborted_handler()
        pending.append(res)

    app.get("/later", handler)
    conn = client.connect()
    conn.feed(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n")
    client.until(lambda: bool(pending))
    res = pending[0]
    before = conn.writes
    thread = threading.Thread(
        target=lambda: client.loop.call_soon_threadsafe(res.cork, three_writes)
    )
    thread.start()
    thread.join()
    reply = client.replies(conn)[0]
    assert reply.body == b"abc"
    assert conn.writes - before == 1


def test_cork_inside_the_handler_and_after_the_end_is_harmless(wire):
    app = App()
    app.get("/", lambda res, req: res.cork(three_writes).cork(three_writes))
    client = wire(app)
    conn = client.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.replies(conn)[0].body == b"abc"
    assert conn.writes == 1
