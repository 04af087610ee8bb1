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
from socketify.adapter import pack_request

Core = native.Core
Req = native.Req
make = native.make  # the fixture: one sc_loop per call, freed after the test


def test_packing_is_name_nul_value_nul_and_never_writes_past_cap(make: Any) -> None:
    got: dict[str, Any] = {}

    def handler(core: Core, h: int, req: Req) -> None:
        view = lib.sc_loop_request_view(core.loop)
        need = lib.sc_request_pack_headers(view, ffi.NULL, 0)
        small = ffi.new("char[]", b"\xaa" * 8)
        got["small"] = (lib.sc_request_pack_headers(view, small, 7), ffi.unpack(small, 8))
        buf = ffi.new("char[]", need)
        got["need"] = need
        got["packed"] = ffi.unpack(buf, lib.sc_request_pack_headers(view, buf, need))
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
        need = lib.sc_loop_pack_request(core.loop, ffi.NULL, 0)
        small = ffi.new("char[]", b"\xaa" * 30)
        got["small"] = (lib.sc_loop_pack_request(core.loop, small, need - 1), ffi.unpack(small, 30))
        got["need"] = need
        got["packed"] = pack_request(core.loop)
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
    assert got["need"] == len(packed) and got["packed"] == packed
    assert got["small"] == (len(packed), b"\xaa" * 30)  # too small: untouched


def test_a_head_bigger_than_the_shared_buffer_is_packed_in_its_own() -> None:
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["headers"] = scope["headers"]
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})

    big = "v" * 30_000  # past the 16 KiB buffer header_fields keeps
    server = ASGI(app, lifespan="off", max_header_size=64 * 1024)
    with TestClient(server) as client:
        assert client.get("/", headers={"x-big": big, "x-after": "1"}).status_code == 200
    assert (b"x-big", big.encode()) in seen["headers"]
    assert seen["headers"][-1] == (b"x-after", b"1")


def test_wsgi_environ_from_packed_fields_joins_duplicates() -> None:
    from socketify_testing import TestClient

    seen: dict[str, Any] = {}

    def app(environ: Any, start_response: Any) -> Any:
        seen.update({k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    client = TestClient(WSGI(app))
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

    def app(environ: Any, start_response: Any) -> Any:
        seen.clear()
        seen.update({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with TestClient(WSGI(app)) as client:
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
        view = lib.sc_loop_request_view(core.loop)
        need = lib.sc_request_pack_cgi(view, ffi.NULL, 0)
        small = ffi.new("char[]", b"\xaa" * 8)
        got["small"] = (lib.sc_request_pack_cgi(view, small, 7), ffi.unpack(small, 8))
        buf = ffi.new("char[]", need)
        got["packed"] = ffi.unpack(buf, lib.sc_request_pack_cgi(view, buf, need))
        got["need"] = need
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

    def app(environ: Any, start_response: Any) -> Any:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    big = "v" * 30_000  # past the 16 KiB buffer the environ packs into
    client = TestClient(WSGI(app, max_header_size=64 * 1024))
    reply = client.get("/p%41th?x=1", headers=[("X-Big", big), ("X-After", "1"), ("X-After", "2")])
    assert reply.status_code == 200
    assert seen["HTTP_X_BIG"] == big and seen["HTTP_X_AFTER"] == "1, 2"
    assert seen["PATH_INFO"] == "/pAth" and seen["QUERY_STRING"] == "x=1"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
