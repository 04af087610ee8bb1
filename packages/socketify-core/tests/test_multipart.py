"""socketify.multipart: the streaming parser alone, cross-checked against PyPI parsers, and
parse_form through the real core (TestClient on the memory transport, a real socket)."""

from __future__ import annotations

import io
import os
import random
import socket
import time

import pytest

from socketify import App
from socketify.multipart import (
    DEFAULT_LIMITS,
    FormData,
    InvalidContentType,
    InvalidPartHeaders,
    LimitExceeded,
    MultipartError,
    MultipartParser,
    TruncatedBody,
    parse_boundary,
    parse_form,
    parse_params,
)
from socketify_testing import TestClient

B = b"XyZ-boundary"
CT = "multipart/form-data; boundary=XyZ-boundary"


def part(name: str, data: bytes, filename: str | None = None, extra: bytes = b"") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = b"Content-Disposition: " + disposition.encode() + b"\r\n" + extra
    return b"--" + B + b"\r\n" + head + b"\r\n" + data + b"\r\n"


def body(*parts: bytes, close: bytes = b"--" + B + b"--\r\n") -> bytes:
    return b"".join(parts) + close


def parse(data: bytes, chunks: int = 1, **limits: int) -> FormData:
    parser = MultipartParser(B, **limits)
    size = max(1, -(-len(data) // chunks))
    for start in range(0, len(data), size):
        parser.feed(data[start : start + size])
    return parser.close()


SAMPLE = body(
    part("title", b"hello\r\nworld"),
    part("doc", b"--XyZ-boundar\r\n--\r\nline\r", "a.txt", b"Content-Type: text/plain\r\n"),
    part("title", "h\u00e9".encode()),
)


# ---- happy paths -------------------------------------------------------------------------
def test_fields_and_files() -> None:
    form = parse(SAMPLE)
    assert form.fields == {"title": ["hello\r\nworld", "h\u00e9"]}
    upload = form.get_file("doc")
    assert upload is not None
    assert (upload.name, upload.filename, upload.content_type) == ("doc", "a.txt", "text/plain")
    assert upload.headers["content-disposition"].startswith("form-data")
    assert upload.read() == b"--XyZ-boundar\r\n--\r\nline\r"
    assert upload.size == len(b"--XyZ-boundar\r\n--\r\nline\r")
    assert form.get("title") == "hello\r\nworld"
    assert form.get("missing", "x") == "x"
    assert form.get_file("missing") is None


def test_every_split_position_of_a_small_body() -> None:
    expected = parse(SAMPLE)
    for cut in range(len(SAMPLE) + 1):
        parser = MultipartParser(B)
        parser.feed(SAMPLE[:cut])
        parser.feed(SAMPLE[cut:])
        form = parser.close()
        assert form.fields == expected.fields, cut
        assert form.get_file("doc").read() == b"--XyZ-boundar\r\n--\r\nline\r", cut


def test_every_pair_of_split_positions_around_a_delimiter() -> None:
    data = body(part("a", b"x" * 5), part("b", b"\r\n\r\r\n"))
    for first in range(len(data)):
        for second in range(first, len(data) + 1):
            parser = MultipartParser(B)
            parser.feed(data[:first])
            parser.feed(data[first:second])
            parser.feed(data[second:])
            assert parser.close().fields == {"a": ["xxxxx"], "b": ["\r\n\r\r\n"]}, (first, second)


def test_one_byte_at_a_time() -> None:
    parser = MultipartParser(B)
    for index in range(len(SAMPLE)):
        parser.feed(SAMPLE[index : index + 1])
    assert parser.close().fields == parse(SAMPLE).fields


def test_preamble_epilogue_and_padding_are_ignored() -> None:
    data = (
        b"this is a preamble\r\n--"
        + B
        + b"  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--"
        + B
        + b"--\r\nepilogue --"
        + B
    )
    assert parse(data).fields == {"a": ["1"]}
    assert parse(data, chunks=7).fields == {"a": ["1"]}


def test_close_delimiter_without_crlf_and_empty_form() -> None:
    assert parse(body(part("a", b"1"), close=b"--" + B + b"--")).fields == {"a": ["1"]}
    empty = parse(b"--" + B + b"--\r\n")
    assert empty.fields == {} and empty.files == {}


def test_empty_values_and_empty_filename() -> None:
    form = parse(body(part("a", b""), part("f", b"", "")))
    assert form.fields == {"a": [""]}
    upload = form.get_file("f")
    assert upload.filename == "" and upload.size == 0 and upload.read() == b""
    assert upload.content_type == "text/plain"  # RFC 7578 4.4 default


def test_quoted_parameters_and_extended_filename() -> None:
    head = (
        b'Content-Disposition: form-data; name="q\\"x"; filename="a b.txt"; '
        b"filename*=UTF-8''%E2%82%AC.txt\r\n"
    )
    data = b"--" + B + b"\r\n" + head + b"\r\nX\r\n--" + B + b"--"
    upload = parse(data).get_file('q"x')
    assert upload.filename == "\u20ac.txt"
    assert parse_params('form-data; name="a;b"; x=1;') == ("form-data", {"name": "a;b", "x": "1"})


def test_utf8_names_and_field_charset() -> None:
    data = body(
        part("n\u00e9", "\u00e9t\u00e9".encode()),
        part(
            "l", "\u00e9".encode("latin-1"), extra=b"Content-Type: text/plain; charset=latin-1\r\n"
        ),
    )
    assert parse(data).fields == {"n\u00e9": ["\u00e9t\u00e9"], "l": ["\u00e9"]}


def test_files_spool_to_disk_past_the_threshold(tmp_path) -> None:
    small, large = b"s" * 100, os.urandom(5000)
    form = parse(body(part("a", small, "s.bin"), part("b", large, "l.bin")), spool_size=1000)
    assert form.get_file("a").file._rolled is False
    assert form.get_file("b").file._rolled is True
    target = tmp_path / "copy.bin"
    assert form.get_file("b").save(target) == 5000
    assert target.read_bytes() == large
    assert form.get_file("b").read() == large  # save() rewinds
    with form:
        pass
    assert form.get_file("b").file.closed


def test_boundary_from_content_type() -> None:
    assert parse_boundary(CT) == B
    assert parse_boundary(b'multipart/form-data; boundary="a b:c"') == b"a b:c"
    assert parse_boundary("Multipart/Form-Data ; charset=utf-8; boundary=x") == b"x"
    parser = MultipartParser.from_content_type(CT)
    parser.feed(SAMPLE)
    assert parser.done
    assert sorted(parser.close().fields) == ["title"]


# ---- bad input: every error carries its status ---------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/mixed; boundary=x",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 71,
        'multipart/form-data; boundary="ends with space "',
        "multipart/form-data; boundary=a{b}",
        'multipart/form-data; boundary="unterminated',
        "multipart/form-data; boundary=a; boundary=b",
    ],
)
def test_bad_content_type(content_type: str | None) -> None:
    with pytest.raises(InvalidContentType) as info:
        parse_boundary(content_type)
    assert info.value.status_hint == info.value.status == 400
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no delimiter at all",
        b"--" + B,
        b"--" + B + b"\r\n",
        b"--" + B + b"\r\nContent-Disposition: form-data; name=a\r\n",
        b"--" + B + b"\r\nContent-Disposition: form-data; name=a\r\n\r\npartial value",
        part("a", b"complete part but no close delimiter"),
        part("a", b"1") + b"--" + B + b"-",
    ],
)
def test_truncated_body(data: bytes) -> None:
    with pytest.raises(TruncatedBody) as info:
        parse(data)
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    "headers",
    [
        b"",  # no headers at all
        b"Content-Type: text/plain\r\n",  # no Content-Disposition
        b"Content-Disposition: form-data\r\n",  # no name
        b'Content-Disposition: attachment; name="a"\r\n',  # not form-data
        b'Content-Disposition: form-data; name="a"; name="b"\r\n',  # repeated parameter
        b'Content-Disposition: form-data; name="a\r\n',  # unterminated quote
        b"Content-Disposition form-data; name=a\r\n",  # no colon
        b"Content-Disposition: form-data;\r\n name=a\r\n",  # obs-fold
        b"Bad Name: x\r\nContent-Disposition: form-data; name=a\r\n",  # not a token
        b"Content-Disposition: form-data; name=a\r\n" * 2,  # repeated header
        b"Content-Disposition: form-data; name=a; filename*=bogus''%FF\r\n",  # bad charset
    ],
)
def test_bad_part_headers(headers: bytes) -> None:
    data = b"--" + B + b"\r\n" + headers + b"\r\nvalue\r\n--" + B + b"--"
    with pytest.raises(InvalidPartHeaders) as info:
        parse(data)
    assert info.value.status_hint == 400


