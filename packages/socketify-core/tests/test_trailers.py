"""Response trailers: sc_res_end_trailers in C and the ASGI http.response.trailers
extension over real sockets and the TestClient."""

from __future__ import annotations

import http.client
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_native_mem as native

from socketify import ASGI
from socketify._native import lib
from socketify.errors import ASGIProtocolError, InvalidHeader

GET = native.GET
Core = native.Core
Req = native.Req
make = native.make  # the fixture: one sc_loop per call, freed after the test


def read_chunked(data: bytes) -> tuple[bytes, bytes, list[bytes], bytes]:
    """(head, body, trailer lines, what follows) of one chunked response in data."""
    head, _, rest = data.partition(b"\r\n\r\n")
    body = b""
    while True:
        line_end = rest.index(b"\r\n")
        size = int(rest[:line_end], 16)
        if size == 0:
            rest = rest[line_end + 2 :]
            break
        body += rest[line_end + 2 : line_end + 2 + size]
        assert rest[line_end + 2 + size : line_end + 4 + size] == b"\r\n"
        rest = rest[line_end + 4 + size :]
    end = rest.index(b"\r\n\r\n") + 2 if not rest.startswith(b"\r\n") else 0
    lines = rest[:end].split(b"\r\n")[:-1] if end else []
    return head, body, lines, rest[end + 2 :]


# ---- the C contract ----------------------------------------------------------------------


