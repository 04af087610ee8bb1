"""The C core driven directly through cffi over the memory transport (sc_mem_*).

A small owner object records the four callbacks and answers with lib.sc_res_*; no
socketify.App is involved, so these tests pin the C contract of socketify.h.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import pytest

from socketify import _bridge
from socketify._native import ffi, lib

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


# ---- harness ------------------------------------------------------------------------


class Req:
    def __init__(self, view: Any) -> None:
        self.method = ffi.unpack(view.method, view.method_len)
        self.target = ffi.unpack(view.target, view.target_len)
        self.path_len = view.path_len
        self.http_minor = view.http_minor
        self.flags = view.flags
        self.content_length = view.content_length
        self.headers = [
            (
                ffi.unpack(view.headers[i].name, view.headers[i].name_len),
                ffi.unpack(view.headers[i].value, view.headers[i].value_len),
            )
            for i in range(view.num_headers)
        ]


Handler = Callable[["Core", int, Req], None]


def reply_path(core: Core, h: int, req: Req) -> None:
    core.end(h, b"path=" + req.target)


def reply_get(core: Core, h: int, req: Req) -> None:
    """Answer GETs at once; other methods wait (for their body)."""
    if req.method == b"GET":
        reply_path(core, h, req)


class Core:
    """One sc_loop and a test owner for its callbacks."""

    def __init__(self, handler: Optional[Handler] = reply_path, **settings: int) -> None:
        s = ffi.new("sc_settings *")
        lib.sc_settings_default(s)
        for name, value in settings.items():
            setattr(s, name, value)
        self.owner = _bridge.register(self)
        self.loop = lib.sc_loop_new(s, self.owner)
        assert self.loop != ffi.NULL
        self.handler = handler
        self.requests: list[tuple[int, Req]] = []
        self.data: list[tuple[int, bytes, bool]] = []
        self.aborted: list[int] = []
        self.writable: list[tuple[int, int]] = []
        self.on_data: Optional[Callable[[Core, int, bytes, bool], None]] = None
        self.on_writable: Optional[Callable[[Core, int, int], bool]] = None

    # callbacks (called by socketify._bridge)
    def _on_request(self, h: int) -> None:
        req = Req(lib.sc_loop_request_view(self.loop))
        self.requests.append((h, req))
        if self.handler:
            self.handler(self, h, req)

    def _on_data(self, h: int) -> None:
        ev = lib.sc_loop_event_view(self.loop)
        chunk = ffi.unpack(ev.data, ev.len) if ev.len else b""
        self.data.append((h, chunk, bool(ev.is_end)))
        if self.on_data:
            self.on_data(self, h, chunk, bool(ev.is_end))

    def _on_aborted(self, h: int) -> None:
        self.aborted.append(h)

    def _on_writable(self, h: int, offset: int) -> bool:
        self.writable.append((h, offset))
        return self.on_writable(self, h, offset) if self.on_writable else True

    # responses
    def write(self, h: int, body: bytes = b"", head: bytes = b"", flags: int = 0) -> int:
        return lib.sc_res_write(self.loop, h, head, len(head), body, len(body), flags)

    def end(self, h: int, body: bytes = b"", head: bytes = b"", flags: int = 0) -> int:
        return self.write(h, body, head, flags | lib.SC_W_END)

    def try_end(self, h: int, body: bytes, total: int, head: bytes = b"") -> int:
        return lib.sc_res_try_end(self.loop, h, head, len(head), body, len(body), total, 0)

    def connect(self, ip: str = "127.0.0.1", port: int = 50000) -> Mem:
        return Mem(self, lib.sc_mem_open(self.loop, ip.encode(), port))

    def poll(self, until: Callable[[], bool], timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                return False
            assert lib.sc_loop_poll(self.loop, 20) >= 0
        return True

    def free(self) -> None:
        lib.sc_loop_free(self.loop)
        _bridge.unregister(self.owner)


class Mem:
    def __init__(self, core: Core, handle: int) -> None:
        assert handle != 0
        self.core = core
        self.h = handle

    def feed(self, data: bytes) -> int:
        return lib.sc_mem_feed(self.core.loop, self.h, data, len(data))

    def read(self) -> bytes:
        p = ffi.new("const char **")
        n = lib.sc_mem_output(self.core.loop, self.h, p)
        data = ffi.unpack(p[0], n) if n else b""
        lib.sc_mem_consume(self.core.loop, self.h, n)
        return data

    @property
    def open(self) -> bool:
        return lib.sc_mem_is_open(self.core.loop, self.h) == 1

    def close(self, discard: int = 1) -> int:
        return lib.sc_mem_close(self.core.loop, self.h, discard)


class Resp:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def get(self, name: str) -> Optional[str]:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, f"{name} repeated: {values}"
        return values[0] if values else None


def parse(data: bytes, head: bool = False) -> list[Resp]:
    """Every complete response in data (the framing the core chose is followed)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        assert end >= 0, f"incomplete head: {data!r}"
        lines = data[:end].decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        status = int(lines[0][9:12])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.lower(), value.strip()))
        data = data[end + 4 :]
        r = Resp(status, headers, b"")
        if head or status < 200 or status in (204, 304):
            pass
        elif r.get("content-length") is not None:
            n = int(r.get("content-length") or 0)
            assert len(data) >= n, "short body"
            r.body, data = data[:n], data[n:]
        elif r.get("transfer-encoding") == "chunked":
            while True:
                line_end = data.find(b"\r\n")
                size = int(data[:line_end], 16)
                r.body += data[line_end + 2 : line_end + 2 + size]
                assert data[line_end + 2 + size : line_end + 4 + size] == b"\r\n"
                data = data[line_end + 4 + size :]
                if size == 0:
                    break
        else:
            r.body, data = data, b""
        out.append(r)
    return out


