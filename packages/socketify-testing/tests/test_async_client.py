"""AsyncTestClient through the real C core, each test running its own loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from socketify import App
from socketify_testing import (
    AsyncTestClient,
    LifespanWarning,
    ResponseTimeout,
    StreamError,
    TestClientError,
)


def make_app(events: list) -> App:
    app = App()

    @app.on_start
    async def start() -> None:
        events.append("start")

    @app.on_shutdown
    async def stop() -> None:
        events.append("stop")

    async def slow(res: Any, req: Any) -> None:
        await asyncio.sleep(0.01)
        res.end({"loop": id(asyncio.get_running_loop())})

    async def echo(res: Any, req: Any) -> None:
        body = (await res.get_data()).getvalue()
        res.end(body)

    def ticks(res: Any, req: Any) -> None:
        async def produce() -> None:
            for i in range(3):
                res.write(f"tick {i}\n")
                await asyncio.sleep(0.005)
            res.end()

        res.run_async(produce())

    async def fails(res: Any, req: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("async failure")

    app.get("/slow", slow)
    app.post("/echo", echo)
    app.get("/ticks", ticks)
    app.get("/fails", fails)
    app.get("/never", lambda res, req: None)
    app.get("/ip", lambda res, req: res.end(res.get_remote_address()))
    app.get("/set", lambda res, req: res.set_cookie("k", "v").end("set"))
    app.get("/cookie", lambda res, req: res.end(req.get_cookie("k") or "none"))
    app.get("/redirect", lambda res, req: res.redirect("/ip"))
    return app


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_async_with_runs_lifespan_and_uses_the_running_loop() -> None:
    events: list = []

    async def main() -> None:
        async with AsyncTestClient(make_app(events)) as client:
            assert events == ["start"]
            r = await client.get("/slow")
            assert r.status_code == 200
            assert r.json() == {"loop": id(asyncio.get_running_loop())}

    run(main())
    assert events == ["start", "stop"]


def test_all_methods_are_awaitable() -> None:
    async def main() -> None:
        async with AsyncTestClient(make_app([]), client=("10.0.0.1", 1234)) as client:
            assert (await client.get("/ip")).text == "10.0.0.1"
            assert (await client.post("/echo", json={"a": 1})).json() == {"a": 1}
            assert (await client.request("POST", "/echo", content=b"raw")).content == b"raw"
            for method in ("put", "patch", "delete", "options"):
                r = await getattr(client, method)("/ip")
                assert r.status_code == 405 and "GET" in r.headers["allow"]
            r = await client.head("/ip")
            assert r.status_code == 200 and r.content == b""
            r = await client.get("/redirect")
            assert r.text == "10.0.0.1" and r.history[0].status_code == 302
            await client.get("/set")
            assert (await client.get("/cookie")).text == "v"

    run(main())


def test_async_iterable_body() -> None:
    async def body():
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0)
            yield part

    async def main() -> None:
        async with AsyncTestClient(make_app([])) as client:
            assert (await client.post("/echo", content=body())).content == b"abc"

    run(main())


def test_streaming_with_aiter_lines() -> None:
    async def main() -> list:
        async with AsyncTestClient(make_app([])) as client:
            async with client.stream("GET", "/ticks") as r:
                assert r.status_code == 200
                with pytest.raises(StreamError, match="aiter_bytes"):
                    next(r.iter_bytes())
            async with client.stream("GET", "/ticks") as r:
                return [line async for line in r.aiter_lines()]

    assert run(main()) == ["tick 0", "tick 1", "tick 2"]


def test_server_exception_and_timeout() -> None:
    async def main() -> None:
        async with AsyncTestClient(make_app([])) as client:
            with pytest.raises(KeyError, match="async failure"):
                await client.get("/fails")
            with pytest.raises(ResponseTimeout, match="GET /never did not respond"):
                await client.get("/never", timeout=0.05)
            assert (await client.get("/ip")).text == "127.0.0.1"
        async with AsyncTestClient(make_app([]), raise_server_exceptions=False) as client:
            assert (await client.get("/fails")).status_code == 500

    run(main())


def test_without_async_with_warns_and_aclose_runs_shutdown() -> None:
    events: list = []

    async def main() -> None:
        client = AsyncTestClient(make_app(events))
        with pytest.warns(LifespanWarning, match="AsyncTestClient ran the app's startup"):
            await client.get("/ip")
        assert events == ["start"]
        await client.aclose()
        assert events == ["start", "stop"]
        with pytest.raises(TestClientError, match="closed"):
            await client.get("/ip")

    run(main())


def test_sync_close_warns_that_shutdown_did_not_run() -> None:
    events: list = []

    async def main() -> AsyncTestClient:
        client = AsyncTestClient(make_app(events))
        await client._startup()
        return client

    client = run(main())
    with pytest.warns(LifespanWarning, match="aclose"):
        client.close()
    assert events == ["start"]


def test_startup_failure_is_raised() -> None:
    app = App()

    @app.on_start
    def start() -> None:
        raise RuntimeError("no database")

    async def main() -> None:
        async with AsyncTestClient(app):
            pass  # pragma: no cover

    with pytest.raises(RuntimeError, match="no database"):
        run(main())
    assert app._rt.exception_sink is None


def test_json_module_roundtrip_is_plain() -> None:
    async def main() -> Any:
        async with AsyncTestClient(make_app([])) as client:
            return (await client.post("/echo", json=[1, 2])).content

    assert json.loads(run(main())) == [1, 2]
