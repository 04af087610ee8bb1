from __future__ import annotations

import calendar

import pytest

from socketify_testing import CookieJar
from socketify_testing._cookies import default_path, domain_match, parse_cookie_date, path_match

NOW = float(calendar.timegm((2024, 1, 1, 0, 0, 0, 0, 0, 0)))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def jar_with_clock() -> tuple[CookieJar, Clock]:
    clock = Clock()
    return CookieJar("testserver", clock=clock), clock


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", (2015, 10, 21, 7, 28, 0)),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", (2015, 10, 21, 7, 28, 0)),
        ("Sun Nov  6 08:49:37 1994", (1994, 11, 6, 8, 49, 37)),
        ("21 oct 2069 1:2:3", (2069, 10, 21, 1, 2, 3)),
        ("21 oct 70 00:00:00", (1970, 10, 21, 0, 0, 0)),
    ],
)
def test_parse_cookie_date_formats(text: str, expected: tuple[int, ...]) -> None:
    assert parse_cookie_date(text) == calendar.timegm((*expected, 0, 0, 0))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "31 Feb 2020 00:00:00",
        "1 Jan 2020 25:00:00",
        "1 Jan 1500 00:00:00",
        "Jan 2020",
    ],
)
def test_parse_cookie_date_rejects_invalid(text: str) -> None:
    assert parse_cookie_date(text) is None


def test_matching_helpers() -> None:
    assert domain_match("a.testserver", "testserver")
    assert not domain_match("atestserver", "testserver")
    assert not domain_match("1.2.3.4", "2.3.4")
    assert path_match("/docs/x", "/docs")
    assert path_match("/docs/", "/docs/")
    assert not path_match("/docsx", "/docs")
    assert default_path("/a/b/c") == "/a/b"
    assert default_path("/a") == "/"
    assert default_path("") == "/"


def test_set_and_send_basic_cookie() -> None:
    jar, _ = jar_with_clock()
    stored = jar.extract(["session=abc; Path=/; HttpOnly"], "testserver", "/login")
    assert stored == {"session": "abc"}
    assert jar["session"] == "abc"
    assert jar.header_for("testserver", "/anything", secure=False) == "session=abc"
    (cookie,) = jar.cookies()
    assert cookie.http_only and cookie.host_only and cookie.path == "/"


def test_default_path_scopes_cookie_to_directory() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1"], "testserver", "/account/login")
    assert jar.header_for("testserver", "/account/settings", False) == "a=1"
    assert jar.header_for("testserver", "/other", False) == ""


def test_path_attribute_limits_cookie() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1; Path=/admin"], "testserver", "/")
    assert jar.header_for("testserver", "/admin/x", False) == "a=1"
    assert jar.header_for("testserver", "/administrator", False) == ""
    jar.extract(["b=2; Path=relative"], "testserver", "/x/y")
    assert jar.cookies()[-1].path == "/x"


def test_longer_path_sent_first() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=root; Path=/", "a=deep; Path=/deep"], "testserver", "/")
    assert jar.header_for("testserver", "/deep/x", False) == "a=deep; a=root"
    assert jar["a"] == "deep"
    assert jar.get("a", path="/") == "root"


def test_max_age_zero_and_negative_delete() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1", "b=2"], "testserver", "/")
    stored = jar.extract(["a=; Max-Age=0", "b=x; Max-Age=-5"], "testserver", "/")
    assert stored == {}
    assert "a" not in jar and "b" not in jar


def test_max_age_expires_with_time() -> None:
    jar, clock = jar_with_clock()
    jar.extract(["a=1; Max-Age=60"], "testserver", "/")
    clock.now += 59
    assert jar.header_for("testserver", "/", False) == "a=1"
    clock.now += 2
    assert jar.header_for("testserver", "/", False) == ""
    assert len(jar) == 0


def test_expires_in_past_deletes_and_future_keeps() -> None:
    jar, clock = jar_with_clock()
    jar.extract(["a=1; Expires=Wed, 01 Jan 2025 00:00:00 GMT"], "testserver", "/")
    assert jar["a"] == "1"
    jar.extract(["a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], "testserver", "/")
    assert "a" not in jar
    jar.extract(["b=1; Expires=Wed, 01 Jan 2025 00:00:00 GMT"], "testserver", "/")
    clock.now = float(calendar.timegm((2025, 1, 1, 0, 0, 1, 0, 0, 0)))
    assert "b" not in jar


def test_max_age_wins_over_expires() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], "testserver", "/")
    assert jar["a"] == "1"


def test_invalid_expires_is_ignored() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1; Expires=never"], "testserver", "/")
    assert jar.cookies()[0].expires is None


def test_domain_attribute_must_match_host() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1; Domain=other.example"], "testserver", "/")
    assert "a" not in jar
    jar.extract(["b=2; Domain=.testserver"], "api.testserver", "/")
    assert jar.header_for("testserver", "/", False) == "b=2"
    assert jar.header_for("x.testserver", "/", False) == "b=2"


def test_host_only_cookie_not_sent_to_subdomain() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1"], "testserver", "/")
    assert jar.header_for("sub.testserver", "/", False) == ""
    assert jar.header_for("TESTSERVER", "/", False) == "a=1"


def test_secure_cookie_only_sent_over_https() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["s=1; Secure", "p=2"], "testserver", "/")
    assert jar["s"] == "1"  # stored, like http.cookiejar
    assert jar.header_for("testserver", "/", secure=False) == "p=2"
    assert jar.header_for("testserver", "/", secure=True) == "s=1; p=2"


def test_replacing_keeps_position_and_updates_value() -> None:
    jar, _ = jar_with_clock()
    jar.extract(["a=1", "b=2"], "testserver", "/")
    jar.extract(["a=3"], "testserver", "/")
    assert jar.header_for("testserver", "/", False) == "a=3; b=2"


def test_malformed_set_cookie_values_are_ignored() -> None:
    jar, _ = jar_with_clock()
    assert jar.extract(["novalue", "=nameless", "  ; Path=/"], "testserver", "/") == {}
    assert len(jar) == 0


def test_values_are_kept_verbatim() -> None:
    jar, _ = jar_with_clock()
    jar.extract(['q="quoted value"; Path=/', "p=a%20b"], "testserver", "/")
    assert jar["q"] == '"quoted value"'
    assert jar["p"] == "a%20b"


def test_mapping_conveniences() -> None:
    jar, _ = jar_with_clock()
    jar["x"] = "1"
    jar.set("y", "2", path="/y")
    assert dict(jar) == {"x": "1", "y": "2"}
    assert jar.get("missing") is None
    with pytest.raises(KeyError):
        _ = jar["missing"]
    del jar["x"]
    with pytest.raises(KeyError):
        del jar["x"]
    jar.clear()
    assert list(jar) == []