@pytest.fixture
def make() -> Any:
    cores: list[Core] = []

    def factory(handler: Optional[Handler] = reply_path, **settings: int) -> Core:
        core = Core(handler, **settings)
        cores.append(core)
        return core

    yield factory
    for core in cores:
        core.free()


# ---- basics ---------------------------------------------------------------------------


def test_simple_get_has_date_and_content_length(make: Any) -> None:
    core = make()
    conn = core.connect()
    assert conn.feed(b"GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nX-Thing:  v \r\n\r\n") == lib.SC_OK
    [r] = parse(conn.read())
    assert r.status == 200
    assert r.body == b"path=/hello?x=1"
    assert r.get("content-length") == str(len(r.body))
    assert (r.get("date") or "").endswith(" GMT")
    assert r.get("connection") is None
    [(_, req)] = core.requests
    assert req.method == b"GET" and req.path_len == 6 and req.http_minor == 1
    assert (b"x-thing", b"v") in req.headers
    assert req.flags & lib.SC_REQ_KEEP_ALIVE
    assert conn.open and lib.sc_loop_num_connections(core.loop) == 1


def test_head_from_python_is_kept_and_empty_head_means_200(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        if req.target == b"/custom":
            core.end(h, b"{}", b"201 Created\r\nContent-Type: application/json\r\n")
        else:
            core.end(h)

    core = make(handler)
    conn = core.connect()
    conn.feed(b"GET /custom HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    raw = conn.read()
    assert raw.startswith(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: ")
    first, second = parse(raw)
    assert first.body == b"{}" and first.get("content-length") == "2"
    assert second.status == 200 and second.body == b"" and second.get("content-length") == "0"


def test_keep_alive_serves_several_requests_in_turn(make: Any) -> None:
    core = make()
    conn = core.connect()
    for i in range(5):
        conn.feed(f"GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        [r] = parse(conn.read())
        assert r.body == f"path=/{i}".encode()
    assert conn.open
    assert len({h for h, _ in core.requests}) == 5  # a new response handle each time


def test_pipelined_requests_answered_in_order_in_one_output(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(b"".join(f"GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(3)))
    replies = parse(conn.read())
    assert [r.body for r in replies] == [b"path=/0", b"path=/1", b"path=/2"]


def test_next_pipelined_request_waits_for_an_async_response(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET.replace(b"/", b"/a", 1) + GET.replace(b"/", b"/b", 1))
    assert [req.target for _, req in core.requests] == [b"/a"]
    h = core.requests[0][0]
    assert core.end(h, b"A") == lib.SC_OK  # later, outside any callback: written at once
    assert parse(conn.read())[0].body == b"A"
    assert core.poll(lambda: len(core.requests) == 2)
    assert core.requests[1][1].target == b"/b"


def test_http10_without_keep_alive_closes(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(b"GET /old HTTP/1.0\r\n\r\n")
    [r] = parse(conn.read())
    assert r.body == b"path=/old" and r.get("connection") == "close"
    assert not conn.open
    assert lib.sc_loop_num_connections(core.loop) == 0


def test_http10_keep_alive_is_echoed(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    [r] = parse(conn.read())
    assert r.get("connection") == "keep-alive"
    assert conn.open


def test_connection_close_from_client(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + GET)
    [r] = parse(conn.read())  # the second request is never answered
    assert r.get("connection") == "close"
    assert not conn.open
    assert len(core.requests) == 1


def test_end_connection_flag_closes_after_the_response(make: Any) -> None:
    core = make(lambda core, h, req: core.end(h, b"bye", flags=lib.SC_W_CLOSE))
    conn = core.connect()
    conn.feed(GET)
    [r] = parse(conn.read())
    assert r.body == b"bye" and r.get("connection") == "close"
    assert not conn.open
    assert conn.feed(GET) == lib.SC_ESTALE


def test_streaming_writes_use_chunked_encoding(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        assert core.write(h, b"one ", b"200 OK\r\nX-A: 1\r\n") == lib.SC_OK
        assert core.write(h, b"") == lib.SC_OK  # an empty chunk is not the end
        assert core.write(h, b"two") == lib.SC_OK
        assert core.end(h) == lib.SC_OK

    core = make(handler)
    conn = core.connect()
    conn.feed(GET + GET)
    raw = conn.read()
    first, second = parse(raw)
    assert first.get("transfer-encoding") == "chunked" and first.get("content-length") is None
    assert first.body == b"one two" == second.body
    assert raw.count(b"\r\n0\r\n\r\n") == 2


def test_streaming_to_http10_ends_by_closing(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        core.write(h, b"abc")
        core.end(h, b"def")

    core = make(handler)
    conn = core.connect()
    conn.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    raw = conn.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" not in head and b"Connection: close" in head
    assert body == b"abcdef"
    assert not conn.open


def test_head_request_gets_length_without_body(make: Any) -> None:
    core = make(lambda core, h, req: core.end(h, b"0123456789"))
    conn = core.connect()
    conn.feed(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    raw = conn.read()
    first, rest = raw.split(b"\r\n\r\n", 1)
    head_reply = parse(first + b"\r\n\r\n", head=True)[0]
    assert head_reply.get("content-length") == "10"
    assert rest.startswith(b"HTTP/1.1 200 OK")  # no body bytes in between
    assert parse(rest)[0].body == b"0123456789"
    assert core.requests[0][1].flags & lib.SC_REQ_HEAD


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_no_body_statuses_have_no_length_and_no_body(make: Any, status: bytes) -> None:
    core = make(lambda core, h, req: core.end(h, b"ignored", status + b"\r\n"))
    conn = core.connect()
    conn.feed(GET + GET)
    raw = conn.read()
    assert b"ignored" not in raw and b"Content-Length" not in raw
    assert [r.status for r in parse(raw)] == [int(status[:3])] * 2


def test_no_body_flag_and_own_length(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        if req.target == b"/nobody":
            core.end(h, b"", b"200 OK\r\n", lib.SC_W_NO_BODY)
        else:
            core.write(h, b"12", b"200 OK\r\nContent-Length: 4\r\n", lib.SC_W_HAS_LENGTH)
            core.end(h, b"34")

    core = make(handler)
    conn = core.connect()
    conn.feed(GET.replace(b"/", b"/nobody", 1) + GET)
    raw = conn.read()
    first, rest = raw.split(b"\r\n\r\n", 1)
    # No body, yet framed: a keep-alive client must see where the response ends.
    assert b"Content-Length: 0\r\n" in first + b"\r\n"
    [r] = parse(rest)
    assert r.get("content-length") == "4" and r.body == b"1234"
    assert r.get("transfer-encoding") is None


def test_bad_arguments_and_state(make: Any) -> None:
    got: dict[str, int] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        got["bad_head"] = core.write(h, b"", b"OK\r\n")
        got["no_crlf"] = core.write(h, b"", b"200 OK")
        got["first"] = core.write(h, b"x", b"200 OK\r\n")
        got["head_again"] = core.write(h, b"y", b"200 OK\r\n")
        got["end"] = core.end(h)

    core = make(handler)
    conn = core.connect()
    conn.feed(GET)
    assert got == {
        "bad_head": lib.SC_EINVAL,
        "no_crlf": lib.SC_EINVAL,
        "first": lib.SC_OK,
        "head_again": lib.SC_ESTATE,
        "end": lib.SC_OK,
    }
    assert parse(conn.read())[0].body == b"x"


# ---- request bodies -------------------------------------------------------------------


def test_content_length_body_arrives_in_chunks_with_is_end(make: Any) -> None:
    core = make(reply_get)
    core.on_data = lambda core, h, chunk, end: end and core.end(h, b"got")
    conn = core.connect()
    conn.feed(b"POST /u HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123")
    conn.feed(b"456")
    assert conn.read() == b""
    conn.feed(b"789" + GET)
    h = core.requests[0][0]
    assert core.data == [(h, b"0123", False), (h, b"456", False), (h, b"789", True)]
    assert core.requests[0][1].content_length == 10
    replies = parse(conn.read())
    assert [r.body for r in replies] == [b"got", b"path=/"]


def test_chunked_request_body_is_decoded(make: Any) -> None:
    core = make(reply_get)
    core.on_data = lambda core, h, chunk, end: end and core.end(h, b"ok")
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    conn.feed(b"lo\r\n6\r\n world\r\n0\r\n\r\n" + GET)
    body = b"".join(chunk for _, chunk, _ in core.data)
    assert body == b"hello world"
    assert core.data[-1][2] is True
    assert sum(1 for _, _, end in core.data if end) == 1
    assert core.requests[0][1].flags & lib.SC_REQ_CHUNKED
    assert [r.body for r in parse(conn.read())] == [b"ok", b"path=/"]


def test_body_over_limit_gets_413_and_close(make: Any) -> None:
    core = make(max_body_size=8)
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n123456789")
    [r] = parse(conn.read())
    assert r.status == 413 and r.get("connection") == "close"
    assert not conn.open and core.requests == []


def test_chunked_body_over_limit_aborts_and_gets_413(make: Any) -> None:
    core = make(handler=None, max_body_size=8)
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n")
    assert core.aborted == []
    conn.feed(b"5\r\n67890\r\n")
    h = core.requests[0][0]
    assert core.aborted == [h]
    [r] = parse(conn.read())
    assert r.status == 413 and not conn.open


def test_malformed_chunked_body_gets_400(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    [r] = parse(conn.read())
    assert r.status == 400 and not conn.open
    assert len(core.aborted) == 1


def test_response_before_body_discards_the_rest(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        core.end(h, b"early" if req.method == b"POST" else b"path=" + req.target)

    core = make(handler)
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
    conn.feed(b"def" + GET)
    assert core.data == []  # the body of an ended response is dropped
    assert [r.body for r in parse(conn.read())] == [b"early", b"path=/"]
    chunked = (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    conn.feed(chunked + GET)
    assert [r.body for r in parse(conn.read())] == [b"early", b"path=/"]


def test_expect_100_continue(make: Any) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        assert req.flags & lib.SC_REQ_EXPECT_100
        assert lib.sc_res_write_continue(core.loop, h) == lib.SC_OK

    core = make(handler)
    core.on_data = lambda core, h, chunk, end: end and core.end(h, chunk)
    conn = core.connect()
    conn.feed(b"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert conn.read() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.feed(b"hi")
    assert parse(conn.read())[0].body == b"hi"


# ---- protocol errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 600 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"A: b\r\n" * 12 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ],
)
def test_parser_errors_reach_the_wire_and_close(
    make: Any, request_bytes: bytes, status: int
) -> None:
    core = make(max_url_size=100, max_header_size=512, max_headers=10)
    conn = core.connect()
    conn.feed(request_bytes)
    raw = conn.read()
    [r] = parse(raw)
    assert r.status == status
    assert r.get("connection") == "close" and r.get("content-length") == "0"
    assert not conn.open
    assert core.requests == []
    assert conn.feed(GET) == lib.SC_ESTALE


def test_error_after_pipelined_good_request(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(GET + b"BAD\x01 / HTTP/1.1\r\n\r\n")
    first, second = parse(conn.read())
    assert first.status == 200 and second.status == 400
    assert not conn.open


# ---- timeouts -------------------------------------------------------------------------


def test_header_timeout_answers_408(make: Any) -> None:
    core = make(header_timeout_ms=100, idle_timeout_ms=5000)
    conn = core.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHo")
    assert core.poll(lambda: not conn.open)
    [r] = parse(conn.read())
    assert r.status == 408 and r.get("connection") == "close"
    assert core.requests == []


def test_idle_timeout_closes_silently(make: Any) -> None:
    core = make(idle_timeout_ms=100)
    conn = core.connect()
    conn.feed(GET)
    assert parse(conn.read())[0].status == 200
    assert core.poll(lambda: not conn.open)
    assert conn.read() == b""
    assert core.aborted == []
    assert lib.sc_loop_num_connections(core.loop) == 0


def test_idle_timeout_aborts_a_pending_response(make: Any) -> None:
    core = make(handler=None, idle_timeout_ms=150)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert lib.sc_res_alive(core.loop, h) == 1
    assert core.poll(lambda: not conn.open)
    assert core.aborted == [h]
    assert lib.sc_res_alive(core.loop, h) == 0
    assert core.end(h) == lib.SC_ESTALE


def test_timeouts_zero_mean_off(make: Any) -> None:
    core = make(handler=None, idle_timeout_ms=0, header_timeout_ms=0)
    conn = core.connect()
    conn.feed(b"GET / HT")
    assert lib.sc_loop_poll(core.loop, 50) >= 0
    assert conn.open


# ---- handles --------------------------------------------------------------------------


def test_stale_handles_after_end_and_after_close(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert core.end(h, b"x") == lib.SC_OK
    buf = ffi.new("char[64]")
    for call in (
        lambda: core.end(h),
        lambda: core.write(h, b"y"),
        lambda: core.try_end(h, b"", 0),
        lambda: lib.sc_res_cork(core.loop, h, 1),
        lambda: lib.sc_res_pause(core.loop, h),
        lambda: lib.sc_res_resume(core.loop, h),
        lambda: lib.sc_res_close(core.loop, h),
        lambda: lib.sc_res_want_writable(core.loop, h, 1),
        lambda: lib.sc_res_write_continue(core.loop, h),
        lambda: lib.sc_res_override_write_offset(core.loop, h, 3),
        lambda: lib.sc_res_remote_address(core.loop, h, buf, 64),
    ):
        assert call() == lib.SC_ESTALE
    assert lib.sc_res_alive(core.loop, h) == 0
    assert lib.sc_res_write_offset(core.loop, h) == 0

    conn.feed(GET)
    h2 = core.requests[1][0]
    assert h2 != h and lib.sc_res_alive(core.loop, h2) == 1
    assert conn.close() == lib.SC_OK
    assert core.aborted == [h2]
    assert core.end(h2) == lib.SC_ESTALE
    assert conn.close() == lib.SC_ESTALE
    assert conn.feed(GET) == lib.SC_ESTALE
    assert lib.sc_res_alive(core.loop, 0) == 0
    # a new connection reusing the slot does not revive old handles
    other = core.connect()
    other.feed(GET)
    assert core.end(h2) == lib.SC_ESTALE
    assert lib.sc_mem_feed(core.loop, conn.h, GET, len(GET)) == lib.SC_ESTALE


def test_on_aborted_fires_once_and_not_for_ended_responses(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert lib.sc_res_close(core.loop, h) == lib.SC_OK
    assert core.aborted == [h]
    assert conn.close() == lib.SC_OK
    assert core.aborted == [h]

    conn2 = core.connect()
    conn2.feed(GET)
    core.end(core.requests[1][0])
    conn2.close()
    assert core.aborted == [h]


def test_server_closed_memory_output_stays_readable(make: Any) -> None:
    core = make(lambda core, h, req: core.end(h, b"last", flags=lib.SC_W_CLOSE))
    conn = core.connect()
    conn.feed(GET)
    assert not conn.open
    assert parse(conn.read())[0].body == b"last"
    assert conn.close(discard=0) == lib.SC_OK
    assert conn.read() == b""


def test_drain_closes_idle_and_marks_busy(make: Any) -> None:
    core = make(handler=None)
    idle = core.connect()
    busy = core.connect()
    busy.feed(GET)
    h = core.requests[0][0]
    lib.sc_loop_drain(core.loop)
    assert not idle.open and busy.open
    core.end(h, b"done")
    [r] = parse(busy.read())
    assert r.get("connection") == "close" and r.body == b"done"
    assert not busy.open


def test_poll_from_inside_a_callback_is_refused(make: Any) -> None:
    seen: list[int] = []
    core = make(lambda core, h, req: (seen.append(lib.sc_loop_poll(core.loop, 0)), core.end(h)))
    conn = core.connect()
    conn.feed(GET)
    assert seen == [lib.SC_ESTATE]


def test_callback_exception_is_logged(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    def handler(core: Core, h: int, req: Req) -> None:
        raise RuntimeError("boom in handler")

    core = make(handler)
    conn = core.connect()
    with caplog.at_level(logging.ERROR, logger="socketify"):
        assert conn.feed(GET) == lib.SC_OK
    assert any("boom in handler" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
    assert conn.open  # the core is not affected; the response is still pending


# ---- backpressure ---------------------------------------------------------------------


def test_write_beyond_max_backpressure_returns_eagain_then_on_writable(make: Any) -> None:
    core = make(handler=None, max_backpressure=1000)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    lib.sc_mem_set_capacity(core.loop, conn.h, 100)
    assert core.write(h, b"a" * 500) == lib.SC_OK  # buffered, below the limit
    assert core.write(h, b"b" * 2000) == lib.SC_EAGAIN  # still buffered
    assert lib.sc_res_write_offset(core.loop, h) == 2500
    core.on_writable = lambda core, h, off: core.end(h) == lib.SC_OK
    out = b""
    for _ in range(200):
        chunk = conn.read()
        if not chunk:
            break
        out += chunk
    assert core.writable == [(h, 2500)]
    [r] = parse(out)
    assert r.body == b"a" * 500 + b"b" * 2000


def test_try_end_writes_only_what_fits_and_resumes_on_writable(make: Any) -> None:
    body = bytes(range(256)) * 20  # 5120 bytes
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    lib.sc_mem_set_capacity(core.loop, conn.h, 1000)
    rc = core.try_end(h, body, len(body))
    assert rc == 0  # not ok, not done
    first = lib.sc_res_write_offset(core.loop, h)
    assert 0 < first < 1000

    def resume(core: Core, h: int, offset: int) -> bool:
        rc = core.try_end(h, body[offset:], len(body))
        assert rc >= 0
        return bool(rc & 1)

    core.on_writable = resume
    out = b""
    for _ in range(100):
        chunk = conn.read()
        if not chunk and not lib.sc_res_alive(core.loop, h):
            break
        out += chunk
    [r] = parse(out)
    assert r.get("content-length") == str(len(body)) and r.body == body
    offsets = [off for _, off in core.writable]
    assert offsets[0] == first and offsets == sorted(offsets)
    assert lib.sc_res_alive(core.loop, h) == 0


def test_try_end_ok_and_done_bits(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert core.try_end(h, b"abc", 6) == 1  # ok, not done
    assert lib.sc_res_write_offset(core.loop, h) == 3
    assert core.try_end(h, b"defg", 6) == lib.SC_EINVAL  # past the total
    assert core.try_end(h, b"def", 6) == 3  # ok and done
    assert core.try_end(h, b"", 6) == lib.SC_ESTALE
    [r] = parse(conn.read())
    assert r.body == b"abcdef" and r.get("content-length") == "6"


def test_try_end_with_the_heads_own_content_length(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET + GET)
    h = core.requests[0][0]

    def try_end(head: bytes, body: bytes, total: int) -> int:
        return lib.sc_res_try_end(
            core.loop, h, head, len(head), body, len(body), total, lib.SC_W_HAS_LENGTH
        )

    # SC_W_HAS_LENGTH without a Content-Length line in the head: refused, nothing sent
    assert try_end(b"200 OK\r\n", b"abc", 3) == lib.SC_EINVAL
    assert conn.read() == b""
    head = b"200 OK\r\nContent-Length: 4\r\n"
    assert try_end(head, b"abcde", 99) == lib.SC_EINVAL  # past the head's length
    assert try_end(head, b"ab", 99) == 1  # the head's 4 is the total, not 99
    assert try_end(b"", b"cd", 99) == 3
    [r] = parse(conn.read())
    assert r.get("content-length") == "4" and r.body == b"abcd"  # get(): one line only
    assert core.poll(lambda: len(core.requests) == 2)  # keep-alive: the next one is served


def test_override_write_offset(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert lib.sc_res_override_write_offset(core.loop, h, 40) == lib.SC_OK
    assert lib.sc_res_write_offset(core.loop, h) == 40


def test_try_end_past_the_total_from_an_overridden_offset_is_refused(make: Any) -> None:
    """The bound holds whatever the offset: offset + body must not wrap around past it."""
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert core.try_end(h, b"ab", 10) == 1
    assert lib.sc_res_override_write_offset(core.loop, h, 2**64 - 1) == lib.SC_OK
    assert core.try_end(h, b"cd", 10) == lib.SC_EINVAL
    assert lib.sc_res_override_write_offset(core.loop, h, 11) == lib.SC_OK
    assert core.try_end(h, b"", 10) == lib.SC_EINVAL  # already past it
    assert lib.sc_res_override_write_offset(core.loop, h, 2) == lib.SC_OK
    assert core.try_end(h, b"cdefghij", 10) == 3
    [r] = parse(conn.read())
    assert r.body == b"abcdefghij"


def test_cork_holds_output_until_uncork(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    assert core.write(h, b"now") == lib.SC_OK
    assert b"now" in conn.read()  # outside poll a write leaves at once
    assert lib.sc_res_cork(core.loop, h, 1) == lib.SC_OK
    core.write(h, b"later1")
    assert conn.read() == b""  # held while corked
    core.end(h, b"later2")
    # The cork belongs to the response: ending it releases the cork and flushes, so a
    # response ended while corked can never stay stuck in the buffer.
    out = conn.read()
    assert b"later1" in out and b"later2" in out and out.endswith(b"0\r\n\r\n")
    assert lib.sc_res_cork(core.loop, h, 0) == lib.SC_ESTALE  # the response ended


def test_uncork_flushes(make: Any) -> None:
    core = make(handler=None)
    conn = core.connect()
    conn.feed(GET)
    h = core.requests[0][0]
    lib.sc_res_cork(core.loop, h, 1)
    core.write(h, b"part1")
    core.write(h, b"part2")
    assert conn.read() == b""
    assert lib.sc_res_cork(core.loop, h, 0) == lib.SC_OK
    out = conn.read()
    assert b"part1" in out and b"part2" in out


# ---- pause / resume -------------------------------------------------------------------


def test_pause_stops_delivering_and_resume_restarts(make: Any) -> None:
    core = make(handler=lambda core, h, req: lib.sc_res_pause(core.loop, h))
    core.on_data = lambda core, h, chunk, end: end and core.end(h, b"done")
    conn = core.connect()
    conn.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
    conn.feed(b"cd")
    assert core.data == []
    h = core.requests[0][0]
    assert lib.sc_res_resume(core.loop, h) == lib.SC_OK
    assert core.poll(lambda: bool(core.data))
    assert [(c, e) for _, c, e in core.data] == [(b"abcd", True)]
    assert parse(conn.read())[0].body == b"done"


# ---- addresses and PROXY --------------------------------------------------------------


def _address(core: Core, h: int, fn: Any) -> bytes:
    buf = ffi.new("char[64]")
    n = fn(core.loop, h, buf, 64)
    assert n >= 0
    return ffi.unpack(buf, n)


@pytest.mark.parametrize(
    ("ip", "raw"),
    [("127.0.0.1", bytes([127, 0, 0, 1])), ("::1", bytes(15) + b"\x01"), ("", b"")],
)
def test_memory_remote_address(make: Any, ip: str, raw: bytes) -> None:
    core = make(handler=None)
    conn = core.connect(ip, 1234)
    conn.feed(GET)
    h = core.requests[0][0]
    assert _address(core, h, lib.sc_res_remote_address) == ip.encode()
    assert _address(core, h, lib.sc_res_remote_bytes) == raw
    assert _address(core, h, lib.sc_res_proxied_address) == b""
    small = ffi.new("char[2]")
    if ip:
        assert lib.sc_res_remote_address(core.loop, h, small, 2) == lib.SC_EINVAL


def _proxy_v2(cmd: int, fam: int, addresses: bytes) -> bytes:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    return sig + bytes([0x20 | cmd, fam]) + len(addresses).to_bytes(2, "big") + addresses


@pytest.mark.parametrize(
    ("header", "text", "raw"),
    [
        (b"PROXY TCP4 192.168.1.9 10.0.0.1 56324 443\r\n", b"192.168.1.9", bytes([192, 168, 1, 9])),
        (b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n", b"2001:db8::7", None),
        (b"PROXY UNKNOWN\r\n", b"", b""),
        (
            _proxy_v2(1, 0x11, bytes([203, 0, 113, 5, 10, 0, 0, 1, 0x1F, 0x90, 0, 80])),
            b"203.0.113.5",
            bytes([203, 0, 113, 5]),
        ),
        (_proxy_v2(1, 0x21, bytes(15) + b"\x02" + bytes(16) + b"\x00\x50\x00\x50"), b"::2", None),
        (  # an IPv4-mapped IPv6 source is reported as IPv4, as a dual-stack socket's peer is
            _proxy_v2(1, 0x21, bytes(10) + b"\xff\xff\xc6\x33\x64\x07" + bytes(16) + bytes(4)),
            b"198.51.100.7",
            bytes([198, 51, 100, 7]),
        ),
        (_proxy_v2(0, 0x00, b""), b"", b""),
        (_proxy_v2(1, 0x11, bytes(12) + b"\x01\x00\x02ab"), b"0.0.0.0", bytes(4)),  # with a TLV
    ],
)
def test_proxy_protocol_headers(make: Any, header: bytes, text: bytes, raw: Any) -> None:
    core = make(handler=None, proxy_protocol=1)
    conn = core.connect("10.0.0.2", 999)
    conn.feed(header[:7])  # split anywhere
    conn.feed(header[7:] + GET)
    assert len(core.requests) == 1
    h = core.requests[0][0]
    assert _address(core, h, lib.sc_res_proxied_address) == text
    if raw is not None:
        assert _address(core, h, lib.sc_res_proxied_bytes) == raw
    assert _address(core, h, lib.sc_res_remote_address) == b"10.0.0.2"


@pytest.mark.parametrize(
    "header",
    [
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
        b"PROXY TCP4 1.2.3.999 5.6.7.8 80 80\r\n",
        b"PROXY TCP4 ::1 ::1 80 80\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n",
        b"PROXY TCP9 1.2.3.4 5.6.7.8 80 80\r\n",
        b"PROXY " + b"x" * 120,
        b"\r\n\r\n\x00\r\nQUIX\n" + bytes(4),
        _proxy_v2(1, 0x11, bytes(4)),  # too short for IPv4
        _proxy_v2(1, 0x11, bytes(11)),  # one byte short of two IPv4 addresses and ports
        _proxy_v2(1, 0x21, bytes(35)),  # one byte short for IPv6
        _proxy_v2(1, 0x41, bytes(12)),  # no such address family
        b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x00",  # version 3
    ],
)
def test_malformed_proxy_header_gets_400(make: Any, header: bytes) -> None:
    core = make(proxy_protocol=1)
    conn = core.connect()
    conn.feed(header + GET)
    [r] = parse(conn.read())
    assert r.status == 400 and not conn.open
    assert core.requests == []


def test_proxy_header_not_expected_when_disabled(make: Any) -> None:
    core = make()
    conn = core.connect()
    conn.feed(b"PROXY TCP4 1.2.3.4 5.6.7.8 80 80\r\n" + GET)
    [r] = parse(conn.read())
    assert r.status == 400


# ---- connection accounting ------------------------------------------------------------


def test_many_memory_connections_are_released(make: Any) -> None:
    core = make()
    conns = [core.connect() for _ in range(300)]
    for conn in conns[::2]:
        conn.feed(GET)
    assert lib.sc_loop_num_connections(core.loop) == 300
    for conn in conns:
        conn.close()
    assert lib.sc_loop_num_connections(core.loop) == 0
    again = core.connect()
    again.feed(GET)
    assert parse(again.read())[0].status == 200
