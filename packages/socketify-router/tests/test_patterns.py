from __future__ import annotations

import uuid

import pytest

from socketify_router import CONVERTERS, PatternError, RouterError
from socketify_router._patterns import (
    PARAM,
    STATIC,
    WILDCARD,
    decode,
    encode,
    parse_pattern,
)


def test_static_param_and_wildcard_segments() -> None:
    parsed = parse_pattern("/users/:id<int>/files/*")
    assert [seg.kind for seg in parsed.segments] == [STATIC, PARAM, STATIC, WILDCARD]
    assert parsed.names == ("id",)
    assert [conv.name for conv in parsed.converters] == ["int"]
    assert not parsed.is_static


def test_plain_parameter_is_str() -> None:
    parsed = parse_pattern("/a/:name")
    assert parsed.converters[0].name == "str"
    assert parsed.segments[1].name == "name"


def test_path_parameter_is_a_named_tail() -> None:
    parsed = parse_pattern("/files/:rest<path>")
    assert parsed.segments[1].kind == WILDCARD
    assert parsed.names == ("rest",)


def test_root_and_trailing_slash_patterns_are_static_segments() -> None:
    assert parse_pattern("/").segments[0].text == ""
    assert [seg.text for seg in parse_pattern("/a/").segments] == ["a", ""]
    assert parse_pattern("/a/").is_static


def test_same_shape_for_different_parameter_names() -> None:
    assert parse_pattern("/u/:id").shape == parse_pattern("/u/:name").shape
    assert parse_pattern("/u/:id").shape != parse_pattern("/u/:id<int>").shape


def test_non_ascii_static_text_is_percent_encoded() -> None:
    assert parse_pattern("/café/a b").segments[0].text == "caf%C3%A9"
    assert parse_pattern("/café/a b").segments[1].text == "a%20b"
    assert parse_pattern("/caf%C3%A9").segments[0].text == "caf%C3%A9"  # kept as written


def test_colon_inside_a_segment_is_static() -> None:
    parsed = parse_pattern("/v1/things:batchGet")
    assert parsed.is_static


@pytest.mark.parametrize(
    ("pattern", "fault"),
    [
        ("", "must start with '/'"),
        ("users", "must start with '/'"),
        ("/a/:", "empty parameter name"),
        ("/a/:<int>", "empty parameter name"),
        ("/a/*/b", "'*' must be the last segment"),
        ("/a/b*", "'*' must be a whole segment"),
        ("/a/:id<nope>", "unknown parameter type <nope>"),
        ("/a/:id<>", "unknown parameter type <>"),
        ("/a/:id/:id", "duplicate parameter name 'id'"),
        ("/a/:id/b/:id<int>", "duplicate parameter name 'id'"),
        ("/a/:rest<path>/b", "must be last"),
        ("/a/:id<int", "malformed parameter"),
        ("/a/:1st", "not a Python identifier"),
        ("/a/:my-id", "not a Python identifier"),
        ("/a?x=1", "'?' is not allowed"),
        ("/a#top", "'#' is not allowed"),
    ],
)
def test_bad_patterns_raise_naming_pattern_and_fault(pattern: str, fault: str) -> None:
    with pytest.raises(PatternError) as info:
        parse_pattern(pattern)
    message = str(info.value)
    assert repr(pattern) in message
    assert fault in message
    assert info.value.pattern == pattern
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RouterError)


def test_pattern_must_be_a_str() -> None:
    with pytest.raises(PatternError, match="must be a str, not bytes"):
        parse_pattern(b"/a")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "text", "accepted", "value"),
    [
        ("int", "42", True, 42),
        ("int", "007", True, 7),
        ("int", "-1", False, None),
        ("int", "4.2", False, None),
        ("int", "٣", False, None),  # a non-ASCII digit
        ("int", "1" * 100, True, int("1" * 100)),
        ("int", "1" * 101, False, None),
        ("float", "1.5", True, 1.5),
        ("float", "2", True, 2.0),
        ("float", "1e3", True, 1000.0),
        ("float", "1e999", False, None),
        ("float", "nan", False, None),
        ("float", "inf", False, None),
        ("float", "1.", False, None),
        ("uuid", "12345678-1234-5678-1234-567812345678", True, None),
        ("uuid", "12345678-1234-5678-1234-56781234567", False, None),
        ("uuid", "1234567812345678123456781234567g", False, None),
    ],
)
def test_converters_accept_and_parse(name: str, text: str, accepted: bool, value: object) -> None:
    conv = CONVERTERS[name]
    assert conv.accept is not None
    assert conv.accept(text) is accepted
    if accepted and value is not None:
        assert conv.parse is not None
        assert conv.parse(text) == value


def test_uuid_parses_to_uuid_object() -> None:
    conv = CONVERTERS["uuid"]
    assert conv.parse is not None
    text = "12345678-1234-5678-1234-567812345678"
    assert conv.parse(text.upper()) == uuid.UUID(text)


def test_inline_int_check_agrees_with_accept() -> None:
    conv = CONVERTERS["int"]
    assert conv.inline is not None and conv.accept is not None
    for text in ["1", "12", "-1", "x", "٣", "1" * 100, "1" * 101, "1.0"]:
        assert eval(conv.inline.format(v="text")) == conv.accept(text), text


def test_formatters() -> None:
    assert CONVERTERS["int"].format(5) == "5"
    assert CONVERTERS["float"].format(2) == "2.0"
    assert CONVERTERS["float"].format(0.25) == "0.25"
    assert CONVERTERS["str"].format(True) == "True"


def test_decode() -> None:
    assert decode("plain") == "plain"
    assert decode("a%20b") == "a b"
    assert decode("caf%C3%A9") == "café"
    assert decode("a%2Fb") == "a/b"
    assert decode("100%") == "100%"  # malformed escapes stay as written
    assert decode("%zz") == "%zz"
    assert decode("%FF") is None  # not UTF-8: no value
    assert decode("%C3") is None


def test_encode() -> None:
    assert encode("a b/c", tail=False) == "a%20b%2Fc"
    assert encode("a b/c", tail=True) == "a%20b/c"
    assert encode("café", tail=False) == "caf%C3%A9"
    assert encode("100%", tail=False) == "100%25"
    assert encode("a:b@c", tail=False) == "a:b@c"
