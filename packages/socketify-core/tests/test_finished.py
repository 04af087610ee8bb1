"""app.on_finished: every way a response can end is seen by the hooks exactly once."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from socketify import App, sendfile
from socketify.response import AppResponse
from socketify.runtime import Finished
from socketify.server import accesslog

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
    + base64.b64encode(os.urandom(16))
    + b"\r\n\r\n"
)


def endings(tmp_path: Path) -> App:
    """One route per way a response ends."""
    app = App()
    app.get("/end", lambda res, req: res.end("hello"))
    app.get("/cork_end", lambda res, req: res.cork_end(b"corked"))
    app.get("/send", lambda res, req: res.send({"a": 1}, status=201))
    app.get("/redirect", lambda res, req: res.redirect("/end"))
    app.get("/no_body", lambda res, req: res.write_status(204).end_without_body())

    def stream(res: Any, req: Any) -> None:
        res.write("ab")
        res.end("c")

    app.get("/write_end", stream)

    def try_end(res: Any, req: Any) -> None:
        res.try_end(b"12345", 10)
        res.try_end(b"67890", 10)

    app.get("/try_end", try_end)
    page = tmp_path / "page.txt"
    page.write_bytes(b"static body")
    app.get("/sendfile", lambda res, req: sendfile(res, req, str(page)))

    def boom(res: Any, req: Any) -> None:
        raise RuntimeError("boom")

    app.get("/error", boom)

    async def later(res: Any, req: Any) -> None:
        res.end("from a task")

    app.get("/async", later)
    app.get("/hang", lambda res, req: None)
    app.ws("/ws", {"open": lambda ws: None})
    return app


CASES = [
    ("/end", 200, 5),
    ("/cork_end", 200, 6),
    ("/send", 201, 7),
    ("/redirect", 302, 0),
    ("/no_body", 204, 0),
    ("/write_end", 200, 3),
    ("/try_end", 200, 10),
    ("/sendfile", 200, 11),
    ("/error", 500, 21),
    ("/async", 200, 11),
    ("/nowhere", 404, 9),
]


def test_off_costs_nothing() -> None:
    assert App()._rt.response_type is AppResponse


@pytest.mark.parametrize(("path", "status", "size"), CASES)
def test_every_ending_is_seen_exactly_once(wire, tmp_path, path, status, size, caplog) -> None:
    app = endings(tmp_path)
    seen: list[tuple[Any, Finished]] = []
    app.on_finished(lambda res, info: seen.append((res, info)))
    client = wire(app)
    with caplog.at_level(logging.CRITICAL, logger="socketify"):
        reply = client.get(path)
    client.spin(0.01)
    assert reply.status == status
    assert len(seen) == 1, seen
    res, info = seen[0]
    assert isinstance(res, AppResponse) and res.has_responded()
    assert (info.method, info.target, info.http_version) == ("GET", path, "1.1")
    assert (info.status, info.body_bytes, info.aborted) == (status, size, False)
    assert info.client == "127.0.0.1"
    assert info.duration >= 0


def test_an_upgrade_is_seen_once_as_101(wire, tmp_path) -> None:
    app = endings(tmp_path)
    seen: list[Finished] = []
    app.on_finished(lambda res, info: seen.append(info))
    client = wire(app)
    conn = client.connect()
    conn.feed(UPGRADE)
    client.spin(0.01)
    assert conn.read().startswith(b"HTTP/1.1 101 ")
    assert [(i.target, i.status, i.aborted) for i in seen] == [("/ws", 101, False)]


def test_an_abort_is_seen_once(wire, tmp_path) -> None:
    app = endings(tmp_path)
    seen: list[Finished] = []
    app.on_finished(lambda res, info: seen.append(info))
    client = wire(app)
    conn = client.connect()
    conn.feed(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
    client.spin(0.01)
    assert seen == []
    conn.close()
    client.spin(0.01)
    assert [(i.target, i.aborted) for i in seen] == [("/hang", True)]


def test_every_hook_runs_and_a_raising_hook_is_logged(wire, tmp_path, caplog) -> None:
    app = endings(tmp_path)
    calls: list[str] = []

    def bad(res: Any, info: Finished) -> None:
        calls.append("bad")
        raise ValueError("hook bug")

    app.on_finished(bad)
    app.on_finished(lambda res, info: calls.append("good"))
    with caplog.at_level(logging.ERROR, logger="socketify"):
        assert wire(app).get("/end").status == 200
    assert calls == ["bad", "good"]
    assert "a finished hook raised" in caplog.text


def test_a_hook_that_is_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="finished hook is not callable"):
        App().on_finished(42)  # type: ignore[arg-type]


def test_the_access_log_writes_a_line_for_an_upgrade(wire, tmp_path, caplog) -> None:
    app = endings(tmp_path)
    accesslog.enable(app)
    client = wire(app)
    with caplog.at_level(logging.INFO, logger="socketify.access"):
        conn = client.connect()
        conn.feed(UPGRADE)
        client.spin(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "socketify.access"]
    assert len(lines) == 1 and '"GET /ws HTTP/1.1" 101 0 ' in lines[0], lines


def test_an_end_the_core_refuses_is_not_counted_only_the_500_is(wire) -> None:
    # A head the core will not send (a status line set past write_status's checks) fails
    # end() before anything is sent; the finished hook then sees the error's 500 and its
    # body's bytes, not the refused body's as well
    app = App()
    seen = []

    def handler(res: Any, req: Any) -> None:
        res._status = b"99 Refused\r\n"
        res.end(b"x" * 1000)

    app.get("/", handler)
    app.on_error(lambda exc, res, req: None)
    app.on_finished(lambda res, info: seen.append((info.status, info.body_bytes)))
    client = wire(app)
    reply = client.get("/")
    client.spin(0.01)
    assert reply.status == 500
    assert seen == [(500, len(reply.body))]