def test_garbage_after_a_delimiter_is_rejected() -> None:
    data = part("a", b"x\r\n--" + B + b"tail") + b"--" + B + b"--"
    with pytest.raises(MultipartError) as info:
        parse(data)
    assert type(info.value) is MultipartError and info.value.status_hint == 400
    with pytest.raises(MultipartError):
        parse(b"--" + B + b"x" * 300)  # padding that never ends


def test_undecodable_field_is_a_400() -> None:
    with pytest.raises(MultipartError) as info:
        parse(body(part("a", b"\xff\xfe")))
    assert info.value.status_hint == 400 and "'a'" in str(info.value)


@pytest.mark.parametrize(
    ("limit", "value", "data"),
    [
        ("max_parts", 2, body(part("a", b"1"), part("b", b"2"), part("c", b"3"))),
        ("max_field_size", 10, body(part("a", b"x" * 11))),
        ("max_header_size", 64, body(part("a", b"1", extra=b"X-Long: " + b"y" * 80 + b"\r\n"))),
        ("max_header_size", 64, b"--" + B + b"\r\nX-Endless: " + b"y" * 200),
        ("max_total_size", 100, body(part("f", b"z" * 200, "f.bin"))),
    ],
)
def test_limits_give_413(limit: str, value: int, data: bytes) -> None:
    for chunks in (1, 9):
        with pytest.raises(LimitExceeded) as info:
            parse(data, chunks=chunks, **{limit: value})
        assert info.value.status_hint == 413
        assert info.value.limit == limit and info.value.value == value


