"""Real frameworks on the core: Starlette and FastAPI (ASGI), Flask (WSGI), over real
sockets and through the TestClient.

FastAPI needs pydantic-core, which has no build for PyPy 3.9 here: its tests are skipped
on PyPy only when it does not import (Starlette and Flask run everywhere)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json

import pytest

from socketify import ASGI, WSGI
from socketify_testing import AsyncTestClient, TestClient

starlette = pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import (  # noqa: E402
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402


def fetch(port, method="GET", path="/", body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        conn.close()


def starlette_app(tmp_path):
    target = tmp_path / "file.txt"
    target.write_bytes(b"file body " * 1000)

    async def home(request: Request):
        return PlainTextResponse(f"hello {request.app.state.greeting} {request.state.db}")

    async def echo(request: Request):
        return JSONResponse({"got": await request.json(), "q": dict(request.query_params)})

    async def stream(request: Request):
        async def body():
            for index in range(5):
                yield f"part{index};"

        return StreamingResponse(body(), media_type="text/plain")

    async def file(request: Request):
        return FileResponse(target)

    async def chat(websocket: WebSocket):
        await websocket.accept()
        name = await websocket.receive_text()
        await websocket.send_json({"hello": name})
        await websocket.close(code=4000)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.greeting = "world"
        yield {"db": "ready"}

    return Starlette(
        routes=[
            Route("/", home),
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
            Route("/file", file),
            WebSocketRoute("/ws", chat),
        ],
        lifespan=lifespan,
    )


def test_starlette_over_real_sockets(serve, tmp_path):
    websockets = pytest.importorskip("websockets.sync.client")
    with serve(ASGI(starlette_app(tmp_path))) as port:
        assert fetch(port)[2] == b"hello world ready"
        status, _, body = fetch(port, "POST", "/echo?a=1", body=b'{"x": [1, 2]}')
        assert (status, json.loads(body)) == (200, {"got": {"x": [1, 2]}, "q": {"a": "1"}})
        status, headers, body = fetch(port, path="/stream")
        assert body == b"part0;part1;part2;part3;part4;"
        assert headers.get("Transfer-Encoding") == "chunked"
        status, headers, body = fetch(port, path="/file")  # served through pathsend
        assert (status, body) == (200, b"file body " * 1000)
        assert headers["content-length"] == "10000"
        assert fetch(port, path="/missing")[0] == 404
        with websockets.connect(f"ws://127.0.0.1:{port}/ws", ping_interval=None) as ws:
            ws.send("ada")
            assert json.loads(ws.recv(5)) == {"hello": "ada"}


def test_starlette_through_the_test_client(tmp_path):
    with TestClient(starlette_app(tmp_path)) as client:
        response = client.get("/")
        assert (response.status_code, response.text) == (200, "hello world ready")
        assert client.post("/echo", json={"k": "v"}).json() == {"got": {"k": "v"}, "q": {}}
        assert client.get("/stream").text == "part0;part1;part2;part3;part4;"
        assert client.get("/file").content == b"file body " * 1000
        with client.websocket_connect("/ws") as ws:
            ws.send_text("bob")
            assert ws.receive_json() == {"hello": "bob"}


def test_starlette_through_the_async_test_client(tmp_path):
    async def main():
        async with AsyncTestClient(starlette_app(tmp_path)) as client:
            response = await client.get("/")
            assert response.text == "hello world ready"

    asyncio.run(main())


# ---- FastAPI -------------------------------------------------------------------------------------
try:  # at module level: FastAPI resolves the (string) annotations in this module's globals
    from fastapi import WebSocket as FastAPIWebSocket
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        price: float

except ImportError:  # pragma: no cover - pydantic-core does not build for this PyPy
    Item = FastAPIWebSocket = None  # type: ignore[assignment,misc]


def fastapi_app():
    fastapi = pytest.importorskip("fastapi", reason="FastAPI (pydantic-core) does not install here")
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str = "none"):
        return {"item_id": item_id, "q": q}

    @app.post("/items")
    async def create(item: Item):
        return {"name": item.name, "double": item.price * 2}

    @app.get("/sync")
    def sync_route():
        return {"sync": True}

    @app.websocket("/ws")
    async def ws(websocket: FastAPIWebSocket):
        await websocket.accept()
        data = await websocket.receive_json()
        await websocket.send_json({"sum": sum(data)})
        await websocket.close()

    return app


def test_fastapi_over_real_sockets(serve):
    app = fastapi_app()
    with serve(ASGI(app)) as port:
        assert json.loads(fetch(port, path="/items/7?q=x")[2]) == {"item_id": 7, "q": "x"}
        assert fetch(port, path="/items/nope")[0] == 422
        status, _, body = fetch(
            port,
            "POST",
            "/items",
            body=b'{"name": "pen", "price": 1.5}',
            headers={"Content-Type": "application/json"},
        )
        assert (status, json.loads(body)) == (200, {"name": "pen", "double": 3.0})
        assert json.loads(fetch(port, path="/sync")[2]) == {"sync": True}
        assert json.loads(fetch(port, path="/openapi.json")[2])["openapi"].startswith("3.")


def test_fastapi_through_the_test_client():
    with TestClient(fastapi_app()) as client:
        assert client.get("/items/3").json() == {"item_id": 3, "q": "none"}
        assert client.get("/items/x").status_code == 422
        assert client.post("/items", json={"name": "a", "price": 2}).json() == {
            "name": "a",
            "double": 4.0,
        }
        with client.websocket_connect("/ws") as ws:
            ws.send_json([1, 2, 3])
            assert ws.receive_json() == {"sum": 6}


# ---- Flask ---------------------------------------------------------------------------------------
def flask_app():
    flask = pytest.importorskip("flask")
    app = flask.Flask("socketify_test")

    @app.get("/")
    def home():
        return "hello from flask"

    @app.post("/form")
    def form():
        return {"name": flask.request.form["name"], "len": len(flask.request.get_data())}

    @app.get("/stream")
    def stream():
        def generate():
            for index in range(3):
                yield f"row{index}\n"

        return flask.Response(generate(), mimetype="text/plain")

    @app.get("/boom")
    def boom():
        raise RuntimeError("flask boom")

    return app


def test_flask_over_real_sockets(serve):
    # Not under wsgiref.validate: werkzeug reads wsgi.input with read() and no size
    # (it relies on wsgi.input_terminated), which the validator forbids.
    with serve(WSGI(flask_app())) as port:
        assert fetch(port)[2] == b"hello from flask"
        status, _, body = fetch(
            port,
            "POST",
            "/form",
            body=b"name=ada&x=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (status, json.loads(body)["name"]) == (200, "ada")
        assert fetch(port, path="/stream")[2] == b"row0\nrow1\nrow2\n"
        assert fetch(port, path="/boom")[0] == 500
        assert fetch(port, path="/nope")[0] == 404


def test_flask_through_the_test_client():
    client = TestClient(flask_app(), raise_server_exceptions=False)
    assert client.get("/").text == "hello from flask"
    assert client.post("/form", data={"name": "bo"}).json()["name"] == "bo"
    assert client.get("/stream").text == "row0\nrow1\nrow2\n"
    assert client.get("/boom").status_code == 500
    client.close()


def test_a_raw_wsgi_exception_is_raised_by_the_test_client():
    def app(environ, start_response):
        raise LookupError("raw wsgi boom")

    with pytest.raises(LookupError, match="raw wsgi boom"):
        TestClient(app).get("/")
    assert TestClient(app, raise_server_exceptions=False).get("/").status_code == 500
