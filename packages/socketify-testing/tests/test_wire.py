from __future__ import annotations

import pytest

from socketify_testing import InvalidRequest, ProtocolError
from socketify_testing._wire import ResponseParser, encode_chunk, render_head


def parse(data: bytes, head_request: bool = False, eof: bool = False) -> ResponseParser:
    parser = ResponseParser(head_request)
    parser.feed(data)
    if eof:
        parser.feed_eof()
    return parser


def parse_bytewise(data: bytes) -> ResponseParser:
    parser = ResponseParser()
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
    return parser


# ---- requests ----


def test_render_head_builds_request_line_and_fields() -> None:
    head = render_head("GET", "/a?b=1", [("Host", "testserver"), ("X-N", "1")])
    assert head == b"GET /a?b=1 HTTP/1.1\r\nHost: testserver\r\nX-N: 1\r\n\r\n"


def test_render_head_encodes_str_values_as_utf8_and_keeps_bytes() -> None:
    head = render_head("GET", "/", [("X-A", "é"), ("X-B", b"\xff")])
    assert b"X-A: \xc3\xa9\r\n" in head
    assert b"X-B: \xff\r\n" in head


@pytest.mark.parametrize(
    "name,value",
    [
        ("X-A", "a\r\nInjected: 1"),
        ("X-A", "a\nb"),
        ("X-A", "nul\x00"),
        ("Bad Name", "v"),
        ("", "v"),
    ],
)
def test_render_head_rejects_header_injection(name: str, value: str) -> None:
    with pytest.raises(InvalidRequest, match="header"):
        render_head("GET", "/", [(name, value)])


def test_render_head_rejects_bad_method_and_target() -> None:
    with pytest.raises(InvalidRequest, match="method"):
        render_head("GE T", "/", [])
    with pytest.raises(InvalidRequest, match="target"):
        render_head("GET", "/a b", [])
    with pytest.raises(InvalidRequest, match="target"):
        render_head("GET", "", [])


def test_encode_chunk() -> None:
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert encode_chunk(b"") == b""


# ---- responses: framing ----


def test_content_length_response() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello")
    assert p.complete and p.keep_alive
    assert p.head is not None
    assert (p.head.status, p.head.reason, p.head.http_version) == (200, "OK", "HTTP/1.1")
    assert p.head.fields == [("Content-Length", "5"), ("X-A", "1")]
    assert p.take_body() == b"hello"
    assert p.leftover == b""


def test_response_split_byte_by_byte_parses_the_same() -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
    p = parse_bytewise(data)
    assert p.complete
    assert p.take_body() == b"hello!"


def test_chunked_response_with_extension_and_trailers() -> None:
    p = parse(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=value\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n"
    )
    assert p.complete
    assert p.take_body() == b"abc"
    assert p.trailers == [("X-Checksum", "42")]


def test_incomplete_response_is_not_complete() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    assert not p.complete
    assert p.take_body() == b"hello"
    p.feed(b"world")
    assert p.complete
    assert p.take_body() == b"world"


def test_head_request_has_no_body_despite_content_length() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head_request=True)
    assert p.complete
    assert p.take_body() == b""


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    p = parse(b"HTTP/1.1 %d X\r\nX-A: 1\r\n\r\n" % status)
    assert p.complete
    assert p.take_body() == b""


def test_304_may_carry_content_length() -> None:
    p = parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 20\r\n\r\n")
    assert p.complete and p.take_body() == b""


def test_close_delimited_body_ends_at_eof() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\n\r\npart1")
    assert not p.complete and not p.keep_alive
    p.feed(b"part2")
    p.feed_eof()
    assert p.complete
    assert p.take_body() == b"part1part2"


def test_connection_close_and_http10_keep_alive_rules() -> None:
    assert not parse(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    ).keep_alive
    assert not parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive
    p = parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert p.keep_alive
    assert p.head is not None and p.head.http_version == "HTTP/1.0"


def test_interim_100_continue_then_final_response() -> None:
    p = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    assert p.complete
    assert [h.status for h in p.interim] == [100]
    assert p.head is not None and p.head.status == 201
    assert p.take_body() == b"ok"


def test_101_switching_protocols_keeps_the_rest_as_leftover() -> None:
    p = parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi")
    assert p.complete and p.upgraded
    assert p.leftover == b"\x81\x02hi"


def test_bytes_after_the_response_are_leftover() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert p.complete
    assert p.take_body() == b"ok"
    assert p.leftover == b"EXTRA"