def test_limits_at_the_edge_pass() -> None:
    assert parse(body(part("a", b"x" * 10)), max_field_size=10).fields == {"a": ["x" * 10]}
    assert len(parse(body(part("a", b"1"), part("b", b"2")), max_parts=2).fields) == 2
    assert parse(SAMPLE, max_total_size=len(SAMPLE)).get("title") == "hello\r\nworld"


def test_bad_limit_settings() -> None:
    with pytest.raises(TypeError, match="max_bogus"):
        MultipartParser(B, max_bogus=1)
    with pytest.raises(ValueError, match="max_parts"):
        MultipartParser(B, max_parts=-1)
    with pytest.raises(InvalidContentType):
        MultipartParser(b"")
    assert DEFAULT_LIMITS["max_parts"] > 0


def test_a_failed_parser_closes_files_and_refuses_more() -> None:
    parser = MultipartParser(B, max_total_size=500)
    parser.feed(
        part("f", b"a" * 10, "one.bin")
        + b"--"
        + B
        + b'\r\nContent-Disposition: form-data; name="g"; filename="g"\r\n\r\n'
    )
    done_file = parser.form.get_file("f")
    with pytest.raises(LimitExceeded):
        parser.feed(b"b" * 600)
    assert done_file.file.closed
    with pytest.raises(MultipartError, match="already failed"):
        parser.feed(b"more")


# ---- cross-checks against PyPI parsers -------------------------------------------------------------
def random_form(rng: random.Random) -> tuple[bytes, bytes, list[tuple[str, str | None, bytes]]]:
    boundary = b"----b" + bytes(
        rng.choice(b"abcXYZ019'()+_,-./:=?") for _ in range(rng.randint(1, 30))
    )
    parts = []
    chunks = []
    for index in range(rng.randint(0, 6)):
        name = f"n{index}"
        if rng.random() < 0.5:
            # text with CR, LF and delimiter look-alikes (never the full delimiter)
            alphabet = ["a", "\r", "\n", "-", "--", "\r\n--", "\u00e9", boundary.decode()[:-1]]
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            data, filename = value.encode(), None
            if b"\r\n--" + boundary in b"\r\n" + data + b"\r\n--":
                continue
        else:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
            filename = f"file{index}.bin"
        while b"\r\n--" + boundary in b"\r\n" + data + b"\r\n--":  # never the delimiter
            data = data.replace(b"\r\n--" + boundary, b"").replace(b"--" + boundary, b"")
        head = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            head += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
        chunks.append(b"--" + boundary + b"\r\n" + head.encode() + b"\r\n\r\n" + data + b"\r\n")
        parts.append((name, filename, data))
    chunks.append(b"--" + boundary + b"--\r\n")
    return boundary, b"".join(chunks), parts


