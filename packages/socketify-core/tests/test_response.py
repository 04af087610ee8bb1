from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from socketify import App
from socketify.errors import InvalidHeader, InvalidStatus, ResponseStateError


def serve_one(wire, handler, method="GET", path="/", **kw):
    app = App()
    app.any("/*", handler)
    app.any("/", handler)
    return wire(app).request(method, path, **kw)


def test_end_with_str_bytes_and_none(wire):
    assert serve_one(wire, lambda res, req: res.end("héllo")).body == "héllo".encode()
    assert serve_one(wire, lambda res, req: res.end(b"\x00\x01")).body == b"\x00\x01"
    reply = serve_one(wire, lambda res, req: res.end())
    assert reply.body == b"" and reply.header("content-length") == "0"


def test_end_with_bytearray_and_memoryview(wire):
    assert serve_one(wire, lambda res, req: res.end(bytearray(b"ab"))).body == b"ab"
    assert serve_one(wire, lambda res, req: res.end(memoryview(b"cd"))).body == b"cd"


def test_end_with_object_is_json(wire):
    reply = serve_one(wire, lambda res, req: res.end({"Hello": "World!"}))
    assert reply.body == b'{"Hello":"World!"}' or reply.body == b'{"Hello": "World!"}'
    assert reply.header("content-type") == "application/json"


def test_json_keeps_a_content_type_that_was_written(wire):
    def handler(res, req):
        res.write_header("Content-Type", "application/vnd.x+json").end([1, 2])

    reply = serve_one(wire, handler)
    assert reply.header("content-type") == "application/vnd.x+json"
    assert reply.all("content-type") == ["application/vnd.x+json"]


def test_unserializable_object_is_a_500(wire):
    assert serve_one(wire, lambda res, req: res.end(object())).status == 500


def test_cork_end_and_end_connection(wire):
    app = App().get("/", lambda res, req: res.cork_end("bye", end_connection=True))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    (reply,) = w.replies(conn)
    assert reply.body == b"bye"
    assert reply.header("connection") == "close"
    assert w.until(lambda: not conn.open)


def test_write_in_parts_is_chunked(wire):
    def send_in_parts(res, req):
        res.write("I can")
        res.write(" send ")
        res.end(" in parts!")

    reply = serve_one(wire, send_in_parts)
    assert reply.header("transfer-encoding") == "chunked"
    assert reply.body == b"I can send  in parts!"


def test_write_with_content_length_is_not_chunked(wire):
    def handler(res, req):
        res.write_header("Content-Length", 6)
        res.write("abc")
        res.end("def")

    reply = serve_one(wire, handler)
    assert reply.header("transfer-encoding") is None
    assert reply.all("content-length") == ["6"]
    assert reply.body == b"abcdef"


def test_try_end_with_own_content_length_sends_one_length(wire):
    results = []

    def handler(res, req):
        res.write_header("Content-Length", 6)
        results.append(res.try_end(b"abc", 6))
        results.append(res.try_end(b"def", 6))

    reply = serve_one(wire, handler)
    assert reply.all("content-length") == ["6"] and reply.body == b"abcdef"
    assert results == [(True, False), (True, True)]


def test_try_end_with_own_content_length_is_framed_by_it(wire):
    """The header the handler wrote is the total, as for write()/end(): a keep-alive
    client reads exactly that many bytes and the next answer after them."""
    results = []

    def handler(res, req):
        res.write_header("Content-Length", 3)
        results.append(res.try_end(b"abc", 10))

    app = App().get("/", handler).get("/next", lambda res, req: res.end("next"))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    first, second = w.replies(conn, count=2)
    assert first.all("content-length") == ["3"] and first.body == b"abc"
    assert second.body == b"next"
    assert results == [(True, True)]


def test_end_without_body_on_200_keeps_keepalive_framing(wire):
    app = (
        App()
        .get("/empty", lambda res, req: res.end_without_body())
        .get("/", lambda res, req: res.end("x"))
    )
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    first, second = w.replies(conn, count=2)
    assert (first.status, first.header("content-length"), first.body) == (200, "0", b"")
    assert second.body == b"x"


