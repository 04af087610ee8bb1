"""sc_request_pack_headers, sc_loop_pack_request (adapter.pack_request) and
sc_request_pack_cgi: what the ASGI scope and the WSGI environ read of a request, in one
crossing."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_native_mem as native

from socketify import ASGI, WSGI
from socketify._native import ffi, lib
from socketify.adapter import _FIELDS_CAP, pack_request

Core = native.Core
Req = native.Req
make = native.make  # the fixture: one sc_loop per call, freed after the test


def pack_three_ways(pack: Any, view: Any, got: dict[str, Any]) -> None:
    """The packers' contract, in ``got``: the size ``pack`` needs (asked with no buffer);
    what it says and writes given 7 bytes of an 8-byte buffer (too small: nothing); what it
    writes into exactly the size it needs."""
    need = got["need"] = pack(view, ffi.NULL, 0)
    small = ffi.new("char[]", b"\xaa" * 8)
    got["small"] = (pack(view, small, 7), ffi.unpack(small, 8))
    buf = ffi.new("char[]", need)
    got["packed"] = ffi.unpack(buf, pack(view, buf, need))


def environ_keeper(seen: dict[str, Any]) -> Any:
    """A WSGI app answering "ok" that keeps the last request's environ in ``seen``."""

    def app(environ: Any, start_response: Any) -> Any:
        seen.clear()
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def test_packing_is_name_nul_value_nul_and_never_writes_past_cap(make: Any) -> None:
    got: dict[str, Any] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        view = lib.sc_loop_request_view(core.loop)
        pack_three_ways(lib.sc_request_pack_headers, view, got)
        core.end(h, b"ok")

    core = make(handler)
    conn = core.connect()
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\nX-Empty:\r\nX-Sp:  a b \t\r\nX-Sp: 2\r\n\r\n")
    assert conn.read().endswith(b"ok")
    packed = b"host\0t\0x-empty\0\0x-sp\0a b\0x-sp\0" + b"2\0"
    assert got["need"] == len(packed) and got["packed"] == packed
    assert got["small"] == (len(packed), b"\xaa" * 8)  # too small: untouched


def test_request_packing_is_a_head_the_target_then_the_fields_within_cap(make: Any) -> None:
    got: dict[str, Any] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        view = lib.sc_loop_request_view(core.loop)
        pack_three_ways(
            lambda _v, buf, cap: lib.sc_loop_pack_request(core.loop, buf, cap), view, got
        )
        got["shared"] = pack_request(core.loop, ffi.new("char[]", _FIELDS_CAP))
        got["view"] = (view.flags, view.method_id, view.http_minor, view.path_len, view.target_len)
        got["conn"] = lib.sc_res_conn_id(core.loop, h)
        core.end(h, b"ok")

    core = make(handler)
    conn = core.connect()
    conn.feed(b"POST /a%20b?q=1 HTTP/1.0\r\nHost: t\r\nContent-Length: 2\r\nX-E:\r\n\r\nhi")
    assert conn.read().endswith(b"ok")
    flags, method_id, minor, path_len, target_len = got["view"]
    assert (method_id, minor, path_len, target_len) == (2, 0, 6, 10)  # POST, HTTP/1.0
    assert flags & lib.SC_REQ_HAS_BODY and got["conn"] > 0
    head = struct.pack("<QIBBxxII", got["conn"], flags, method_id, minor, path_len, target_len)
    assert len(head) == lib.SC_REQUEST_PACK_HEAD
    packed = head + b"/a%20b?q=1\0host\0t\0content-length\0" + b"2\0x-e\0\0"
    assert got["need"] == len(packed) and got["packed"] == packed == got["shared"]
    assert got["small"] == (len(packed), b"\xaa" * 8)  # too small: untouched


