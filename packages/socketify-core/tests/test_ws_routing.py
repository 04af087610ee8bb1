"""WebSocket routes win upgrade requests; plain requests keep their HTTP routes.

As in uWebSockets, an upgrade handler outranks GET and ANY routes: ``app.ws("/*")`` beside
``app.get("/")`` takes the WebSocket upgrade to ``/`` while a plain GET to ``/`` still gets
the HTTP route.  Over real sockets with the ``websockets`` client, and over the memory
transport for the exact answers.
"""

from __future__ import annotations

import asyncio
import http.client

import pytest

from socketify import App

websockets = pytest.importorskip("websockets")


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def echo(tag: str) -> dict:
    return {"message": lambda ws, message, opcode: ws.send(f"{tag}:{message}")}


def http_get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


async def ws_roundtrip(port: int, path: str, text: str = "hi") -> str:
    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", compression=None) as ws:
        await ws.send(text)
        return await ws.recv()


@pytest.mark.parametrize(
    ("ws_pattern", "http_method", "http_pattern", "path"),
    [
        ("/*", "get", "/", "/"),  # the case
        ("/*", "any", "/", "/"),
        ("/", "get", "/", "/"),  # the same static pattern on both sides
        ("/room/:id", "get", "/room/:id", "/room/7"),  # parameters on both sides
        ("/room/:id", "any", "/*", "/room/7"),  # an HTTP wildcard above a ws parameter
        ("/*", "get", "/room/:id", "/room/7"),  # a ws wildcard above an HTTP parameter
        ("/live", "get", "/live", "/live"),
    ],
)
def test_upgrade_reaches_the_ws_route_and_plain_get_the_http_route(
    serve, ws_pattern, http_method, http_pattern, path
):
    app = App()
    getattr(app, http_method)(http_pattern, lambda res, req: res.end("http"))
    app.ws(ws_pattern, echo("ws"))
    with serve(app) as port:
        assert run(ws_roundtrip(port, path)) == "ws:hi"
        assert http_get(port, path) == (200, "http")


def test_a_plain_get_to_a_ws_only_path_still_gets_426(wire):
    app = App().ws("/ws", echo("ws"))
    app.get("/page", lambda res, req: res.end("page"))
    client = wire(app)
    assert client.get("/ws").status == 426
    assert client.get("/page").text == "page"
    reply = client.request("POST", "/ws")
    assert reply.status == 405 and reply.header("allow") == "GET, HEAD"
    assert client.get("/nowhere").status == 404


def test_set_yield_from_a_ws_route_passes_the_upgrade_on(serve):
    app = App()

    def maybe(res, req, context):
        if req.get_header("sec-websocket-protocol") != "first":
            req.set_yield(True)  # not mine: the next ws route decides
            return None
        res.upgrade(
            req.get_header("sec-websocket-key"),
            "first",
            req.get_header("sec-websocket-extensions"),
            context,
        )
        return None

    app.ws("/chat/:room", {**echo("first"), "upgrade": maybe})
    app.ws("/*", echo("fallback"))
    app.get("/chat/:room", lambda res, req: res.end("http"))
    with serve(app) as port:

        async def main() -> tuple[str, str]:
            url = f"ws://127.0.0.1:{port}/chat/1"
            async with websockets.connect(url, subprotocols=["first"], compression=None) as ws:
                await ws.send("a")
                first = await ws.recv()
            async with websockets.connect(url, compression=None) as ws:
                await ws.send("b")
                second = await ws.recv()
            return first, second

        assert run(main()) == ("first:a", "fallback:b")
        assert http_get(port, "/chat/1") == (200, "http")


def test_a_ws_route_that_yields_past_every_ws_route_reaches_the_http_route(wire):
    app = App()

    def not_mine(res, req, context):
        req.set_yield(True)

    app.ws("/x", {**echo("ws"), "upgrade": not_mine})
    app.get("/x", lambda res, req: res.end("http took it"))
    client = wire(app)
    reply = client.get(
        "/x",
        headers=[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    assert (reply.status, reply.body) == (200, b"http took it")