def ours(boundary: bytes, data: bytes, rng: random.Random) -> list[tuple[str, str | None, bytes]]:
    parser = MultipartParser(boundary, spool_size=512)
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 200)
        parser.feed(data[pos : pos + step])
        pos += step
    form = parser.close()
    found = [(name, None, values[0].encode()) for name, values in form.fields.items()]
    found += [(name, files[0].filename, files[0].read()) for name, files in form.files.items()]
    return sorted(found, key=lambda item: int(item[0][1:]))


def test_random_forms_match_the_multipart_package() -> None:
    multipart = pytest.importorskip("multipart", reason="PyPI package 'multipart' not installed")
    if not hasattr(multipart, "MultipartParser") or not hasattr(multipart, "MultipartPart"):
        pytest.skip("the 'multipart' module here is not the PyPI 'multipart' package")
    rng = random.Random(7578)
    for _ in range(150):
        boundary, data, expected = random_form(rng)
        theirs = [
            (part.name, part.filename, part.raw)
            for part in multipart.MultipartParser(io.BytesIO(data), boundary.decode())
        ]
        assert theirs == expected
        assert ours(boundary, data, rng) == expected


def test_random_forms_match_python_multipart() -> None:
    python_multipart = pytest.importorskip(
        "python_multipart", reason="PyPI package 'python-multipart' not installed"
    )
    rng = random.Random(2046)
    for _ in range(150):
        boundary, data, expected = random_form(rng)
        collected: list[bytes] = []

        def begin(collected: list[bytes] = collected) -> None:
            collected.append(b"")

        def data_cb(buf: bytes, start: int, end: int, collected: list[bytes] = collected) -> None:
            collected[-1] += buf[start:end]

        parser = python_multipart.MultipartParser(
            boundary, {"on_part_begin": begin, "on_part_data": data_cb}
        )
        for start in range(0, len(data), 97):
            parser.write(data[start : start + 97])
        parser.finalize()
        assert collected == [item[2] for item in expected]
        assert ours(boundary, data, rng) == expected


# ---- parse_form through the real core ------------------------------------------------------------
def upload_app(**limits: int) -> App:
    app = App(max_body_size=256 * 1024 * 1024)

    @app.on_error
    def on_error(error: BaseException, res, req) -> None:
        if res is not None:
            res.write_status(getattr(error, "status_hint", 500)).end(str(error), True)

    async def upload(res, req) -> None:
        form = await parse_form(res, req, **limits)
        with form:
            files = {
                name: [[f.filename, f.content_type, f.size, f.read().decode("latin-1")] for f in fs]
                for name, fs in form.files.items()
            }
            res.send({"fields": form.fields, "files": files})

    app.post("/upload", upload)
    return app


def test_parse_form_end_to_end() -> None:
    with TestClient(upload_app()) as client:
        reply = client.post(
            "/upload",
            data={"title": "hi", "tags": ["a", "b"]},
            files={"doc": ("r\u00e9sum\u00e9.txt", b"line1\r\n--x\r\n", "text/plain")},
        )
    assert reply.status_code == 200
    assert reply.json() == {
        "fields": {"title": ["hi"], "tags": ["a", "b"]},
        "files": {"doc": [["r\u00e9sum\u00e9.txt", "text/plain", 12, "line1\r\n--x\r\n"]]},
    }


def test_parse_form_with_the_content_type_given() -> None:
    app = App()

    async def handler(res, req) -> None:
        form = await parse_form(res, CT)
        res.end(form.get("title"))

    app.post("/", handler)
    with TestClient(app) as client:
        assert client.post("/", content=SAMPLE).text == "hello\r\nworld"


def test_parse_form_after_an_await_keeps_every_chunk() -> None:
    import asyncio

    app = App()

    async def handler(res, req) -> None:
        content_type = req.get_header("content-type")
        await asyncio.sleep(0.01)  # body chunks arrive meanwhile and are replayed
        form = await parse_form(res, content_type)
        res.end(str(sorted(form.fields)))

    app.post("/", handler)
    with TestClient(app) as client:
        reply = client.post("/", content=SAMPLE, headers={"content-type": CT})
    assert reply.text == "['title']"


BAD_REQUESTS = [
    ("text/plain", SAMPLE, 400, "multipart/form-data"),
    ("multipart/form-data", SAMPLE, 400, "boundary"),
    (CT, SAMPLE[:-30], 400, "close delimiter"),
    (CT, b"", 400, "close delimiter"),
    (CT, b"--" + B + b"\r\nX-A: 1\r\n\r\nv\r\n--" + B + b"--", 400, "Content-Disposition"),
    (CT, b"--" + B + b"\r\nbroken header\r\n\r\nv\r\n--" + B + b"--", 400, "header"),
    (CT, body(*(part(f"p{i}", b"1") for i in range(5))), 413, "max_parts"),
    (CT, body(part("big", b"x" * 2000)), 413, "max_field_size"),
    (CT, body(part("f", b"x" * 9000, "f.bin")), 413, "max_total_size"),
    (CT, body(part("a", b"1", extra=b"X: " + b"h" * 600 + b"\r\n")), 413, "max_header_size"),
]