def test_end_without_body_with_own_content_length_for_head(wire):
    def handler(res, req):
        res.write_header("Content-Length", 10).end_without_body()

    app = App().head("/h", handler)
    reply = wire(app).request("HEAD", "/h")
    assert reply.all("content-length") == ["10"]


def test_end_without_body(wire):
    def empty(res, req):
        res.write_status(204).end_without_body()

    reply = serve_one(wire, empty)
    assert reply.status == 204
    assert reply.header("content-length") is None


def test_write_status_int_str_bytes(wire):
    assert serve_one(wire, lambda res, req: res.write_status(404).end("x")).reason == "Not Found"
    reply = serve_one(wire, lambda res, req: res.write_status("200 OK").end("OK"))
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"OK")
    reply = serve_one(wire, lambda res, req: res.write_status(b"418 I'm a teapot").end())
    assert (reply.status, reply.reason) == (418, "I'm a teapot")
    reply = serve_one(wire, lambda res, req: res.write_status(299).end())
    assert (reply.status, reply.reason) == (299, "")


def test_bad_status_raises_in_the_handler(wire):
    caught = []

    def handler(res, req):
        try:
            res.write_status(99)
        except InvalidStatus as exc:
            caught.append(exc)
        try:
            res.write_status(1.5)
        except TypeError as exc:
            caught.append(exc)
        res.end("still fine")

    reply = serve_one(wire, handler)
    assert reply.body == b"still fine"
    assert len(caught) == 2


def test_send_variants(wire):
    reply = serve_one(wire, lambda res, req: res.send("Not Found", status=404))
    assert (reply.status, reply.body) == (404, b"Not Found")
    assert reply.header("content-type") == "text/plain"
    reply = serve_one(wire, lambda res, req: res.send("OK", status="200 OK"))
    assert (reply.status, reply.body) == (200, b"OK")  # a str status keeps the body
    reply = serve_one(wire, lambda res, req: res.send({"Hello": "World!"}))
    assert reply.header("content-type") == "application/json"
    assert b"World!" in reply.body


def test_send_with_headers_of_any_iterable(wire):
    def with_headers(res, req):
        res.send(
            {"Hello": "World!"},
            headers=(("X-Rate-Limit-Remaining", "10"), (b"Another-Headers", b"Value")),
        )

    reply = serve_one(wire, with_headers)
    assert reply.header("x-rate-limit-remaining") == "10"
    assert reply.header("another-headers") == "Value"
    assert reply.header("content-type") == "application/json"
    reply = serve_one(wire, lambda res, req: res.send("x", headers=iter([("A", 1)])))
    assert reply.header("a") == "1"


def test_send_content_type_and_cork_send(wire):
    reply = serve_one(
        wire, lambda res, req: res.cork_send("<b>", content_type="text/html", status=201)
    )
    assert (reply.status, reply.header("content-type"), reply.body) == (201, "text/html", b"<b>")
    reply = serve_one(
        wire, lambda res, req: res.send(b"x", headers=[("Content-Type", "image/png")])
    )
    assert reply.all("content-type") == ["image/png"]


def test_write_header_values_str_bytes_int(wire):
    def custom_header(res, req):
        res.write_header("Content-Type", "application/octet-stream")
        res.write_header("Content-Disposition", 'attachment; filename="message.txt"')
        res.write_header(b"X-Num", 7)
        res.write_headers([("X-A", "1"), ("X-A", "2")])
        res.end("Downloaded this ;)")

    reply = serve_one(wire, custom_header)
    assert reply.header("content-disposition") == 'attachment; filename="message.txt"'
    assert reply.header("x-num") == "7"
    assert reply.all("x-a") == ["1", "2"]


def test_header_injection_is_refused(wire):
    errors = []

    def handler(res, req):
        try:
            res.write_header("X", "a\r\nSet-Cookie: evil=1")
        except InvalidHeader as exc:
            errors.append(exc)
        res.end("ok")

    reply = serve_one(wire, handler)
    assert reply.header("set-cookie") is None
    assert errors


