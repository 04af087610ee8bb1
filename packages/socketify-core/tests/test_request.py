from __future__ import annotations

import asyncio

import pytest

from socketify import App, AppRequest, Request
from socketify.errors import RequestExpired


def capture(wire, target="/", headers=(), method="GET", pattern="/*", version="HTTP/1.1"):
    """Run one request; return what the handler computed via the ``probe`` function."""
    out = {}

    def make(probe):
        app = App()

        def handler(res, req):
            out.update(probe(req))
            res.end("ok")

        app.any(pattern, handler)
        w = wire(app)
        conn = w.connect()
        lines = [f"{method} {target} {version}", "Host: test", *(f"{k}: {v}" for k, v in headers)]
        conn.feed(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        w.replies(conn, head_request=method == "HEAD")
        return out

    return make


def test_request_alias():
    assert Request is AppRequest


def test_url_full_url_and_method(wire):
    out = capture(wire, "/a%20b/c?x=1&y=%41")(
        lambda req: {"url": req.get_url(), "full": req.get_full_url(), "m": req.get_method()}
    )
    assert out == {"url": "/a%20b/c", "full": "/a%20b/c?x=1&y=%41", "m": "GET"}


def test_method_as_sent(wire):
    out = capture(wire, "/", method="PATCH")(lambda req: {"m": req.get_method()})
    assert out["m"] == "PATCH"


def test_headers(wire):
    headers = [("Authorization", "Bearer x"), ("X-Multi", "a"), ("X-Multi", "b"), ("Accept", "*/*")]
    out = capture(wire, "/", headers)(
        lambda req: {
            "auth": req.get_header("authorization"),
            "upper": req.get_header("Authorization"),
            "first": req.get_header("x-multi"),
            "missing": req.get_header("nope"),
            "all": req.get_headers(),
        }
    )
    assert out["auth"] == out["upper"] == "Bearer x"
    assert out["first"] == "a"
    assert out["missing"] is None
    assert out["all"]["x-multi"] == "a, b"
    assert out["all"]["host"] == "test"
    assert out["all"]["accept"] == "*/*"


def test_for_each_header_in_order(wire):
    seen = []
    capture(wire, "/", [("A", "1"), ("B", "2")])(
        lambda req: req.for_each_header(lambda k, v: seen.append((k, v))) or {}
    )
    assert seen == [("host", "test"), ("a", "1"), ("b", "2")]


def test_query(wire):
    out = capture(wire, "/s?search=hello+world&tag=a&tag=b&enc=%C3%A9&empty=")(
        lambda req: {
            "search": req.get_query("search"),
            "tag": req.get_query("tag"),
            "enc": req.get_query("enc"),
            "empty": req.get_query("empty"),
            "none": req.get_query("nope"),
            "all": req.get_queries(),
        }
    )
    assert out["search"] == "hello world"
    assert out["tag"] == "a"
    assert out["enc"] == "é"
    assert out["empty"] == ""
    assert out["none"] is None
    assert out["all"]["tag"] == ["a", "b"]


def test_no_query(wire):
    out = capture(wire, "/s")(lambda req: {"q": req.get_queries(), "x": req.get_query("x")})
    assert out == {"q": {}, "x": None}


def test_parameters(wire):
    out = capture(wire, "/user/42/post/a%20b", pattern="/user/:id/post/:slug")(
        lambda req: {
            "p0": req.get_parameter(0),
            "p1": req.get_parameter(1),
            "p9": req.get_parameter(9),
            "all": req.get_parameters(),
            "by_index": req.get_parameters(1),
            "named": req.get_parameters_dict(),
        }
    )
    assert out["p0"] == "42"
    assert out["p1"] == "a b"
    assert out["p9"] is None
    assert out["all"] == ["42", "a b"]
    assert out["by_index"] == "a b"
    assert out["named"] == {"id": "42", "slug": "a b"}


def test_parameter_index_must_be_int(wire):
    errors = []

    def probe(req):
        try:
            req.get_parameter("0")
        except TypeError as exc:
            errors.append(exc)
        return {}

    capture(wire, "/u/1", pattern="/u/:id")(probe)
    assert errors


def test_cookies(wire):
    out = capture(wire, "/", [("Cookie", "session_id=abc; theme=dark%20mode")])(
        lambda req: {
            "sid": req.get_cookie("session_id"),
            "theme": req.get_cookie("theme"),
            "none": req.get_cookie("x"),
            "all": req.get_cookies(),
        }
    )
    assert out["sid"] == "abc"
    assert out["theme"] == "dark mode"
    assert out["none"] is None
    assert out["all"] == {"session_id": "abc", "theme": "dark mode"}


def test_is_ancient(wire):
    assert capture(wire, "/", version="HTTP/1.0")(lambda req: {"a": req.is_ancient()}) == {
        "a": True
    }
    assert capture(wire, "/")(lambda req: {"a": req.is_ancient()}) == {"a": False}


def test_yield_flag(wire):
    out = capture(wire, "/")(lambda req: {"before": req.get_yield(), "set": req.set_yield(False)})
    assert out["before"] is False


def test_request_used_after_callback_raises(wire):
    kept = []
    app = App().get("/", lambda res, req: (kept.append(req), res.end()))
    wire(app).get("/")
    req = kept[0]
    for call in (
        req.get_url,
        req.get_full_url,
        req.get_method,
        req.get_headers,
        req.get_queries,
        req.get_cookies,
        req.is_ancient,
        req.get_parameters,
        req.preserve,
        lambda: req.get_header("host"),
        lambda: req.get_query("x"),
        lambda: req.get_cookie("x"),
        lambda: req.get_parameter(0),
    ):
        with pytest.raises(RequestExpired, match="preserve"):
            call()
    assert isinstance(RequestExpired("x"), RuntimeError)
    assert "expired" in repr(req)


def test_request_used_inside_another_request_raises(wire):
    kept = []
    results = []

    def first(res, req):
        kept.append(req)
        res.end()

    def second(res, req):
        try:
            kept[0].get_header("host")
        except RuntimeError:
            results.append("refused")
        res.end()

    app = App().get("/1", first).get("/2", second)
    w = wire(app)
    w.get("/1")
    w.get("/2")
    assert results == ["refused"]


def test_preserve_keeps_everything_after_await(wire):
    out = {}

    async def handler(res, req):
        req.preserve()
        await asyncio.sleep(0.01)
        out.update(
            url=req.get_url(),
            full=req.get_full_url(),
            method=req.get_method(),
            header=req.get_header("x-a"),
            headers=req.get_headers(),
            query=req.get_query("q"),
            cookie=req.get_cookie("c"),
            param=req.get_parameter(0),
            ancient=req.is_ancient(),
        )
        res.end("ok")

    app = App().get("/p/:id", handler)
    w = wire(app)
    w.get("/p/9?q=1", headers=[("X-A", "v"), ("Cookie", "c=k")])
    assert out == {
        "url": "/p/9",
        "full": "/p/9?q=1",
        "method": "GET",
        "header": "v",
        "headers": {"host": "test", "x-a": "v", "cookie": "c=k"},
        "query": "1",
        "cookie": "k",
        "param": "9",
        "ancient": False,
    }


def test_async_handler_can_read_req_before_first_await(wire):
    async def handler(res, req):
        name = req.get_query("name")
        await asyncio.sleep(0.01)
        res.end(f"hi {name}")

    app = App().get("/", handler)
    assert wire(app).get("/?name=ann").text == "hi ann"


def test_async_handler_reading_req_after_await_gets_500(wire):
    async def handler(res, req):
        await asyncio.sleep(0.01)
        res.end(req.get_url())

    app = App().get("/", handler)
    assert wire(app).get("/").status == 500