def test_trailers_follow_the_last_chunk_and_keep_alive_holds(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        assert core.write(h, b"data", b"200 OK\r\nTrailer: X-Sum\r\n") == lib.SC_OK
        fields = b"X-Sum: 42\r\nX-Other: a b\r\n"
        assert lib.sc_res_end_trailers(core.loop, h, fields, len(fields)) == lib.SC_OK

    core = make(handler)
    conn = core.connect()
    conn.feed(GET + GET)
    raw = conn.read()
    head, body, lines, rest = read_chunked(raw)
    assert b"Transfer-Encoding: chunked" in head and body == b"data"
    assert lines == [b"X-Sum: 42", b"X-Other: a b"]
    _, body2, lines2, rest2 = read_chunked(rest)  # the second response is intact
    assert (body2, lines2, rest2) == (b"data", [b"X-Sum: 42", b"X-Other: a b"], b"")
    assert conn.open


def x_then_trailers(make: Any, fields: bytes, request: bytes) -> bytes:
    """Answer each request with a chunk "x" and the trailer fields; the output."""

    def handler(core: Core, h: int, req: Req) -> None:
        core.write(h, b"x", b"200 OK\r\n")
        assert lib.sc_res_end_trailers(core.loop, h, fields, len(fields)) == lib.SC_OK

    conn = make(handler).connect()
    conn.feed(request)
    return conn.read()  # type: ignore[no-any-return]


def test_empty_trailers_end_like_a_plain_chunked_response(make: Any) -> None:
    assert x_then_trailers(make, b"", GET).endswith(b"1\r\nx\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    "fields",
    [
        b"X-A: 1",  # not a whole line
        b"X-A: 1\r\n\r\n",  # an empty line would end the section early
        b"X-A: 1\r\n\r\nX-B: 2\r\n",
        b"X-A: 1\nX-B: 2\r\n",  # a bare LF
        b"X-A: 1\rX-B: 2\r\n",  # a bare CR
        b"\r\nX-A: 1\r\n",
        b" X-A: 1\r\n",  # an obsolete line folding
    ],
)
def test_malformed_trailer_fields_are_refused(make: Any, fields: bytes) -> None:
    got: dict[str, int] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        core.write(h, b"x", b"200 OK\r\n")
        got["bad"] = lib.sc_res_end_trailers(core.loop, h, fields, len(fields))
        got["good"] = lib.sc_res_end_trailers(core.loop, h, b"X-A: 1\r\n", 8)

    core = make(handler)
    conn = core.connect()
    conn.feed(GET)
    assert got == {"bad": lib.SC_EINVAL, "good": lib.SC_OK}
    assert read_chunked(conn.read())[2] == [b"X-A: 1"]


def test_trailers_before_the_head_and_on_a_stale_handle(make: Any) -> None:
    got: dict[str, int] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        got["before_head"] = lib.sc_res_end_trailers(core.loop, h, b"X-A: 1\r\n", 8)
        core.write(h, b"x", b"200 OK\r\n")
        got["first"] = lib.sc_res_end_trailers(core.loop, h, b"X-A: 1\r\n", 8)
        got["again"] = lib.sc_res_end_trailers(core.loop, h, b"X-A: 1\r\n", 8)

    core = make(handler)
    conn = core.connect()
    conn.feed(GET)
    assert got == {"before_head": lib.SC_ESTATE, "first": lib.SC_OK, "again": lib.SC_ESTALE}


@pytest.mark.parametrize(
    ("request_bytes", "head", "expect"),
    [
        # the head's own Content-Length: trailers cannot follow, the body is framed by it
        (GET, b"200 OK\r\nContent-Length: 1\r\n", b"Content-Length: 1\r\n"),
        # HTTP/1.0: no chunked encoding, the close ends the body
        (b"GET / HTTP/1.0\r\n\r\n", b"200 OK\r\n", b"Connection: close\r\n"),
    ],
)
def test_trailers_are_dropped_where_the_response_is_not_chunked(
    make: Any, request_bytes: bytes, head: bytes, expect: bytes
) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        core.write(h, b"x", head, lib.SC_W_HAS_LENGTH if b"Length" in head else 0)
        assert lib.sc_res_end_trailers(core.loop, h, b"X-A: 1\r\n", 8) == lib.SC_OK

    core = make(handler)
    conn = core.connect()
    conn.feed(request_bytes)
    raw = conn.read()
    assert expect in raw and raw.endswith(b"\r\n\r\nx") and b"X-A" not in raw


def test_a_head_request_gets_no_trailers(make: Any) -> None:
    raw = x_then_trailers(make, b"X-A: 1\r\n", b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    first, _, second = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
    assert read_chunked(second)[2] == [b"X-A: 1"]  # only the GET's response has them


# ---- ASGI --------------------------------------------------------------------------------


def exchange(port: int, data: bytes, until: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until ``until`` has been seen ``data.count(b'GET')`` times."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        while got.count(until) < data.count(b"GET ") + data.count(b"HEAD "):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def trailer_app(steps: list[Any], seen: dict[str, Any]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["extensions"] = scope["extensions"]
        try:
            for step in steps:
                await send(step)
        except Exception as exc:
            seen.setdefault("errors", []).append(exc)
            raise
        seen["done"] = seen.get("done", 0) + 1

    return ASGI(app, lifespan="off")


START = {"type": "http.response.start", "status": 200, "trailers": True, "headers": []}


def test_asgi_trailers_after_a_streamed_body_and_the_extension_is_offered(serve: Any) -> None:
    seen: dict[str, Any] = {}
    steps = [
        {**START, "headers": [(b"trailer", b"x-checksum, x-count")]},
        {"type": "http.response.body", "body": b"part one ", "more_body": True},
        {"type": "http.response.body", "body": b"part two"},
        {
            "type": "http.response.trailers",
            "headers": [(b"x-checksum", b"abc")],
            "more_trailers": True,
        },
        {"type": "http.response.trailers", "headers": [(b"x-count", b"2")]},
    ]
    with serve(trailer_app(steps, seen)) as port:
        raw = exchange(port, GET + GET, b"x-count: 2\r\n\r\n")
    assert "http.response.trailers" in seen["extensions"]
    head, body, lines, rest = read_chunked(raw)
    assert b"trailer: x-checksum, x-count" in head and body == b"part one part two"
    assert lines == [b"x-checksum: abc", b"x-count: 2"]
    assert read_chunked(rest)[1:] == (b"part one part two", lines, b"")  # keep-alive holds


def test_asgi_trailers_after_a_one_shot_body_through_http_client(serve: Any) -> None:
    steps = [
        START,
        {"type": "http.response.body", "body": b"whole"},
        {"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]},
    ]
    with serve(trailer_app(steps, {})) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(2):  # http.client reads past the trailers: the connection stays usable
            conn.request("GET", "/")
            reply = conn.getresponse()
            assert (reply.status, reply.read()) == (200, b"whole")
        conn.close()


def test_asgi_trailers_with_a_content_length_are_dropped(serve: Any) -> None:
    steps = [
        {**START, "headers": [(b"content-length", b"5")]},
        {"type": "http.response.body", "body": b"12345"},
        {"type": "http.response.trailers", "headers": [(b"x-late", b"1")]},
    ]
    with serve(trailer_app(steps, {})) as port:
        raw = exchange(port, GET + GET, b"12345")
    assert raw.count(b"content-length: 5") == 2 and b"x-late" not in raw
    assert b"chunked" not in raw


def test_asgi_trailers_through_the_test_client() -> None:
    from socketify_testing import TestClient

    steps = [
        START,
        {"type": "http.response.body", "body": b"ab", "more_body": True},
        {"type": "http.response.body", "body": b"cd"},
        {"type": "http.response.trailers", "headers": [(b"x-digest", b"sha-256=xyz")]},
    ]
    with TestClient(trailer_app(steps, {})) as client:
        reply = client.get("/")
    assert reply.status_code == 200 and reply.content == b"abcd"
    assert reply.trailers["x-digest"] == "sha-256=xyz"


def after_body(*trailer_headers: Any) -> list[Any]:
    """START, a whole body, then one http.response.trailers message per argument."""
    body = {"type": "http.response.body", "body": b"x"}
    return [START, body] + [
        {"type": "http.response.trailers", "headers": h} for h in trailer_headers
    ]


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": b"x", "more_body": True},
                {"type": "http.response.trailers", "headers": []},
            ],
            "without 'trailers': True",
        ),
        (
            [
                START,
                {"type": "http.response.body", "body": b"x", "more_body": True},
                {"type": "http.response.trailers", "headers": []},
            ],
            "before the body ended",
        ),
        ([*after_body()[:2], {"type": "http.response.body", "body": b"y"}], "after the last body"),
        (after_body([(b"content-length", b"1")]), "cannot be sent as a trailer"),
        (after_body([(b"transfer-encoding", b"gzip")]), "cannot be sent"),
        (after_body([(b"host", b"elsewhere")]), "cannot be sent as a trailer"),
        (after_body([], []), "after the response completed"),
    ],
)
def test_asgi_trailer_misuse_raises_in_the_app_and_never_half_frames(
    serve: Any, steps: list[Any], error: str
) -> None:
    seen: dict[str, Any] = {}
    with serve(trailer_app(steps, seen)) as port:
        raw = exchange(port, GET + GET, b"\r\n0\r\n")
    errors = seen["errors"]
    assert error in str(errors[0])
    if error.startswith("after the response"):
        # the response completed before the misuse: both requests were answered
        assert raw.count(b"HTTP/1.1 200") == 2 and len(errors) == 2
    else:
        assert len(errors) == 1
        assert isinstance(errors[0], (ASGIProtocolError, InvalidHeader))
        # the head was written: the connection is closed (exchange() saw the EOF; a
        # timeout would raise), never a second response on it
        assert raw.count(b"HTTP/1.1 ") < 2


