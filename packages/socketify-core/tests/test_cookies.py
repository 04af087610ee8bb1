from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from socketify.cookies import http_date, parse_cookie_header, render_set_cookie
from socketify.errors import InvalidHeader


def test_plain_cookie():
    assert render_set_cookie("sid", "abc") == "sid=abc"


def test_every_option():
    header = render_set_cookie(
        "sid",
        "abc",
        {
            "expires": datetime(2024, 1, 2, 3, 4, 5),
            "max-age": 60,
            "path": "/",
            "domain": "example.com",
            "secure": True,
            "httponly": True,
            "samesite": "lax",
            "comment": "hello",
            "version": 1,
        },
    )
    assert header.split("; ") == [
        "sid=abc",
        "Expires=Tue, 02 Jan 2024 03:04:05 GMT",
        "Max-Age=60",
        "Path=/",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Comment=hello",
        "Version=1",
    ]


def test_false_flags_are_left_out_and_max_age_alias():
    header = render_set_cookie("a", "b", {"Secure": False, "HttpOnly": False, "max_age": 5})
    assert header == "a=b; Max-Age=5"


def test_value_is_percent_encoded_and_parses_back():
    value = 'a b;c,"é%\\'
    header = render_set_cookie("sid", value)
    assert ";" not in header and " " not in header and '"' not in header
    encoded = header.split("=", 1)[1]
    assert parse_cookie_header(f"sid={encoded}") == {"sid": value}


def test_aware_expires_is_converted_to_utc():
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert http_date(when) == "Tue, 02 Jan 2024 01:04:05 GMT"


def test_expires_as_timestamp_and_str():
    assert (
        render_set_cookie("a", "b", {"expires": 0}) == "a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    )
    assert render_set_cookie("a", "b", {"expires": "Wed, 21 Oct 2015 07:28:00 GMT"}).endswith(
        "Expires=Wed, 21 Oct 2015 07:28:00 GMT"
    )


def test_bad_cookie_inputs_raise_clear_errors():
    with pytest.raises(InvalidHeader, match="cookie name"):
        render_set_cookie("bad name", "x")
    with pytest.raises(ValueError, match="unknown cookie option"):
        render_set_cookie("a", "b", {"colour": "red"})
    with pytest.raises(InvalidHeader, match="samesite"):
        render_set_cookie("a", "b", {"samesite": "sometimes"})
    with pytest.raises(InvalidHeader, match="path"):
        render_set_cookie("a", "b", {"path": "/; Secure"})
    with pytest.raises(TypeError, match="max-age"):
        render_set_cookie("a", "b", {"max-age": "soon"})
    with pytest.raises(TypeError, match="expires"):
        render_set_cookie("a", "b", {"expires": [1]})


def test_parse_cookie_header():
    assert parse_cookie_header('a=1; b=two; c="q"; a=9; broken; =x') == {
        "a": "1",
        "b": "two",
        "c": "q",
    }
    assert parse_cookie_header(None) == {}
    assert parse_cookie_header("") == {}