def test_reason_phrase_may_be_empty() -> None:
    p = parse(b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n")
    assert p.head is not None and (p.head.status, p.head.reason) == (599, "")


def test_set_cookie_values_are_collected() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n")
    assert p.set_cookies == ["a=1", "b=2"]


# ---- responses: strictness ----

BAD_RESPONSES = {
    "no version": (b"200 OK\r\nContent-Length: 0\r\n\r\n", "status line"),
    "http/2": (b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", "status line"),
    "two-digit status": (b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "status line"),
    "no space after code": (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "status line"),
    "bare LF": (b"HTTP/1.1 200 OK\nX: 1\r\nContent-Length: 0\r\n\r\n", "bare CR or LF"),
    "bare CR": (b"HTTP/1.1 200 OK\r\nX: 1\r2\r\nContent-Length: 0\r\n\r\n", "bare CR or LF"),
    "obs-fold": (b"HTTP/1.1 200 OK\r\nX: 1\r\n  more\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    "space before colon": (b"HTTP/1.1 200 OK\r\nX : 1\r\nContent-Length: 0\r\n\r\n", "bad field"),
    "no colon": (b"HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0\r\n\r\n", "bad field"),
    "control in value": (b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n", "control"),
    "duplicate length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        "duplicate Content-Length",
    ),
    "bad length": (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
    "length list": (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", "invalid Content-Length"),
    "both framings": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "both Content-Length and Transfer-Encoding",
    ),
    "gzip te": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"),
    "204 with length": (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "204"),
    "304 chunked": (b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "304"),
    "1xx with length": (b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n", "100"),
    "bad chunk size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "chunk size",
    ),
    "chunk size with space": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
        "chunk size",
    ),
    "chunk longer than size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
        "not followed by CRLF",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RESPONSES))
def test_malformed_responses_raise_protocol_error(case: str) -> None:
    data, message = BAD_RESPONSES[case]
    with pytest.raises(ProtocolError, match=message) as info:
        parse(data)
    assert info.value.data  # the error quotes what the core wrote, or names the field


def test_protocol_error_quotes_the_bytes() -> None:
    with pytest.raises(ProtocolError) as info:
        parse(b"HTTP/1.1 2000 OK\r\n\r\n")
    assert info.value.data.startswith(b"HTTP/1.1 2000")
    assert "HTTP/1.1 2000" in str(info.value)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "without a response"),
        (b"HTTP/1.1 200 OK\r\nContent-", "inside a response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "after 2 of 5 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "inside a chunk"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "inside a chunked body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1", "trailers"),
    ],
)
def test_early_close_raises_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse(data, eof=True)


def test_runaway_head_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="larger than"):
        parse(b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 70000)


def test_head_fed_in_pieces_is_not_rejected_early() -> None:
    p = ResponseParser()
    p.feed(b"HTTP/1.1 200 OK\r")
    p.feed(b"\nContent-Length: 1\r\n\r")
    assert p.head is None
    p.feed(b"\nx")
    assert p.complete and p.take_body() == b"x"


def test_a_kept_field_line_never_lets_a_bad_value_through() -> None:
    good = render_head("GET", "/", [("X-Kept", "ok")])
    assert render_head("GET", "/", [("X-Kept", "ok")]) == good
    with pytest.raises(InvalidRequest):
        render_head("GET", "/", [("X-Kept", "ok\r\nX-Evil: 1")])
    with pytest.raises(InvalidRequest):
        render_head("GET", "/", [("X Kept", "ok")])
    assert render_head("GET", "/", [("X-Kept", b"ok")]) == good  # bytes: rendered alike


# ---- heads parsed before (PERF: kept by their bytes) ----


def test_a_head_seen_again_gives_the_same_answer_whole_or_in_pieces() -> None:
    data = b"HTTP/1.1 200 OK\r\nX-Seen: again\r\nSet-Cookie: a=1\r\nContent-Length: 3\r\n\r\nabc"
    for _ in range(2):  # the second one takes the kept head
        whole = parse(data)
        assert whole.complete and whole.take_body() == b"abc" and whole.leftover == b""
        assert whole.head is not None and whole.head.fields[0] == ("X-Seen", "again")
        assert whole.set_cookies == ["a=1"] and whole.keep_alive and whole.body_size == 3
    pieces = parse_bytewise(data)
    assert pieces.complete and pieces.take_body() == b"abc" and pieces.set_cookies == ["a=1"]


def test_a_kept_head_still_frames_by_the_request_and_the_bytes_that_follow() -> None:
    data = b"HTTP/1.1 200 OK\r\nX-Kept-Frame: 1\r\nContent-Length: 2\r\n\r\n"
    assert parse(data + b"ok").take_body() == b"ok"
    head_only = parse(data, head_request=True)  # HEAD: no body, whatever the length says
    assert head_only.complete and head_only.take_body() == b"" and head_only.leftover == b""
    extra = parse(data + b"ok" + b"HTTP/1.1 200 OK\r\n")  # bytes after: left over
    assert extra.take_body() == b"ok" and extra.leftover == b"HTTP/1.1 200 OK\r\n"
    short = parse(data + b"o")  # the body is not all there: not complete yet
    assert not short.complete
    short.feed(b"k")
    assert short.complete and short.take_body() == b"ok"
    for _ in range(2):
        closing = parse(data.replace(b"X-Kept-Frame: 1", b"Connection: close") + b"ok")
        assert closing.complete and not closing.keep_alive


def test_a_bad_head_is_refused_every_time() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    for _ in range(2):
        with pytest.raises(ProtocolError, match="duplicate Content-Length"):
            parse(data)