def test_headers_after_body_started_raise(wire):
    errors = []

    def handler(res, req):
        res.write("body")
        for call in (
            lambda: res.write_header("X", "1"),
            lambda: res.write_status(404),
            lambda: res.set_cookie("a", "b"),
        ):
            try:
                call()
            except ResponseStateError as exc:
                errors.append(exc)
        res.end()

    reply = serve_one(wire, handler)
    assert reply.status == 200 and reply.body == b"body"
    assert len(errors) == 3
    assert all(isinstance(e, RuntimeError) for e in errors)


def test_writes_after_end_are_noops_returning_res(wire):
    results = []

    def handler(res, req):
        res.end("first")
        results.append(res.end("second") is res)
        results.append(res.write("more") is res)
        results.append(res.write_header("X", "1") is res)
        results.append(res.write_status(500) is res)
        results.append(res.send("x") is res)
        results.append(res.has_responded())

    reply = serve_one(wire, handler)
    assert reply.body == b"first"
    assert results == [True] * 6


def test_has_responded_before_and_after(wire):
    seen = []

    def handler(res, req):
        seen.append(res.has_responded())
        res.end()
        seen.append(res.has_responded())

    serve_one(wire, handler)
    assert seen == [False, True]


def test_redirect_default_and_explicit(wire):
    reply = serve_one(wire, lambda res, req: res.redirect("/redirected"))
    assert (reply.status, reply.header("location")) == (302, "/redirected")
    assert reply.header("content-length") == "0"
    reply = serve_one(wire, lambda res, req: res.redirect("/p", 301))
    assert (reply.status, reply.header("location")) == (301, "/p")


def test_set_cookie_one_header_per_cookie(wire):
    def cookies(res, req):
        res.set_cookie(
            "session_id",
            "1234567890",
            {
                "path": "/",
                "httponly": True,
                "samesite": "None",
                "secure": True,
                "expires": datetime.utcnow() + timedelta(minutes=30),
            },
        )
        res.set_cookie("theme", "dark mode")
        res.end("cookies")

    reply = serve_one(wire, cookies)
    first, second = reply.all("set-cookie")
    assert first.startswith("session_id=1234567890; Path=/; HttpOnly; SameSite=None; Secure")
    assert "Expires=" in first and first.endswith(" GMT")
    assert second == "theme=dark%20mode"


def test_write_continue(wire):
    app = App().post("/", lambda res, req: res.write_continue().end("done"))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
    interim, final = w.replies(conn, count=2)
    assert interim.status == 100
    assert final.body == b"done"


def test_cork_runs_the_callback(wire):
    reply = serve_one(wire, lambda res, req: res.cork(lambda r: r.write_status(201).end("c")))
    assert (reply.status, reply.body) == (201, b"c")


def test_remote_address(wire):
    app = App()
    app.get(
        "/",
        lambda res, req: res.end(
            f"{res.get_remote_address()}|{res.get_remote_address_bytes().hex()}|"
            f"{res.get_proxied_remote_address()!r}|{res.get_proxied_remote_address_bytes()!r}"
        ),
    )
    w = wire(app)
    conn = w.connect(("10.1.2.3", 4000))
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert w.replies(conn)[0].text == "10.1.2.3|0a010203|''|b''"


def test_native_handle_is_an_int(wire):
    handles = []
    serve_one(wire, lambda res, req: (handles.append(res.get_native_handle()), res.end()))
    assert isinstance(handles[0], int) and handles[0] > 0


def test_sync_handler_without_response_leaves_it_open(wire):
    pending = []
    app = App().get("/", lambda res, req: pending.append(res))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    w.spin(0.01)
    assert conn.read() == b""
    pending[0].end("later")
    assert w.replies(conn)[0].body == b"later"


def test_abort_sets_aborted_and_calls_handler_and_writes_become_noops(wire):
    pending = []
    aborted = []

    def handler(res, req):
        res.on_aborted(lambda r: aborted.append(r.aborted))
        pending.append(res)

    app = App().get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.close()
    res = pending[0]
    assert res.aborted is True
    assert aborted == [True]
    assert res.end("too late") is res
    assert res.write("x") is res
    assert res.try_end(b"x", 1) == (False, True)
    assert res.has_responded()