def test_an_app_that_forgets_its_trailers_gets_its_connection_closed(serve: Any) -> None:
    steps = [START, {"type": "http.response.body", "body": b"x"}]
    with serve(trailer_app(steps, {})) as port:
        raw = exchange(port, GET + GET, b"\r\n0\r\n")
    assert raw.count(b"HTTP/1.1 200") < 2 and not raw.endswith(b"0\r\n\r\n")


def test_asgi_trailers_after_a_file_are_dropped_and_the_response_completes(
    serve: Any, tmp_path: Path
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"f" * 200_000)  # past 64 KiB: the core's file path
    seen: dict[str, Any] = {}
    steps = [
        START,
        {"type": "http.response.pathsend", "path": str(blob)},
        {"type": "http.response.trailers", "headers": [(b"x-after-file", b"1")]},
    ]
    with serve(trailer_app(steps, seen)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(2):  # framed by Content-Length, so the connection stays usable
            conn.request("GET", "/")
            reply = conn.getresponse()
            assert reply.getheader("content-length") == "200000"
            assert reply.read() == b"f" * 200_000 and reply.getheader("x-after-file") is None
        # the client has the whole body before the app sends its trailers: closing now
        # could abort the last response (ClientDisconnected in the app, rightly)
        deadline = time.monotonic() + 5
        while seen.get("done", 0) < 2 and "errors" not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
        conn.close()
    assert "errors" not in seen


def test_asgi_a_file_after_the_last_body_is_refused(serve: Any, tmp_path: Path) -> None:
    blob = tmp_path / "small.bin"
    blob.write_bytes(b"s")
    seen: dict[str, Any] = {}
    steps = [*after_body()[:2], {"type": "http.response.pathsend", "path": str(blob)}]
    with serve(trailer_app(steps, seen)) as port:
        exchange(port, GET, b"\r\n0\r\n")
    assert "sent after the last body" in str(seen["errors"][0])