@pytest.mark.parametrize(("content_type", "data", "status", "words"), BAD_REQUESTS)
def test_parse_form_bad_input_status(
    content_type: str, data: bytes, status: int, words: str
) -> None:
    app = upload_app(max_parts=4, max_field_size=1000, max_total_size=8000, max_header_size=512)
    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.post("/upload", content=data, headers={"content-type": content_type})
    assert reply.status_code == status
    assert words in reply.text


def test_parse_form_error_reaches_the_error_handler() -> None:
    app = upload_app(max_parts=1)
    with TestClient(app) as client, pytest.raises(LimitExceeded):
        client.post("/upload", data={"a": "1"}, files={"f": b"x"})


# ---- memory over a real socket -------------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
@pytest.mark.skipif(
    os.environ.get("SOCKETIFY_SANITIZE") == "1",
    reason="under ASan freed memory sits in the sanitizer's quarantine: RSS is not ours",
)
def test_64_mib_upload_streams_without_growing_rss(serve, tmp_path) -> None:
    size = 64 * 1024 * 1024
    app = App(max_body_size=size + 1024 * 1024)
    seen: dict[str, int] = {}

    async def upload(res, req) -> None:
        form = await parse_form(res, req, max_total_size=size + 1024 * 1024)
        with form:
            upload = form.get_file("blob")
            seen["size"] = upload.size
            seen["rolled"] = upload.file._rolled
            seen["rss_after"] = _rss()
            res.end(str(upload.size))

    app.post("/upload", upload)
    head = b"--" + B + b'\r\nContent-Disposition: form-data; name="blob"; filename="b"\r\n\r\n'
    tail = b"\r\n--" + B + b"--\r\n"
    chunk = b"\xa5" * (256 * 1024)
    length = len(head) + size + len(tail)
    with serve(app) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        before = _rss()
        sock.sendall(
            f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: {CT}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
            + head
        )
        deadline = time.monotonic() + 60
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
            assert time.monotonic() < deadline
        sock.sendall(tail)
        reply = b""
        while not reply.endswith(str(size).encode()):
            more = sock.recv(4096)
            assert more, reply
            reply += more
    assert reply.startswith(b"HTTP/1.1 200")
    assert seen["size"] == size and seen["rolled"] is True
    assert seen["rss_after"] - before < 40 * 1024 * 1024, (before, seen["rss_after"])


def test_client_abort_mid_upload_cancels_and_closes_temp_files(wire, monkeypatch) -> None:
    import socketify.multipart as multipart_module

    spooled = []
    real = multipart_module.SpooledTemporaryFile

    def recording(*args, **kwargs):
        spooled.append(real(*args, **kwargs))
        return spooled[-1]

    monkeypatch.setattr(multipart_module, "SpooledTemporaryFile", recording)
    outcome: list[str] = []
    app = App()

    async def upload(res, req) -> None:
        try:
            await parse_form(res, req)
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise
        res.end("unexpected")

    app.post("/upload", upload)
    w = wire(app)
    conn = w.connect()
    start = part("f", b"x" * 1000, "f.bin")[:-200]
    conn.feed(
        f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: {CT}\r\n"
        f"Content-Length: 100000\r\n\r\n".encode()
        + start
    )
    w.spin(0.01)
    assert spooled and not spooled[0].closed
    conn.close()
    assert w.until(lambda: bool(outcome))
    assert outcome == ["CancelledError"]
    assert spooled[0].closed


def test_expect_100_continue_is_answered_before_the_body(wire) -> None:
    app = App()

    async def upload(res, req) -> None:
        form = await parse_form(res, req)
        res.end(form.get("title"))

    app.post("/upload", upload)
    w = wire(app)
    conn = w.connect()
    conn.feed(
        f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: {CT}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(SAMPLE)}\r\n\r\n".encode()
    )
    w.spin(0.01)
    assert conn.read() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.feed(SAMPLE)
    reply = w.replies(conn)[0]
    assert (reply.status, reply.body) == (200, b"hello\r\nworld")
