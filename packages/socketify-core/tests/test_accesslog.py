"""accesslog: one Common Log Format line per finished response, nothing when off."""

from __future__ import annotations

import logging
import re

from socketify import App
from socketify.response import AppResponse
from socketify.server import accesslog

LINE = re.compile(
    r'^(?P<client>\S+) - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(?P<request>[^"]*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+) [\d.]+ms(?P<aborted> aborted)?$"
)


def logged(caplog) -> list[dict[str, str]]:
    found = []
    for record in caplog.records:
        if record.name == "socketify.access":
            match = LINE.match(record.getMessage())
            assert match, record.getMessage()
            found.append(match.groupdict())
    return found


def make_app() -> App:
    app = App()
    app.get("/text", lambda res, req: res.end("hello"))
    app.get("/send", lambda res, req: res.send({"a": [1, 2]}, status=201))
    app.get("/cork", lambda res, req: res.cork_end(b"corked"))
    app.get("/empty", lambda res, req: res.write_status(204).end_without_body())

    def stream(res, req):
        res.write("ab")
        res.write(b"cde")
        res.end("f")

    app.get("/stream", stream)

    def try_end(res, req):
        res.try_end(b"12345", 10)
        res.try_end(b"67890", 10)

    app.get("/try", try_end)
    app.get("/hang", lambda res, req: None)
    return app


def test_off_by_default(wire, caplog):
    app = make_app()
    assert app._rt.response_type is AppResponse
    with caplog.at_level(logging.INFO, logger="socketify.access"):
        assert wire(app).get("/text").text == "hello"
    assert logged(caplog) == []


def test_one_line_per_response(wire, caplog):
    app = make_app()
    accesslog.enable(app)
    client = wire(app)
    with caplog.at_level(logging.INFO, logger="socketify.access"):
        assert client.get("/text?x=1").text == "hello"
        assert client.get("/send").status == 201
        assert client.get("/cork").text == "corked"
        assert client.get("/empty").status == 204
        assert client.get("/stream").text == "abcdef"
        assert client.get("/try").text == "1234567890"
        assert client.get("/nowhere").status == 404
    lines = [(d["client"], d["request"], d["status"], d["bytes"]) for d in logged(caplog)]
    assert lines == [
        ("127.0.0.1", "GET /text?x=1 HTTP/1.1", "200", "5"),
        ("127.0.0.1", "GET /send HTTP/1.1", "201", "11"),
        ("127.0.0.1", "GET /cork HTTP/1.1", "200", "6"),
        ("127.0.0.1", "GET /empty HTTP/1.1", "204", "0"),
        ("127.0.0.1", "GET /stream HTTP/1.1", "200", "6"),
        ("127.0.0.1", "GET /try HTTP/1.1", "200", "10"),
        ("127.0.0.1", "GET /nowhere HTTP/1.1", "404", "9"),
    ]


def test_an_abandoned_response_is_logged_once_as_aborted(wire, caplog):
    app = make_app()
    accesslog.enable(app)
    client = wire(app)
    with caplog.at_level(logging.INFO, logger="socketify.access"):
        conn = client.connect()
        conn.feed(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
        client.spin(0.01)
        conn.close()
        client.spin(0.01)
    assert [(d["request"], d["aborted"]) for d in logged(caplog)] == [
        ("GET /hang HTTP/1.1", " aborted")
    ]
