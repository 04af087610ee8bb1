"""The request-smuggling and framing matrix (docs/security.md explains each outcome).

Every case feeds raw bytes through the real C parser over the memory transport and
checks the status the core answers and whether the connection stays open.  Ambiguous
framing is rejected, never guessed: a rejected request gets its error status with
``Connection: close`` and the connection is closed after it.
"""

from __future__ import annotations

import pytest

from socketify import App

MAX_URL = 256
MAX_HEADER = 2048


def make_app() -> App:
    app = App(max_url_size=MAX_URL, max_header_size=MAX_HEADER, max_headers=16, max_body_size=64)

    def echo(res, req):
        url = req.get_url()

        def on_data(res, chunk, is_end):
            parts.append(bytes(chunk))
            if is_end:
                res.end(b"%s %s" % (url.encode(), b"".join(parts)))

        parts: list[bytes] = []
        res.on_data(on_data)

    app.any("/*", echo)
    return app


def split_response(data: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """First response in data: status, headers (lower-case), body, rest."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {data!r}"
    lines = head.decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        size = int(headers["content-length"])
        return int(status), headers, rest[:size], rest[size:]
    assert headers.get("transfer-encoding") == "chunked", headers
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            _, _, rest = rest.partition(b"\r\n")
            return int(status), headers, body, rest
        body += rest[:size]
        rest = rest[size + 2 :]


def exchange(raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    app = make_app()
    conn = app.memory_host().open_connection()
    conn.feed(raw)
    status, headers, body, _ = split_response(conn.read())
    return status, headers, body, conn.open


OK_GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"

REJECTED = {
    # name: (request bytes, status)
    "content-length with transfer-encoding": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked not last": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        400,
    ),
    "chunked then gzip": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    "chunked twice": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        400,
    ),
    "unknown transfer coding": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    "transfer-encoding in HTTP/1.0": (
        b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "differing content-length": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "content-length with sign": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na",
        400,
    ),
    "content-length not a number": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\na",
        400,
    ),
    "content-length overflow": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
    ),
    "obs-fold": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400),
    "bare CR in a header value": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400),
    "bare LF in the request line": (b"GET /a HTTP/1.1\nHost: x\r\n\r\n", 400),
    "space before the colon": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400),
    "NUL in a header value": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n", 400),
    "control byte in a header value": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", 400),
    "DEL in a header value": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: \x7f\r\n\r\n", 400),
    "header name not a token": (b"GET /a HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400),
    "duplicate Host": (b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    "missing Host in HTTP/1.1": (b"GET /a HTTP/1.1\r\n\r\n", 400),
    "overlong chunk size": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"00000000000000001\r\na\r\n0\r\n\r\n",
        400,
    ),
    "chunk size not hex": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    "chunk data without CRLF": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY",
        400,
    ),
    "HTTP/0.9 request": (b"GET /a\r\n\r\n", 400),
    # "PRI *" is refused before its version is read: only OPTIONS may use "*".
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "HTTP/2.0 request line": (b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "HTTP/1.2": (b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    "method not a token": (b"G(T /a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "version not a token": (b"GET /a HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    "two spaces in the request line": (b"GET  /a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "asterisk-form for GET": (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "target with a space byte": (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "url over the limit": (b"GET /" + b"a" * MAX_URL + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "head over the limit": (
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * MAX_HEADER + b"\r\n\r\n",
        431,
    ),
    "too many headers": (
        b"GET /a HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(20))
        + b"\r\n",
        431,
    ),
    "content-length body over the limit": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + b"a" * 65,
        413,
    ),
    "chunked body over the limit": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"41\r\n" + b"a" * 65 + b"\r\n0\r\n\r\n",
        413,
    ),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_with_status_and_closed(name: str) -> None:
    raw, expected = REJECTED[name]
    status, headers, _, still_open = exchange(raw)
    assert status == expected, name
    assert headers.get("connection") == "close", name
    assert not still_open, name


def test_rejected_request_does_not_reach_a_handler() -> None:
    app = make_app()
    conn = app.memory_host().open_connection()
    conn.feed(REJECTED["content-length with transfer-encoding"][0] + OK_GET)
    status, _, _, rest = split_response(conn.read())
    assert status == 400
    assert rest == b"", "a request after a rejected one must not be answered"
    assert not conn.open


ACCEPTED = {
    # name: (request bytes, expected body)
    "absolute-form target": (b"GET http://x/abs/p HTTP/1.1\r\nHost: x\r\n\r\n", b"/abs/p "),
    "identical duplicate content-length": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        b"/a ab",
    ),
    "chunk extensions": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2;name=value\r\nab\r\n1;flag\r\nc\r\n0\r\n\r\n",
        b"/a abc",
    ),
    "trailer fields": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n",
        b"/a abc",
    ),
    "transfer-encoding case-insensitive": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        b"/a z",
    ),
    "HTTP/1.0 without Host": (b"GET /old HTTP/1.0\r\n\r\n", b"/old "),
    "leading empty line": (b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"/a "),
    "url at the limit": (
        b"GET /" + b"a" * (MAX_URL - 1) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"/" + b"a" * (MAX_URL - 1) + b" ",
    ),
    "body at the limit": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n" + b"b" * 64,
        b"/a " + b"b" * 64,
    ),
    "obs-text in a header value": (b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n", b"/a "),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_and_kept_alive(name: str) -> None:
    raw, body = ACCEPTED[name]
    status, _, got, still_open = exchange(raw)
    assert (status, got) == (200, body), name
    if b"HTTP/1.0" not in raw:
        assert still_open, name


def test_options_asterisk_form_is_parsed() -> None:
    status, _, _, still_open = exchange(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status != 400
    assert still_open


PIPELINE = (
    b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    b"POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\nde\r\n1;x=y\r\nf\r\n0\r\nT: 1\r\n\r\n"
    b"GET /four HTTP/1.1\r\nHost: x\r\n\r\n"
)
EXPECTED_BODIES = [b"/one ", b"/two abc", b"/three def", b"/four "]


def bodies_of(output: bytes) -> list[bytes]:
    bodies = []
    while output:
        status, _, body, output = split_response(output)
        assert status == 200
        bodies.append(body)
    return bodies


def test_pipelined_requests_in_one_feed() -> None:
    conn = make_app().memory_host().open_connection()
    conn.feed(PIPELINE)
    assert bodies_of(conn.read()) == EXPECTED_BODIES
    assert conn.open


def test_pipelined_requests_split_at_every_byte_boundary() -> None:
    app = make_app()
    for cut in range(1, len(PIPELINE)):
        conn = app.memory_host().open_connection()
        conn.feed(PIPELINE[:cut])
        conn.feed(PIPELINE[cut:])
        assert bodies_of(conn.read()) == EXPECTED_BODIES, f"split at byte {cut}"
        conn.close()


def test_pipelined_requests_fed_one_byte_at_a_time() -> None:
    conn = make_app().memory_host().open_connection()
    for i in range(len(PIPELINE)):
        conn.feed(PIPELINE[i : i + 1])
    assert bodies_of(conn.read()) == EXPECTED_BODIES
