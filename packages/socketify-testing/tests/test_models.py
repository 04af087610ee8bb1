from __future__ import annotations

import pytest

from socketify_testing import Headers, HTTPStatusError, Request, Response, StreamError


def make(status: int = 200, headers=None, content: bytes = b"") -> Response:
    request = Request("GET", "http://testserver/x", "/x", Headers(), None)
    return Response(status, "Reason", headers or [], content, request=request)


def test_headers_case_insensitive_and_multi_valued() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("X-A", "1"), ("set-cookie", "b=2")])
    assert h["x-a"] == "1" and h["X-A"] == "1"
    assert h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert h["set-cookie"] == "a=1, b=2"
    assert "x-a" in h and "missing" not in h and 3 not in h
    assert h.get("missing") is None and h.get("missing", "d") == "d"
    assert list(h) == ["set-cookie", "x-a"] and len(h) == 2
    assert h.multi_items()[0] == ("Set-Cookie", "a=1")
    assert h.get_list("nope") == []
    with pytest.raises(KeyError):
        _ = h["nope"]


def test_headers_equality() -> None:
    assert Headers({"A": "1"}) == {"a": "1"}
    assert Headers([("A", "1")]) == Headers([("a", "1")])
    assert Headers([("A", "1")]) != {"a": "2"}


def test_text_uses_charset() -> None:
    r = make(
        headers=[("Content-Type", "text/plain; charset=latin-1")], content="é".encode("latin-1")
    )
    assert r.encoding == "iso8859-1" and r.text == "é"
    r = make(headers=[("Content-Type", 'text/plain; charset="bogus"')], content="é".encode())
    assert r.encoding == "utf-8" and r.text == "é"
    assert make(content=b"\xff").text == "\ufffd"


def test_json() -> None:
    assert make(content=b'{"a": [1]}').json() == {"a": [1]}


@pytest.mark.parametrize(
    "status,flags",
    [
        (101, {"is_informational"}),
        (200, {"is_success"}),
        (302, set()),
        (404, {"is_client_error", "is_error"}),
        (503, {"is_server_error", "is_error"}),
    ],
)
def test_status_flags(status: int, flags: set) -> None:
    r = make(status)
    names = {"is_informational", "is_success", "is_client_error", "is_server_error", "is_error"}
    assert {n for n in names if getattr(r, n)} == flags


def test_is_redirect_needs_location() -> None:
    assert make(302, [("Location", "/")]).is_redirect
    assert not make(302).is_redirect


def test_raise_for_status() -> None:
    ok = make(200)
    assert ok.raise_for_status() is ok
    with pytest.raises(HTTPStatusError, match="Client error '404 Reason' for url") as info:
        make(404).raise_for_status()
    assert info.value.response.status_code == 404
    with pytest.raises(HTTPStatusError, match="Server error"):
        make(500).raise_for_status()


class ListSource:
    def __init__(self, chunks: list) -> None:
        self.chunks = list(chunks)
        self.closed = False

    def next_chunk(self):
        return self.chunks.pop(0) if self.chunks else None

    async def anext_chunk(self):
        return self.next_chunk()

    def close(self) -> None:
        self.closed = True


def test_streamed_body_lines_across_chunks() -> None:
    source = ListSource([b"data: a\r", b"\n\ndata: \xc3", b"\xa9\nlast"])
    r = Response(200, "OK", [], None, source=source)
    with pytest.raises(StreamError, match="not read"):
        _ = r.content
    assert list(r.iter_lines()) == ["data: a", "", "data: é", "last"]
    assert source.closed
    assert r.content == b"data: a\r\n\ndata: \xc3\xa9\nlast"
    assert list(r.iter_bytes()) == [r.content]


def test_stream_cannot_be_read_twice_after_close() -> None:
    r = Response(200, "OK", [], None, source=ListSource([b"x"]))
    r.close()
    with pytest.raises(StreamError, match="closed before its body was read"):
        r.read()


def test_async_stream_iteration() -> None:
    import asyncio

    async def main() -> list:
        r = Response(200, "OK", [], None, source=ListSource([b"a\nb", b"c\n"]))
        return [line async for line in r.aiter_lines()]

    assert asyncio.run(main()) == ["a", "bc"]


def test_stopping_early_leaves_the_rest_for_later() -> None:
    source = ListSource([b"a", b"b", b"c"])
    r = Response(200, "OK", [], None, source=source)
    for chunk in r.iter_bytes():
        assert chunk == b"a"
        break
    assert not source.closed
    assert list(r.iter_bytes()) == [b"b", b"c"]
    assert r.content == b"abc" and source.closed