def test_a_head_bigger_than_the_shared_buffer_is_packed_in_its_own() -> None:
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["headers"] = scope["headers"]
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})

    big = "v" * 30_000  # past the 16 KiB buffer pack_request keeps
    server = ASGI(app, lifespan="off", max_header_size=64 * 1024)
    with TestClient(server) as client:
        assert client.get("/", headers={"x-big": big, "x-after": "1"}).status_code == 200
    assert (b"x-big", big.encode()) in seen["headers"]
    assert seen["headers"][-1] == (b"x-after", b"1")


def test_wsgi_environ_from_packed_fields_joins_duplicates() -> None:
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    client = TestClient(WSGI(environ_keeper(seen)))
    reply = client.post(
        "/",
        content=b"abc",
        headers=[
            ("X-Dup", "1"),
            ("X-Dup", "2"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("Content-Type", "text/x"),
        ],
    )
    assert reply.status_code == 200
    assert seen["HTTP_X_DUP"] == "1, 2" and seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["CONTENT_TYPE"] == "text/x" and seen["CONTENT_LENGTH"] == "3"


def test_wsgi_leaves_out_header_names_with_underscores() -> None:
    # X_Forwarded_For would be HTTP_X_FORWARDED_FOR too: a client could add itself to
    # (or, alone, stand for) the header a proxy sets; such names get no key at all
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    with TestClient(WSGI(environ_keeper(seen))) as client:
        spoof = [("X-Forwarded-For", "10.0.0.1"), ("X_Forwarded_For", "6.6.6.6")]
        assert client.get("/", headers=spoof).status_code == 200
        assert seen["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
        assert client.get("/", headers=[("X_Forwarded_For", "6.6.6.6")]).status_code == 200
        assert "HTTP_X_FORWARDED_FOR" not in seen
        assert client.get("/", headers=[("X-Plain_Name", "1"), ("X-Kept", "2")]).text == "ok"
        assert "HTTP_X_PLAIN_NAME" not in seen and seen["HTTP_X_KEPT"] == "2"


def test_cgi_packing_is_target_protocol_then_cgi_keys_and_never_writes_past_cap(
    make: Any,
) -> None:
    got: dict[str, Any] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        pack_three_ways(lib.sc_request_pack_cgi, lib.sc_loop_request_view(core.loop), got)
        core.end(h, b"ok")

    core = make(handler)
    conn = core.connect()
    conn.feed(
        b"POST /a%20b?q=1&r HTTP/1.0\r\nHost: t\r\nContent-Type: text/x\r\n"
        b"Content-Length: 0\r\nX_Under-Dash9: v\r\nCONTENT-typE: again\r\nX-Empty:\r\n"
        b"Content-Types: not special\r\n\r\n"
    )
    assert conn.read().endswith(b"ok")
    packed = (
        b"/a%20b?q=1&r\0HTTP/1.0\0HTTP_HOST\0t\0CONTENT_TYPE\0text/x\0CONTENT_LENGTH\0" + b"0\0"
        b"CONTENT_TYPE\0again\0HTTP_X_EMPTY\0\0"  # X_Under-Dash9: a name with '_' is left out
        b"HTTP_CONTENT_TYPES\0not special\0"
    )
    assert got["need"] == len(packed) and got["packed"] == packed
    assert got["small"] == (len(packed), b"\xaa" * 8)  # too small: untouched


def test_wsgi_environ_of_a_head_bigger_than_the_shared_buffer() -> None:
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    big = "v" * 30_000  # past the 16 KiB buffer the environ packs into
    client = TestClient(WSGI(environ_keeper(seen), max_header_size=64 * 1024))
    reply = client.get("/p%41th?x=1", headers=[("X-Big", big), ("X-After", "1"), ("X-After", "2")])
    assert reply.status_code == 200
    assert seen["HTTP_X_BIG"] == big and seen["HTTP_X_AFTER"] == "1, 2"
    assert seen["PATH_INFO"] == "/pAth" and seen["QUERY_STRING"] == "x=1"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
