from __future__ import annotations

import pytest

from socketify_testing import InvalidRequest
from socketify_testing._urls import location_url, resolve, split_base

BASE = split_base("http://testserver")


def test_relative_path_and_params() -> None:
    t = resolve(BASE, "/items?a=1", params={"b": ["2", "3"], "c": "x y"})
    assert t.target == "/items?a=1&b=2&b=3&c=x+y"
    assert t.url == "http://testserver/items?a=1&b=2&b=3&c=x+y"
    assert (t.host, t.host_header, t.scheme, t.path) == (
        "testserver",
        "testserver",
        "http",
        "/items",
    )


def test_params_as_string_and_pairs() -> None:
    assert resolve(BASE, "/", params="q=1").target == "/?q=1"
    assert resolve(BASE, "/", params=[("a", "1"), ("a", "2")]).target == "/?a=1&a=2"


def test_path_is_percent_encoded_but_escapes_kept() -> None:
    assert resolve(BASE, "/a b/é").target == "/a%20b/%C3%A9"
    assert resolve(BASE, "/a%20b/100%").target == "/a%20b/100%25"
    assert resolve(BASE, "/x#frag").target == "/x"


def test_empty_and_relative_without_slash() -> None:
    assert resolve(BASE, "").target == "/"
    assert resolve(BASE, "items").target == "/items"


def test_base_path_prefix() -> None:
    base = split_base("https://example.com:8443/api/")
    t = resolve(base, "/users")
    assert t.target == "/api/users"
    assert t.host_header == "example.com:8443"
    assert t.url == "https://example.com:8443/api/users"
    assert resolve(base, "").target == "/api"


def test_default_port_omitted_from_host() -> None:
    assert split_base("https://h:443").host_header == "h"
    assert split_base("http://h:8080").host_header == "h:8080"
    assert split_base("http://[::1]:80").host_header == "[::1]"


def test_absolute_url_sets_host() -> None:
    t = resolve(BASE, "http://Other.Example/x?y=1")
    assert (t.host, t.host_header, t.target) == ("other.example", "other.example", "/x?y=1")


def test_bad_urls_raise() -> None:
    with pytest.raises(InvalidRequest, match="http or https"):
        split_base("ftp://x")
    with pytest.raises(InvalidRequest, match="scheme"):
        resolve(BASE, "ftp://x/y")
    with pytest.raises(InvalidRequest, match="port"):
        split_base("http://h:99999")
    with pytest.raises(InvalidRequest, match="must be a str"):
        resolve(BASE, b"/x")  # type: ignore[arg-type]


def test_location_resolution() -> None:
    assert location_url("http://testserver/a/b", "c") == "http://testserver/a/c"
    assert location_url("http://testserver/a/b", "/c?x=1") == "http://testserver/c?x=1"
    with pytest.raises(InvalidRequest, match="Location"):
        location_url("http://testserver/", None)


def test_resolved_targets_are_reused_per_base_and_url_only() -> None:
    other = split_base("https://other.example:8443/api")
    first = resolve(BASE, "/cached?x=1")
    assert resolve(BASE, "/cached?x=1") is first  # the same immutable Target again
    moved = resolve(other, "/cached?x=1")  # another base: its own target
    assert (moved.url, moved.host_header) == (
        "https://other.example:8443/api/cached?x=1",
        "other.example:8443",
    )
    with_params = resolve(BASE, "/cached?x=1", params={"y": "2"})  # params: never cached
    assert with_params.target == "/cached?x=1&y=2"
    assert resolve(BASE, "/cached?x=1").target == "/cached?x=1"
