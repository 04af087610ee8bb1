"""socketify.static: the pure range/conditional decisions, then sendfile and static through
the real core (memory transport with backpressure, and a real socket for a large file)."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from socketify import App
from socketify import static as static_module
from socketify.static import (
    CHUNK,
    Conditions,
    Plan,
    content_type,
    etag_for,
    parse_range,
    plan,
    sendfile,
    static,
)
from socketify_testing import TestClient

ETAG = etag_for(100, 123456789)
MTIME = 1_700_000_000.5
MODIFIED = format_datetime(datetime.fromtimestamp(int(MTIME), timezone.utc), usegmt=True)


def decide(size: int = 100, **conditions: str) -> Plan:
    return plan(Conditions("GET", **conditions), size, MTIME, ETAG, MODIFIED)


# ---- pure decisions ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=90-", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=50-5000", (50, 99)),
        ("bytes = 1-2", (1, 2)),
        ("BYTES=1-2", (1, 2)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=100-200", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=0-1,5-6", "multiple"),
        ("bytes=5-1", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=1", None),
        ("bytes=0-1,", None),
        ("bytes=\u0661-2", None),
        ("items=0-1", None),
        ("0-1", None),
    ],
)
def test_parse_range(header: str, expected: object) -> None:
    assert parse_range(header, 100) == expected


def test_plan_plain_and_ranges() -> None:
    assert decide() == Plan(200, 0, 100)
    assert decide(range="bytes=10-19") == Plan(206, 10, 10, "bytes 10-19/100")
    assert decide(range="bytes=-1") == Plan(206, 99, 1, "bytes 99-99/100")
    assert decide(range="bytes=200-") == Plan(416, content_range="bytes */100")
    assert decide(range="bytes=0-1,3-4") == Plan(200, 0, 100)  # multi-range: whole file
    assert decide(range="bogus") == Plan(200, 0, 100)  # malformed: ignored
    assert decide(size=0, range="bytes=0-0") == Plan(200, 0, 0)  # empty file: no ranges
    assert plan(Conditions("GET", range="bytes=-5"), 0, MTIME, ETAG, MODIFIED).status == 200


def test_plan_conditionals() -> None:
    assert decide(if_none_match=ETAG).status == 304
    assert decide(if_none_match=f'"other", W/{ETAG}').status == 304  # weak comparison
    assert decide(if_none_match="*").status == 304
    assert decide(if_none_match='"other"').status == 200
    # If-None-Match wins over If-Modified-Since
    assert decide(if_none_match='"other"', if_modified_since=MODIFIED).status == 200
    assert decide(if_modified_since=MODIFIED).status == 304
    assert decide(if_modified_since="Sat, 01 Jan 2000 00:00:00 GMT").status == 200
    assert decide(if_modified_since="Fri, 01 Jan 2100 00:00:00 GMT").status == 304
    assert decide(if_modified_since="not a date").status == 200
    assert decide(if_modified_since="Tue, 14 Nov 2023 22:13:20").status == 200  # no zone


def test_plan_if_range() -> None:
    assert decide(range="bytes=0-0", if_range=ETAG).status == 206
    assert decide(range="bytes=0-0", if_range=MODIFIED).status == 206
    assert decide(range="bytes=0-0", if_range='"stale"') == Plan(200, 0, 100)
    assert decide(range="bytes=0-0", if_range=f"W/{ETAG}").status == 200  # strong only


def test_content_types() -> None:
    assert content_type("a.html") == "text/html; charset=utf-8"
    assert content_type("a.TXT") == "text/plain; charset=utf-8"
    assert content_type("a.css") == "text/css; charset=utf-8"
    assert content_type("a.json") == "application/json; charset=utf-8"
    assert content_type("a.svg") == "image/svg+xml; charset=utf-8"
    assert content_type("a.png") == "image/png"
    assert content_type("archive.tar.gz") == "application/gzip"
    assert content_type("noext") == "application/octet-stream"
    assert content_type("x.unknownext") == "application/octet-stream"


def test_etag_changes_with_size_and_mtime() -> None:
    assert etag_for(1, 2) != etag_for(2, 2) != etag_for(2, 3)
    assert etag_for(1, 2).startswith('"') and etag_for(1, 2).endswith('"')


# ---- through the core ----------------------------------------------------------------------
@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello world")
    (root / "page.html").write_text("<h1>hi</h1>")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("index of sub")
    (root / "empty").mkdir()
    (root / "caf\u00e9.txt").write_text("accent")
    (root / "big.bin").write_bytes(os.urandom(5 * CHUNK + 123))
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(root / "hello.txt", root / "alias.txt")
    os.symlink(tmp_path, root / "updir")
    os.mkfifo(root / "fifo")
    return root


@pytest.fixture
def client(site):
    app = App()
    static(app, "/static", site)
    with TestClient(app) as test_client:
        yield test_client


def test_get_file(client) -> None:
    reply = client.get("/static/hello.txt")
    assert reply.status_code == 200
    assert reply.content == b"hello world"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["content-length"] == "11"
    assert reply.headers["etag"].startswith('"')
    assert reply.headers["last-modified"].endswith(" GMT")
    assert client.get("/static/page.html").headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/static/caf%C3%A9.txt").text == "accent"
    assert client.get("/static/alias.txt").text == "hello world"  # symlink inside the root
    assert client.get("/static/sub/").text == "index of sub"
    assert client.get("/static/sub").text == "index of sub"


def test_head_has_length_and_no_body(client) -> None:
    reply = client.head("/static/big.bin")
    assert reply.status_code == 200
    assert reply.headers["content-length"] == str(5 * CHUNK + 123)
    assert reply.content == b""


def test_conditional_requests(client) -> None:
    first = client.get("/static/hello.txt")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    not_modified = client.get("/static/hello.txt", headers={"if-none-match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert "content-length" not in not_modified.headers
    assert (
        client.get("/static/hello.txt", headers={"if-modified-since": modified}).status_code == 304
    )
    changed = client.get("/static/hello.txt", headers={"if-none-match": '"nope"'})
    assert changed.status_code == 200 and changed.content == b"hello world"
    old = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert client.get("/static/hello.txt", headers={"if-modified-since": old}).status_code == 200


def test_ranges(client, site) -> None:
    data = (site / "big.bin").read_bytes()
    size = len(data)
    part = client.get("/static/hello.txt", headers={"range": "bytes=6-"})
    assert part.status_code == 206
    assert part.content == b"world"
    assert part.headers["content-range"] == "bytes 6-10/11"
    suffix = client.get("/static/hello.txt", headers={"range": "bytes=-5"})
    assert (suffix.status_code, suffix.content) == (206, b"world")
    big = client.get("/static/big.bin", headers={"range": f"bytes=1000-{size - 1001}"})
    assert big.status_code == 206 and big.content == data[1000 : size - 1000]
    assert big.headers["content-range"] == f"bytes 1000-{size - 1001}/{size}"


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        ("bytes=11-", 416, None),
        ("bytes=500-600", 416, None),
        ("bytes=-0", 416, None),
        ("bytes=0-1,4-5", 200, b"hello world"),  # multi-range: whole file, 200
        ("bytes=5-1", 200, b"hello world"),  # invalid: ignored
        ("bytes=x-y", 200, b"hello world"),
        ("lines=1-2", 200, b"hello world"),
    ],
)
def test_bad_ranges(client, header: str, status: int, body: bytes | None) -> None:
    reply = client.get("/static/hello.txt", headers={"range": header})
    assert reply.status_code == status
    if status == 416:
        assert reply.headers["content-range"] == "bytes */11"
    else:
        assert reply.content == body
        assert "content-range" not in reply.headers


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/../secret.txt", 404),
        ("/static/sub/../../secret.txt", 404),
        ("/static/%2e%2e/secret.txt", 404),
        ("/static/%2E%2E/secret.txt", 404),
        ("/static/.%2e/secret.txt", 404),
        ("/static/sub/%2e%2e%2f%2e%2e%2fsecret.txt", 404),
        ("/static/..%2fsecret.txt", 404),
        ("/static/%2fetc%2fpasswd", 404),
        ("/static/..%5csecret.txt", 404),
        ("/static/%5c..%5csecret.txt", 404),
        ("/static/./hello.txt", 404),
        ("/static/escape.txt", 404),  # symlink to a file outside the root
        ("/static/updir/secret.txt", 404),  # symlink to a directory outside the root
        ("/static/hello.txt%00.png", 400),
        ("/static/%00", 400),
        ("/static/%ff%fe.txt", 404),  # not UTF-8
        ("/static/missing.txt", 404),
        ("/static/empty/", 404),  # a directory without index.html
        ("/static/fifo", 404),  # not a regular file (and must not block)
        ("/static/hello.txt/", 404),
        ("/static/", 404),
    ],
)
def test_traversal_and_non_files(site, wire, path: str, status: int) -> None:
    app = App()
    static(app, "/static", site)
    reply = wire(app).get(path)
    assert reply.status == status, reply
    assert b"secret" not in reply.body


def test_raw_backslash_and_absolute_paths(site, wire) -> None:
    app = App()
    static(app, "/static", site)
    w = wire(app)
    assert w.get("/static/..\\secret.txt").status in (400, 404)  # core or static refuses
    assert w.get("/static//etc/passwd").status == 404


def test_static_needs_a_directory(tmp_path) -> None:
    with pytest.raises(NotADirectoryError):
        static(App(), "/s", tmp_path / "nope")


def test_sendfile_from_a_handler(tmp_path) -> None:
    target = tmp_path / "report.json"
    target.write_text('{"a": 1}')
    app = App()
    app.get("/sync", lambda res, req: sendfile(res, req, target))

    async def awaited(res, req):
        await sendfile(res, req, str(target))

    app.get("/async", awaited)
    app.get("/missing", lambda res, req: sendfile(res, req, tmp_path / "missing"))
    app.get("/dir", lambda res, req: sendfile(res, req, tmp_path))
    app.get("/nul", lambda res, req: sendfile(res, req, str(target) + "\x00x"))
    with TestClient(app) as client:
        for path in ("/sync", "/async"):
            reply = client.get(path)
            assert reply.json() == {"a": 1}
            assert reply.headers["content-type"] == "application/json; charset=utf-8"
        assert client.get("/missing").status_code == 404
        assert client.get("/dir").status_code == 404
        assert client.get("/nul").status_code == 404


def test_large_file_streams_with_backpressure(site, wire, monkeypatch) -> None:
    handles = []
    real_open = static_module._open_regular

    def recording_open(path):
        opened = real_open(path)
        if opened is not None:
            handles.append(opened[0])
        return opened

    monkeypatch.setattr(static_module, "_open_regular", recording_open)
    app = App()
    static(app, "/static", site)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(10000)
    conn.feed(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    received = b""
    deadline = time.monotonic() + 10
    expected = (site / "big.bin").read_bytes()
    while not received.endswith(expected):
        assert time.monotonic() < deadline, len(received)
        received += conn.read()
        w.spin(0.001)
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(expected) in head
    assert body == expected
    assert handles and handles[0].closed


def test_abort_mid_stream_stops_reading_and_closes_the_file(
    open_fds, site, wire, monkeypatch
) -> None:
    handles = []
    real_open = static_module._open_regular

    def recording_open(path):
        opened = real_open(path)
        if opened is not None:
            handles.append(opened[0])
        return opened

    monkeypatch.setattr(static_module, "_open_regular", recording_open)
    app = App()
    static(app, "/static", site)
    w = wire(app)
    conn = w.connect()
    conn.set_capacity(1000)
    before = open_fds()
    conn.feed(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    w.spin(0.01)
    assert conn.read()  # something went out
    conn.close()
    assert w.until(lambda: bool(handles) and handles[0].closed)
    copied = app.stats()["file_bytes_copied"]  # the core read the file for the memory layer
    assert 0 < copied < (site / "big.bin").stat().st_size  # stopped before the end
    assert not app._rt.tasks or w.until(lambda: not app._rt.tasks)
    assert open_fds() == before  # the core closed its descriptor too


def test_large_file_over_a_real_socket(serve, tmp_path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    data = os.urandom(8 * 1024 * 1024 + 17)
    (root / "large.bin").write_bytes(data)
    app = App()
    static(app, "/f", root)
    with serve(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /f/large.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < len(data):
            assert time.monotonic() < deadline
            time.sleep(0.001)  # a slow reader: the server must wait on writable
            more = sock.recv(1 << 16)
            assert more, "server closed early"
            received += more
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
