"""TestClient(asgi_app) / TestClient(wsgi_app): the adapters driven on the memory transport."""

from __future__ import annotations

import asyncio

import pytest

from socketify import ASGI, WSGI
from socketify.interface import InterfaceError
from socketify_testing import AsyncTestClient, TestClient, WebSocketDisconnect


def lifespan_app(log):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                log.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["n"] = 41
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept", "subprotocol": "chat"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    log.append(("ws closed", message["code"]))
                    return
                if message.get("text") == "quit":
                    await send({"type": "websocket.close", "code": 4002, "reason": "bye"})
                    return
                await send(
                    {"type": "websocket.send", "bytes": (message.get("text") or "").encode()}
                )
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        state = scope.get("state", {}).get("n", 0)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-n", str(state).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body or scope["path"].encode()})

    return app


def test_a_raw_asgi_app_with_lifespan_in_with():
    log = []
    with TestClient(lifespan_app(log)) as client:
        assert isinstance(client.app, ASGI)
        response = client.post("/x", content=b"payload")
        assert (response.status_code, response.text) == (200, "payload")
        assert response.headers["x-n"] == "41"
        assert client.get("/path").text == "/path"
    assert log == ["lifespan.startup", "lifespan.shutdown"]


def test_without_with_there_is_no_lifespan_and_no_warning(recwarn):
    log = []
    client = TestClient(lifespan_app(log))
    assert client.get("/").headers["x-n"] == "0"
    client.close()
    assert log == []
    assert not [w for w in recwarn if "LifespanWarning" in type(w.message).__name__]


def test_websocket_connect_on_a_raw_asgi_app():
    log = []
    with TestClient(lifespan_app(log)) as client:
        with client.websocket_connect("/ws", subprotocols=["chat"]) as ws:
            ws.send_text("abc")
            assert ws.receive_bytes() == b"abc"
            ws.send_text("quit")
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
            assert info.value.code == 4002


def test_the_async_client_drives_an_asgi_app():
    log = []

    async def main():
        async with AsyncTestClient(lifespan_app(log)) as client:
            response = await client.put("/y", content=b"zz")
            return response.text

    assert asyncio.run(main()) == "zz"
    assert log == ["lifespan.startup", "lifespan.shutdown"]


def test_a_raw_wsgi_app_and_its_body():
    def app(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [environ["REQUEST_METHOD"].encode(), b" ", data]

    client = TestClient(app)
    assert isinstance(client.app, WSGI)
    response = client.post("/", content=b"body!")
    assert (response.status_code, response.text) == (201, "POST body!")
    client.close()


def test_objects_that_are_no_application_are_refused_clearly():
    with pytest.raises(InterfaceError, match="not callable"):
        TestClient(42)

    def three(a, b, c):
        return None

    with pytest.raises(InterfaceError, match="cannot tell whether"):
        TestClient(three)

    async def two(a, b):
        return None

    with pytest.raises(InterfaceError, match="takes \\(scope, receive, send\\)"):
        TestClient(two)


def test_each_scope_has_its_own_extension_dicts() -> None:
    # middleware may write into scope["extensions"][...]: nothing leaks to the next request
    seen = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        trailers = scope["extensions"]["http.response.trailers"]
        seen.append(dict(trailers))
        trailers["marked"] = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with TestClient(ASGI(app, lifespan="off")) as client:
        assert client.get("/").status_code == 204
        assert client.get("/").status_code == 204
    assert seen == [{}, {}]
