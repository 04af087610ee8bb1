"""Each call from the core runs in its own copy of the context: a ContextVar that one
request's code sets (a handler, an async handler's Task, an ASGI app, a WebSocket handler)
never reaches another request, while the request's own Task still sees what its first step
set.  Before, the first step of every handler ran in the loop's context and leaked."""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import logging
import platform

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


def post_head(path: str, size: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode()


def test_body_callbacks_run_in_their_own_request_context():
    # The core calls on_data later, from its own poll: the handler runs in the context it
    # was registered in (its request's), never in another request's nor the loop's.
    # Before, each call got a fresh copy of the loop's context: "unset" every time.
    app = App()
    seen = []

    def upload(res, req):
        name = req.get_url()
        var.set("set by " + name)

        def on_data(_res, chunk, last):
            seen.append((name, var.get()))
            var.set("on_data of " + name)  # its request's later chunks see it
            if last:
                _res.end(var.get())

        res.on_data(on_data)

    app.post("/*", upload)
    host = app.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    first = host.open_connection()
    second = host.open_connection()
    first.feed(post_head("/a", 4))  # both handlers run and register before any body
    second.feed(post_head("/b", 4))
    first.feed(b"12")
    second.feed(b"12")
    first.feed(b"34")
    second.feed(b"34")
    assert seen == [
        ("/a", "set by /a"),
        ("/b", "set by /b"),
        ("/a", "on_data of /a"),
        ("/b", "on_data of /b"),
    ]
    assert first.read().endswith(b"\r\n\r\non_data of /a")
    assert second.read().endswith(b"\r\n\r\non_data of /b")
    assert var.get() == "unset"  # nothing reached the caller's context


def test_a_writable_callback_runs_in_its_request_context(serve):
    # on_writable fires once a client drains what backpressure held: the handler sees
    # what its request set; another request on its own connection sees its own
    app = App()
    got = {}

    def big(res, req):
        name = req.get_url()
        var.set("set by " + name)
        payload = b"x" * (8 * 1024 * 1024)

        def writable(_res, offset):
            got.setdefault(name, var.get())
            ok, done = _res.try_end(payload[offset:], len(payload))
            return ok or done

        ok, done = res.try_end(payload, len(payload))
        if not (ok or done):
            res.on_writable(writable)
        else:
            got[name] = "never held back"

    app.get("/*", big)
    with serve(app) as port:
        bodies = []
        for path in ("/one", "/two"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", path)
                bodies.append(len(conn.getresponse().read()))
            finally:
                conn.close()
    assert bodies == [8 * 1024 * 1024] * 2
    assert got == {"/one": "set by /one", "/two": "set by /two"}


def test_an_abort_from_inside_a_body_callback_runs_in_a_copy_of_its_context(caplog):
    # res.close() in on_data makes the core call on_aborted at once, while on_data's
    # context is still entered: the abort runs in a copy of it (a context cannot be entered
    # twice: entering it again raised into the core's callback, logged) and its handler
    # sees what on_data set, and sets nothing there
    app = App()
    seen = []

    def upload(res, req):
        var.set("request")

        def on_data(_res, chunk, last):
            var.set("on_data")
            _res.close()
            seen.append(("after close", var.get()))

        def aborted(_res):
            seen.append(("aborted", var.get()))
            var.set("set by the abort handler")

        res.on_aborted(aborted)
        res.on_data(on_data)

    app.post("/", upload)
    host = app.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    conn = host.open_connection()
    conn.feed(post_head("/", 4))
    conn.feed(b"1234")
    assert seen == [("aborted", "on_data"), ("after close", "on_data")]
    assert var.get() == "unset"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_abort_handler_alone_runs_in_its_request_context():
    # on_aborted is the only handler registered: it still sees what its request set
    app = App()
    seen = []

    def hold(res, req):
        var.set(req.get_query("name"))
        res.on_aborted(lambda _res: seen.append(var.get()))  # no end(): the client leaves

    app.get("/", hold)
    host = app.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    for name in ("first", "second"):
        conn = host.open_connection()
        conn.feed(f"GET /?name={name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert seen == [] if name == "first" else seen == ["first"]
        conn.close()
    assert seen == ["first", "second"]
    assert var.get() == "unset"


class Marker:
    pass


def test_a_response_lets_go_of_its_handlers_context_when_it_ends():
    # A value that leads back to the response (here a ContextVar holding it, as a "current
    # request" var does) must not keep it in a cycle through the context its handlers were
    # registered in: once the response ends or is aborted, that context is let go.
    import gc
    import weakref

    app = App()
    refs = []

    def upload(res, req):
        marker = Marker()
        refs.append(weakref.ref(marker))
        var.set((res, marker))
        res.on_aborted(lambda _res: None)
        res.on_data(lambda _res, chunk, last: last and _res.end("ok"))

    def hold(res, req):
        marker = Marker()
        refs.append(weakref.ref(marker))
        var.set((res, marker))
        res.on_writable(lambda _res, _offset: True)
        res.on_aborted(lambda _res: None)  # the client leaves

    app.post("/up", upload)
    app.get("/hold", hold)
    host = app.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    enabled = gc.isenabled()
    gc.disable()  # on CPython reference counts alone must free them: no cycle is left
    try:
        conn = host.open_connection()
        conn.feed(post_head("/up", 4) + b"1234")
        assert b"ok" in conn.read()
        conn = host.open_connection()
        conn.feed(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.close()
        conn = None
        if platform.python_implementation() == "PyPy":  # no reference counts: the GC frees
            gc.collect()
        assert [ref() for ref in refs] == [None, None]
    finally:
        if enabled:
            gc.enable()
