"""Each call from the core runs in its own copy of the context: a ContextVar that one
request's code sets (a handler, an async handler's Task, an ASGI app, a WebSocket handler)
never reaches another request, while the request's own Task still sees what its first step
set.  Before, the first step of every handler ran in the loop's context and leaked."""

from __future__ import annotations

import asyncio
import contextvars
import http.client

from socketify import ASGI, App
from socketify_testing import TestClient

var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


def test_a_sync_handler_leaves_nothing_for_the_next_request():
    app = App()

    def handler(res, req):
        seen = var.get()
        var.set("set by " + req.get_url())
        res.end(seen)

    app.get("/*", handler)
    with TestClient(app) as client:
        assert [client.get(path).text for path in ("/a", "/b", "/c")] == ["unset"] * 3
    assert var.get() == "unset"


def test_an_async_handler_keeps_its_value_across_awaits_and_leaves_none_behind():
    app = App()

    async def finishes_at_once(res, req):
        seen = var.get()
        var.set("first step of " + req.get_url())
        res.end(seen)

    async def suspends(res, req):
        seen = var.get()
        var.set("mine")
        await asyncio.sleep(0)
        after = var.get()
        var.set("after the await")
        await asyncio.sleep(0)
        res.end(f"{seen}|{after}|{var.get()}")

    app.get("/now", finishes_at_once)
    app.get("/later", suspends)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/now").text == "unset"
            assert client.get("/later").text == "unset|mine|after the await"
    assert var.get() == "unset"


def test_a_value_set_before_the_request_is_seen_by_it():
    app = App()
    app.get("/", lambda res, req: res.end(var.get()))
    with TestClient(app) as client:
        token = var.set("from the caller")
        try:
            assert client.get("/").text == "from the caller"
        finally:
            var.reset(token)
        assert client.get("/").text == "unset"


def test_a_body_callback_leaves_nothing_behind():
    app = App()

    def upload(res, req):
        seen = [var.get()]

        def on_data(_res, chunk, last):
            seen.append(var.get())
            var.set("set in on_data")
            if last:
                res.end("|".join(seen))

        res.on_data(on_data)

    app.post("/", upload)
    with TestClient(app) as client:
        for _ in range(2):
            text = client.post("/", content=b"x" * 10).text
            assert set(text.split("|")) == {"unset"}


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    seen = var.get()
    var.set("set by " + scope["path"])
    if scope["path"] == "/suspend":
        await asyncio.sleep(0)
        seen += "|" + var.get()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": seen.encode()})


def test_an_asgi_app_sees_a_fresh_context_per_request_through_the_test_client():
    with TestClient(asgi_app) as client:
        for _ in range(3):
            assert client.get("/a").text == "unset"
            assert client.get("/suspend").text == "unset|set by /suspend"
    assert var.get() == "unset"


def test_an_asgi_app_sees_a_fresh_context_per_request_over_sockets(serve):
    with serve(ASGI(asgi_app, lifespan="off")) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            bodies = []
            for path in ("/a", "/suspend", "/b", "/suspend"):  # one keep-alive connection
                conn.request("GET", path)
                bodies.append(conn.getresponse().read())
        finally:
            conn.close()
    assert bodies == [b"unset", b"unset|set by /suspend", b"unset", b"unset|set by /suspend"]


def test_a_websocket_handler_leaves_nothing_for_the_next_message():
    app = App()

    def message(ws, data, opcode):
        seen = var.get()
        var.set("set by " + str(data))
        ws.send(seen, opcode)

    app.ws("/ws", {"message": message})
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            replies = []
            for text in ("one", "two", "three"):
                ws.send_text(text)
                replies.append(ws.receive_text())
    assert replies == ["unset"] * 3
