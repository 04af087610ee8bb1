from __future__ import annotations

import asyncio

import pytest

from socketify import App, MiddlewareRouter, middleware


def get_user(res, req, data):
    token = req.get_header("token")
    if token != "secret":
        res.write_status(403).end("forbidden")
        return None
    return {"name": "ann"}


def home(res, req, user):
    res.end(f"hello {user['name']}")


def test_middleware_chain_passes_data(wire):
    app = App().get("/", middleware(get_user, home))
    w = wire(app)
    assert w.get("/", headers=[("Token", "secret")]).text == "hello ann"
    reply = w.get("/")
    assert (reply.status, reply.text) == (403, "forbidden")


def test_falsy_return_stops_the_chain(wire):
    calls = []

    def stop(res, req, data):
        calls.append("stop")
        res.end("stopped")
        return False

    def never(res, req, data):
        calls.append("never")

    app = App().get("/", middleware(stop, never))
    assert wire(app).get("/").text == "stopped"
    assert calls == ["stop"]


def test_async_middleware_preserves_the_request(wire):
    async def slow_user(res, req, data):
        await asyncio.sleep(0.01)
        return {"path": req.get_url()}  # only works because the chain preserved req

    def show(res, req, data):
        res.end(f"{data['path']} {req.get_header('x-a')}")

    app = App().get("/p", middleware(slow_user, show))
    assert wire(app).get("/p", headers=[("X-A", "1")]).text == "/p 1"


def test_async_chain_keeps_body_chunks(wire):
    async def wait(res, req, data):
        await asyncio.sleep(0.02)
        return True

    async def echo(res, req, data):
        res.end((await res.get_data()).getvalue())

    app = App().post("/", middleware(wait, echo))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhel")
    conn.feed(b"lo")  # arrives while the middleware is still awaiting
    assert w.replies(conn)[0].body == b"hello"


def test_middleware_router(wire):
    app = App()
    auth = MiddlewareRouter(app, get_user)
    auth.get("/me", home)
    auth.post("/me", lambda res, req, user: res.end(f"posted {user['name']}"))
    w = wire(app)
    assert w.get("/me", headers=[("Token", "secret")]).text == "hello ann"
    assert w.request("POST", "/me", headers=[("Token", "secret")]).text == "posted ann"
    assert w.get("/me").status == 403


def test_middleware_raising_goes_to_the_error_handler(wire):
    def boom(res, req, data):
        raise KeyError("boom")

    seen = []
    app = App().get("/", middleware(boom, home))
    app.set_error_handler(lambda error, res, req: seen.append(error))
    reply = wire(app).get("/")
    assert reply.status == 500
    assert isinstance(seen[0], KeyError)


def test_middleware_needs_a_function():
    with pytest.raises(TypeError):
        middleware()
    with pytest.raises(TypeError):
        middleware("not callable", home)


def test_a_middleware_chain_inside_a_middleware_router_gets_the_data(wire):
    """The original's form: MiddlewareRouter(app, auth).get(path, middleware(more, handler))."""

    def add_role(res, req, user):
        return {**user, "role": "admin"}

    def show(res, req, user):
        res.end(f"{user['name']} is {user['role']}")

    app = App()
    MiddlewareRouter(app, get_user).get("/role", middleware(add_role, show))
    w = wire(app)
    assert w.get("/role", headers=[("Token", "secret")]).text == "ann is admin"
    assert w.get("/role").status == 403  # the outer middleware answered: no error


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_chain_that_stops_without_answering_gets_the_fallback_500(wire, asynchronous, caplog):
    async def async_gate(res, req, data):
        await asyncio.sleep(0)
        return None

    def sync_gate(res, req, data):
        return None

    app = App().get("/", middleware(async_gate if asynchronous else sync_gate, home))
    w = wire(app)
    reply = w.get("/", timeout=2.0)  # answered at once, not after the idle timeout
    assert reply.status == 500
    assert "without answering the request" in caplog.text


def test_a_chain_that_stops_without_answering_reaches_the_error_handler(wire):
    seen = []

    def handler(error, res, req):
        seen.append(type(error).__name__)
        res.write_status(401).end("login first")

    app = App().get("/", middleware(lambda res, req, data: False, home))
    app.on_error(handler)
    reply = wire(app).get("/")
    assert (reply.status, reply.text, seen) == (401, "login first", ["MiddlewareStopped"])
