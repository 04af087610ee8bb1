"""A finished request leaves no reference cycle behind (CPython).

A response keeps the handlers it was given (``on_aborted``, ``on_data``, ``on_writable``);
a handler that holds the response (a closure, a bound method of an object that keeps it:
the WSGI and ASGI adapters' per-request objects) made a cycle that only the cyclic GC could
free: about 10% of the server's CPU per WSGI request went to collecting them.  The handlers
are dropped when the response finishes, so each request is freed by its reference count.
"""

from __future__ import annotations

import gc
import platform

import pytest

from socketify import ASGI, WSGI, App
from socketify_testing import TestClient

pytestmark = pytest.mark.skipif(
    platform.python_implementation() != "CPython",
    reason="reference counting frees objects at once only on CPython (PyPy has no refcounts)",
)

ROUNDS = 200


def garbage_after(client: TestClient, call) -> list:
    for _ in range(20):  # warm-up: caches, lazily made objects
        call(client)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(ROUNDS):
            call(client)
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return garbage


def kinds(garbage: list) -> set:
    return {type(obj).__name__ for obj in garbage}


def test_app_handlers_holding_the_response_make_no_cycle():
    app = App()

    def aborted_keeps_res(res, req):
        res.on_aborted(lambda _res: print("gone", res))
        res.end("ok")

    async def body_and_abort(res, req):
        res.on_aborted(lambda _res: print("gone", res))
        data = await res.get_data()
        res.end(data.getvalue())

    def on_data_keeps_res(res, req):
        parts = []

        def chunk(_res, data, last):
            parts.append(bytes(data))
            if last:
                res.end(b"".join(parts))

        res.on_data(chunk)

    app.get("/abort", aborted_keeps_res)
    app.post("/body", body_and_abort)
    app.post("/data", on_data_keeps_res)
    with TestClient(app) as client:
        for path, method in (("/abort", "get"), ("/body", "post"), ("/data", "post")):

            def call(c, path=path, method=method):
                reply = c.get(path) if method == "get" else c.post(path, content=b"x" * 100)
                assert reply.status_code == 200

            garbage = garbage_after(client, call)
            assert "AppResponse" not in kinds(garbage), (path, sorted(kinds(garbage)))


def wsgi_app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body or b"hello"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_wsgi_request_makes_no_cycle(method):
    with TestClient(WSGI(wsgi_app)) as client:

        def call(c):
            reply = c.get("/") if method == "get" else c.post("/", content=b"y" * 100)
            assert reply.status_code == 200

        garbage = garbage_after(client, call)
        assert "AppResponse" not in kinds(garbage), sorted(kinds(garbage))


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    message = {"more_body": True}
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body or b"hello"})


@pytest.mark.parametrize("method", ["get", "post"])
def test_asgi_request_makes_no_cycle(method):
    with TestClient(ASGI(asgi_app, lifespan="off")) as client:

        def call(c):
            reply = c.get("/") if method == "get" else c.post("/", content=b"z" * 100)
            assert reply.status_code == 200

        garbage = garbage_after(client, call)
        assert "AppResponse" not in kinds(garbage), sorted(kinds(garbage))
