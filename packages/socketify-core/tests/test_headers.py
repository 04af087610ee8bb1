from __future__ import annotations

import pytest

from socketify.errors import InvalidHeader
from socketify.headers import header_kind, pairs, render_header, value_bytes


def test_render_str_bytes_and_int_values():
    assert render_header("X-A", "1") == b"X-A: 1\r\n"
    assert render_header(b"X-B", b"two") == b"X-B: two\r\n"
    assert render_header("Content-Length", 42) == b"Content-Length: 42\r\n"


def test_latin1_value_is_encoded_as_latin1():
    assert value_bytes("café") == "café".encode("latin-1")


def test_value_that_is_not_latin1_is_refused_clearly():
    with pytest.raises(InvalidHeader, match="not latin-1"):
        render_header("X", "€")


@pytest.mark.parametrize(
    "value",
    ["a\r\nb", "a\nb", "a\rb", "a\x00b", b"x\r\nSet-Cookie: y", "a\x01b", "a\x1fb", b"a\x7fb"],
)
def test_value_with_a_control_character_is_refused(value):
    with pytest.raises(InvalidHeader, match="control character"):
        render_header("X", value)


def test_htab_and_visible_latin1_are_allowed_in_values():
    assert render_header("X", "a\tb \xe9~") == b"X: a\tb \xe9~\r\n"


@pytest.mark.parametrize("name", ["Bad Name", "X:Y", "", "é", b"a\r\n"])
def test_name_that_is_not_a_token_is_refused(name):
    with pytest.raises(InvalidHeader):
        render_header(name, "v")


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError):
        render_header(3, "v")
    with pytest.raises(TypeError):
        render_header("X", None)
    with pytest.raises(TypeError):
        render_header("X", True)


def test_header_kind_finds_framing_headers_case_insensitively():
    assert header_kind(render_header("content-type", "x")) == 1
    assert header_kind(render_header("Content-Length", 3)) == 2
    assert header_kind(render_header("Content-Language", "en")) == 0
    assert header_kind(render_header("X-A", "1")) == 0


def test_pairs_accepts_iterables_and_mappings():
    assert list(pairs([("a", "1"), (b"b", b"2")])) == [("a", "1"), (b"b", b"2")]
    assert list(pairs({"a": "1"})) == [("a", "1")]
    assert list(pairs(iter((("a", "1"),)))) == [("a", "1")]
    assert list(pairs(None)) == []


def test_pairs_refuses_something_that_is_not_a_pair():
    with pytest.raises(TypeError, match="pairs"):
        list(pairs(["abc"]))