def test_async_handler_gets_the_abort_handler_automatically(wire):
    states = []

    async def handler(res, req):
        await asyncio.sleep(0.05)
        states.append(res.aborted)
        res.end("ignored")

    app = App().get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.close()
    assert w.until(lambda: states)
    assert states == [True]


def test_close_closes_the_connection(wire):
    app = App().get("/", lambda res, req: res.close())
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert w.until(lambda: not conn.open)


def test_body_helpers(wire):
    app = App()

    async def echo_json(res, req):
        res.end({"got": await res.get_json()})

    async def echo_text(res, req):
        res.end(await res.get_text())

    async def echo_form(res, req):
        res.end(await res.get_form_urlencoded())

    async def echo_data(res, req):
        res.end((await res.get_data()).getvalue()[::-1])

    app.post("/json", echo_json).post("/text", echo_text).post("/form", echo_form)
    app.post("/data", echo_data)
    w = wire(app)
    assert w.request("POST", "/json", body=b'{"a": [1, 2]}').body.replace(b" ", b"") == (
        b'{"got":{"a":[1,2]}}'
    )
    assert w.request("POST", "/text", body="héllo".encode()).text == "héllo"
    form = json.loads(w.request("POST", "/form", body=b"a=1&b=x+y&a=2&c=%C3%A9").body)
    assert form == {"a": "1", "b": "x y", "c": "é"}
    assert w.request("POST", "/data", body=b"abc").body == b"cba"
    assert w.request("POST", "/data").body == b""  # no body at all


@pytest.mark.parametrize(
    "path, body",
    [("/json", b"{not json"), ("/text", b"\xff\xfe\xfa"), ("/form", b"a=%zz&&=")],
)
def test_invalid_bodies_reach_the_error_handler(wire, path, body):
    seen = []
    app = App()

    async def read_json(res, req):
        res.end(await res.get_json())

    async def read_text(res, req):
        res.end(await res.get_text())

    async def read_form(res, req):
        res.end(await res.get_form_urlencoded())

    app.post("/json", read_json).post("/text", read_text).post("/form", read_form)

    @app.on_error
    def on_error(error, res, req):
        seen.append(error)
        res.write_status(400).end(type(error).__name__)

    reply = wire(app).request("POST", path, body=body)
    assert reply.status == 400
    assert reply.text == "BodyDecodeError"
    assert isinstance(seen[0], ValueError)


