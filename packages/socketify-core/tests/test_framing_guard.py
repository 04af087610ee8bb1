"""Framing the app cannot break: the core owns Content-Length, Transfer-Encoding and
Connection, and a status or header the core would refuse raises at the call that set it, so
the app's error handling (or the fallback 500) still answers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsframes import Peer

from socketify import App, OpCode
from socketify.errors import InvalidHeader, InvalidStatus


def app_with(handler, **settings):
    errors = []
    app = App(**settings)
    app.get("/", handler)
    app.set_error_handler(lambda error, res, req: errors.append(error))
    return app, errors


# ---- Transfer-Encoding and Connection written by the app ------------------------------------
def test_an_app_written_chunked_transfer_encoding_is_dropped_for_a_whole_body(wire):
    app, _ = app_with(lambda res, req: res.write_header("Transfer-Encoding", "chunked").end("abc"))
    reply = wire(app).get("/")
    assert reply.all("transfer-encoding") == [] and reply.all("content-length") == ["3"]
    assert reply.body == b"abc"


def test_an_app_written_chunked_transfer_encoding_is_written_once_when_streaming(wire):
    def handler(res, req):
        res.write_header("transfer-encoding", "Chunked")
        res.write("ab")
        res.end("c")

    app, _ = app_with(handler)
    reply = wire(app).get("/")
    assert reply.all("transfer-encoding") == ["chunked"] and reply.all("content-length") == []
    assert reply.body == b"abc"


def test_copied_upstream_headers_keep_one_framing(wire):
    upstream = [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked"), ("X-Up", "1")]
    app, _ = app_with(lambda res, req: res.write_headers(upstream).end("body"))
    reply = wire(app).get("/")
    assert reply.all("transfer-encoding") == [] and reply.all("content-length") == ["4"]
    assert reply.header("x-up") == "1" and reply.body == b"body"


def test_a_transfer_coding_the_core_cannot_apply_is_refused_at_the_call(wire):
    app, errors = app_with(lambda res, req: res.write_header("Transfer-Encoding", "gzip").end("x"))
    reply = wire(app).get("/")
    assert reply.status == 500
    assert isinstance(errors[0], InvalidHeader) and "Content-Encoding" in str(errors[0])


def test_connection_close_written_by_the_app_closes_after_the_response(wire):
    app, _ = app_with(lambda res, req: res.write_header("Connection", "close").end("bye"))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    reply = w.replies(conn)[0]
    assert reply.all("connection") == ["close"] and reply.body == b"bye"
    assert w.until(lambda: not conn.open)


def test_connection_keep_alive_written_by_the_app_is_the_cores_business(wire):
    app, _ = app_with(lambda res, req: res.write_header("Connection", "keep-alive").end("hi"))
    w = wire(app)
    conn = w.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
    replies = w.replies(conn, 2)
    assert [r.all("connection") for r in replies] == [[], []]
    assert conn.open


# ---- statuses and lengths the core refuses raise where they are set ---------------------------
@pytest.mark.parametrize("status", [999, 600, "700 X", 103, 100, "103 Early Hints", 99])
def test_a_status_the_core_refuses_raises_at_write_status_and_the_fallback_answers(wire, status):
    app, errors = app_with(lambda res, req: res.write_status(status).end("x"))
    reply = wire(app).get("/", timeout=2)
    assert reply.status == 500
    assert isinstance(errors[0], InvalidStatus)


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "", "1 2", "99999999999999999999"])
def test_a_content_length_that_is_not_a_number_raises_at_write_header(wire, length):
    app, errors = app_with(lambda res, req: res.write_header("Content-Length", length).end("x"))
    reply = wire(app).get("/", timeout=2)
    assert reply.status == 500
    assert isinstance(errors[0], InvalidHeader) and "Content-Length" in str(errors[0])


def test_the_status_range_edges(wire):
    app = App()
    app.get("/200", lambda res, req: res.write_status(200).end("a"))
    app.get("/599", lambda res, req: res.write_status(599).end("b"))
    w = wire(app)
    assert w.get("/200").status == 200 and w.get("/599").status == 599


@pytest.mark.parametrize("value", ["a\x01b", "a\x1bb", "a\x7fb", "a\x00b"])
def test_control_bytes_in_a_header_value_raise(wire, value):
    app, errors = app_with(lambda res, req: res.write_header("X-A", value).end("x"))
    assert wire(app).get("/").status == 500
    assert isinstance(errors[0], InvalidHeader)


# ---- WebSocket text and close reasons ------------------------------------------------------------
def test_invalid_utf8_cannot_be_sent_as_text_or_as_a_close_reason(wire):
    seen = []

    def on_message(ws, message, opcode):
        for attempt in (
            lambda: ws.send(b"\xff\xfe", OpCode.TEXT),
            lambda: ws.send(bytearray(b"ok \xc3"), OpCode.TEXT),
            lambda: ws.end(1000, b"\xff"),
        ):
            try:
                attempt()
            except ValueError as exc:
                seen.append(str(exc))
        ws.send("fine")
        ws.end(4000, "é" * 70)  # 140 bytes: cut on a character boundary

    app = App().ws("/ws", {"message": on_message})
    peer = Peer(wire(app))
    peer.send(1, b"go")
    frames = peer.frames(2)
    assert len(seen) == 3 and all("UTF-8" in text for text in seen)
    assert frames[0][2:] == (1, b"fine")
    assert frames[1][2] == 8
    reason = frames[1][3][2:]
    assert len(reason) <= 123 and reason.decode("utf-8") == "é" * (len(reason) // 2)


# ---- static files ------------------------------------------------------------------------------------
@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("home")
    (tmp_path / "a.txt").write_text("0123456789")
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    os.symlink(tmp_path / ".env", tmp_path / "plain-name")
    return tmp_path


def test_an_absurdly_long_range_number_is_a_416_or_the_whole_file(wire, site):
    app = App().static("/s", str(site))
    w = wire(app)
    long = "9" * 5000
    assert w.get("/s/a.txt", headers=[("Range", f"bytes={long}-")]).status == 416
    whole = w.get("/s/a.txt", headers=[("Range", f"bytes=-{long}")])
    assert (whole.status, whole.body) == (206, b"0123456789")
    tail = w.get("/s/a.txt", headers=[("Range", f"bytes=2-{long}")])
    assert (tail.status, tail.body) == (206, b"23456789")


@pytest.mark.parametrize("path", ["/s/.env", "/s/.git/config", "/s/%2eenv", "/s/plain-name"])
def test_dotfiles_are_not_served_unless_asked(wire, site, path):
    assert wire(App().static("/s", str(site))).get(path).status == 404


def test_dotfiles_true_serves_them(wire, site):
    w = wire(App().static("/s", str(site), dotfiles=True))
    assert w.get("/s/.env").body == b"SECRET=1"
    assert w.get("/s/.git/config").body == b"[core]"
    assert w.get("/s/a.txt").body == b"0123456789"