def test_body_chunks_before_on_data_are_not_lost(wire):
    chunks = []
    holder = []

    def handler(res, req):
        holder.append(res)  # registers nothing yet

    app = App().post("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
    conn.feed(b"def")
    res = holder[0]

    def on_data(r, chunk, is_end):
        chunks.append((chunk, is_end))
        if is_end:
            r.end(b"".join(c for c, _ in chunks))

    res.on_data(on_data)
    assert w.replies(conn)[0].body == b"abcdef"
    assert chunks[-1][1] is True


def test_on_data_streams_chunked_bodies(wire):
    got = []

    def handler(res, req):
        def on_data(r, chunk, is_end):
            got.append(chunk)
            if is_end:
                r.end(str(len(b"".join(got))))

        res.on_data(on_data)

    app = App().post("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.feed(b"3\r\nabc\r\n")
    conn.feed(b"2\r\nde\r\n0\r\n\r\n")
    assert w.replies(conn)[0].text == "5"


def test_pause_and_resume(wire):
    got = []
    holder = []

    def handler(res, req):
        holder.append(res)
        res.pause()
        res.on_data(lambda r, chunk, is_end: (got.append(chunk), is_end and r.end("done")))

    app = App().post("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n")
    conn.feed(b"abc")
    w.spin(0.01)
    assert got == []
    holder[0].resume()
    assert w.replies(conn)[0].text == "done"
    assert b"".join(got) == b"abc"


def test_try_end_and_on_writable_with_backpressure(wire):
    payload = bytes(range(256)) * 400  # 100 KiB
    progress = []

    def handler(res, req):
        ok, done = res.try_end(payload, len(payload))
        progress.append((ok, done))
        if not ok:

            def on_writable(r, offset):
                ok, done = r.try_end(payload[offset:], len(payload))
                progress.append((ok, done))
                return ok

            res.on_writable(on_writable)

    app = App().get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(4096)
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    reply = w.replies(conn, timeout=5)[0]
    assert reply.body == payload
    assert progress[0] == (False, False)
    assert progress[-1] == (True, True)


def test_send_chunk_awaits_backpressure(wire):
    payload = b"x" * 50000 + b"y" * 50000

    async def handler(res, req):
        for start in range(0, len(payload), 25000):
            _ok, _done = await res.send_chunk(payload[start : start + 25000], len(payload))
        res.end()  # a no-op: the last chunk finished it

    app = App().get("/", handler)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(3000)
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert w.replies(conn, timeout=5)[0].body == payload


def test_write_offset_tracks_body_bytes(wire):
    offsets = []

    def handler(res, req):
        res.write("abcd")
        offsets.append(res.get_write_offset())
        res.end("ef")
        offsets.append(res.get_write_offset())

    serve_one(wire, handler)
    assert offsets == [4, 0]


def test_run_async_from_sync_route(wire):
    async def later(res):
        await asyncio.sleep(0.01)
        res.end("async done")

    app = App().get("/", lambda res, req: res.run_async(later(res)))
    assert wire(app).get("/").text == "async done"


def test_response_repr():
    from socketify.response import AppResponse

    assert "fresh" in repr(AppResponse(App(), 1))


# ---- Expect: 100-continue ------------------------------------------------------------------


def _expect_app():
    from socketify import App

    app = App()

    async def upload(res, req):
        data = await res.get_data()
        res.end(b"got " + data.getvalue())

    app.post("/upload", upload)
    app.post("/refuse", lambda res, req: res.write_status(401).end(b"no"))
    return app


EXPECT_HEAD = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"


def test_expect_continue_is_answered_when_the_handler_asks_for_the_body(wire: Any) -> None:
    app = _expect_app()
    w = wire(app)
    conn = w.connect()
    conn.feed(EXPECT_HEAD % b"/upload")
    w.spin(0.01)
    assert conn.read() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.feed(b"hello")
    [reply] = w.replies(conn)
    assert (reply.status, reply.body) == (200, b"got hello")
    assert conn.read() == b""  # 100 Continue never twice


def test_expect_continue_is_not_sent_when_the_handler_refuses_the_body() -> None:
    app = _expect_app()
    conn = app.memory_host().open_connection()
    conn.feed(EXPECT_HEAD % b"/refuse")
    out = conn.read()
    assert out.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"100 Continue" not in out


def test_a_body_decode_error_is_a_400_that_closes_without_an_error_handler(wire: Any) -> None:
    from socketify import App

    app = App()

    async def create(res, req):
        res.end(await res.get_json())

    app.post("/items", create)
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n{broken")
    [reply] = w.replies(conn)
    assert reply.status == 400
    assert reply.header("connection") == "close"
    assert reply.text.startswith("Bad Request: request body is not valid JSON")
    assert w.until(lambda: not conn.open)


def test_other_exceptions_stay_a_500() -> None:
    from socketify import App

    app = App()

    def boom(res, req):
        raise ValueError("not ours")

    app.get("/", boom)
    conn = app.memory_host().open_connection()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    out = conn.read()
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"not ours" not in out


def test_a_response_kept_by_its_handler_is_never_reused(wire):
    # CPython reuses a response that ended in its handler and that nothing kept (its
    # reference count says so); one that a handler kept must stay as it ended.
    kept = []
    same = []

    def first(res, req):
        kept.append(res)
        res.write_header("X-First", "1").end("first")

    def second(res, req):
        same.append(res is kept[0])
        res.end("second")

    app = App().get("/1", first).get("/2", second)
    w = wire(app)
    assert w.get("/1").body == b"first"
    handle = kept[0].get_native_handle()
    for _ in range(3):
        reply = w.get("/2")
        assert reply.body == b"second"
        assert reply.status == 200
        assert reply.header("x-first") is None
    assert same == [False, False, False]
    assert kept[0].has_responded()
    assert kept[0].get_native_handle() == handle
    assert kept[0].end("again") is kept[0]  # still a no-op: it ended


def test_each_response_starts_fresh_after_one_that_wrote_everything(wire):
    # Responses written in full (status, headers, a returned res) and then dropped: the
    # next response on the same connection starts with nothing of theirs.
    app = App()
    app.get("/full", lambda res, req: res.write_status(404).write_header("X-A", "1").end("a"))
    app.get("/plain", lambda res, req: res.end("b"))
    w = wire(app)
    conn = w.connect()
    for _ in range(3):
        conn.feed(b"GET /full HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        full, plain = w.replies(conn, count=2)
        assert (full.status, full.header("x-a"), full.body) == (404, "1", b"a")
        assert (plain.status, plain.body) == (200, b"b")
        assert plain.header("x-a") is None


def test_a_finished_hook_added_while_serving_sees_the_next_response(wire):
    # The plain response kept for reuse by the last request must not stand in for one
    # that reports to the hook.
    seen = []
    app = App().get("/", lambda res, req: res.end("ok"))
    w = wire(app)
    assert w.get("/").body == b"ok"
    app.on_finished(lambda res, info: seen.append(info.status))
    assert w.get("/").body == b"ok"
    assert seen == [200]


def test_reuse_is_off_when_reference_counts_do_not_read_as_expected():
    import sys

    from socketify.runtime import _refcount, refcount_probe

    assert refcount_probe(None) is None
    assert refcount_probe(lambda obj: 2) is None  # the same count, kept or not
    if sys.implementation.name != "cpython":
        assert _refcount is None  # PyPy: no reference counts, no reuse
        return

    def undercounting(obj):  # one less than CPython would say (this frame's own less too)
        return sys.getrefcount(obj) - 2

    def as_cpython(obj):  # what CPython says (less this frame's own reference)
        return sys.getrefcount(obj) - 1

    assert refcount_probe(undercounting) is None
    assert refcount_probe(as_cpython) is as_cpython
    assert refcount_probe(sys.getrefcount) is sys.getrefcount
    assert _refcount is sys.getrefcount


@pytest.mark.parametrize("ending", ["end", "end_without_body"])
def test_an_end_the_core_refuses_leaves_the_response_open_for_the_500(ending):
    # A head the core will not send (here a status line it refuses, set past the checks
    # write_status makes) fails end() before anything is sent: the response stays open, so
    # the error's 500 answers the client (before, the response was marked ended and the
    # client got nothing), and its handlers are dropped when the 500 ends it (before, the
    # refusal raised first and a handler holding the response made a reference cycle).
    import gc
    import weakref

    class Marker:
        pass

    kept = []
    errors = []
    responses = []
    app = App()

    def handler(res, req):
        marker = Marker()
        kept.append(weakref.ref(marker))
        responses.append(res)
        res.on_data(lambda _res, chunk, last: (res, marker))  # holds the response
        res._status = b"99 Refused\r\n"
        getattr(res, ending)()

    app.post("/", handler)
    app.on_error(lambda exc, res, req: errors.append(type(exc).__name__))  # keeps no exc
    host = app.memory_host()
    host.bind_loop(asyncio.new_event_loop())
    conn = host.open_connection()
    was_enabled = gc.isenabled()
    gc.disable()  # what the reference counts alone free
    try:
        conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        assert conn.read().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert errors == ["InvalidArgumentError"]
        handler_ = responses.pop()._ext.data_handler
        assert handler_ is not None and handler_.__name__ == "_body_taken"  # dropped
        if sys.implementation.name == "cpython":  # (PyPy frees by its GC alone)
            assert kept[0]() is None
    finally:
        if was_enabled:
            gc.enable()
