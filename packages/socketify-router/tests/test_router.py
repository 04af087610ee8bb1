from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest

from socketify_router import (
    STANDARD_METHODS,
    DuplicateRouteError,
    Match,
    PatternError,
    Route,
    Router,
    RouterError,
    URLBuildError,
)


def make(name: str) -> Any:
    def handler(res: Any, req: Any) -> str:
        return name

    handler.__name__ = name
    return handler


def hit(router: Router, method: str, path: str) -> Any:
    match = router.match(method, path)
    return None if match is None else match.handler(None, None)


def chain(router: Router, method: str, path: str) -> list[str]:
    out = []
    match = router.match(method, path)
    while match is not None:
        out.append(match.handler(None, None))
        match = match.next()
    return out


@pytest.fixture(params=[True, False], ids=["compiled", "loop"])
def new_router(request: Any) -> Any:
    def factory() -> Router:
        router = Router()
        router.compile = request.param
        return router

    return factory


# -- priority ---------------------------------------------------------------------------

PRIORITY_ROUTES = [
    ("/users/me", "static"),
    ("/users/:id<int>", "int"),
    ("/users/:name", "param"),
    ("/users/*", "wildcard"),
    ("/:section/me", "param-static"),
    ("/*", "root-wildcard"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(PRIORITY_ROUTES)))))
def test_priority_is_independent_of_registration_order(order: tuple[int, ...]) -> None:
    router = Router()
    for index in order:
        pattern, name = PRIORITY_ROUTES[index]
        router.get(pattern, make(name))
    assert chain(router, "GET", "/users/me") == [
        "static",
        "param",
        "wildcard",
        "param-static",
        "root-wildcard",
    ]
    assert chain(router, "GET", "/users/42") == ["int", "param", "wildcard", "root-wildcard"]
    assert chain(router, "GET", "/users/") == ["wildcard", "root-wildcard"]
    assert chain(router, "GET", "/users") == ["root-wildcard"]
    assert chain(router, "GET", "/") == ["root-wildcard"]


def test_leftmost_segment_decides(new_router: Any) -> None:
    router = new_router()
    router.get("/a/:x/c/d", make("static-first"))
    router.get("/:x/b/c/d", make("param-first"))
    # the first segment decides: static 'a' beats ':x' although the other is static later
    assert chain(router, "GET", "/a/b/c/d") == ["static-first", "param-first"]


def test_static_route_beats_dynamic_route(new_router: Any) -> None:
    router = new_router()
    router.get("/:a/:b", make("params"))
    router.get("/x/y", make("static"))
    assert chain(router, "GET", "/x/y") == ["static", "params"]


def test_typed_parameters_are_tried_before_plain(new_router: Any) -> None:
    router = new_router()
    router.get("/v/:s", make("str"))
    router.get("/v/:u<uuid>", make("uuid"))
    router.get("/v/:f<float>", make("float"))
    router.get("/v/:i<int>", make("int"))
    assert chain(router, "GET", "/v/3") == ["int", "float", "str"]
    assert chain(router, "GET", "/v/3.5") == ["float", "str"]
    some = str(uuid.uuid4())
    assert chain(router, "GET", f"/v/{some}") == ["uuid", "str"]
    assert chain(router, "GET", "/v/x") == ["str"]


# -- methods ----------------------------------------------------------------------------


def test_method_route_beats_any_on_same_pattern(new_router: Any) -> None:
    for first_any in (True, False):
        router = new_router()
        registrations = [("ANY", make("any")), ("GET", make("get"))]
        for method, handler in registrations if first_any else reversed(registrations):
            router.add(method, "/p/:x", handler)
        assert chain(router, "GET", "/p/1") == ["get", "any"]
        assert chain(router, "DELETE", "/p/1") == ["any"]


def test_pattern_priority_comes_before_method(new_router: Any) -> None:
    router = new_router()
    router.get("/:page", make("get-param"))
    router.any("/health", make("any-static"))
    assert hit(router, "GET", "/health") == "any-static"
    assert chain(router, "GET", "/health") == ["any-static", "get-param"]


def test_every_method_helper_registers_its_method() -> None:
    router = Router()
    for method in STANDARD_METHODS:
        getattr(router, method.lower())(f"/{method}", make(method))
    for method in STANDARD_METHODS:
        assert hit(router, method, f"/{method}") == method
        assert hit(router, "PROPFIND", f"/{method}") is None


def test_any_matches_every_method_even_custom_ones() -> None:
    router = Router()
    router.any("/x", make("any"))
    for method in (*STANDARD_METHODS, "PROPFIND"):
        assert hit(router, method, "/x") == "any"


def test_method_names_are_upper_cased_at_registration_only() -> None:
    router = Router()
    route = router.add("get", "/x", make("get"))
    assert route.method == "GET"
    assert hit(router, "GET", "/x") == "get"
    assert hit(router, "get", "/x") is None  # HTTP methods are case-sensitive
    assert router.add("any", "/y", make("any")).method == "ANY"


def test_custom_method_token() -> None:
    router = Router()
    router.add("PROPFIND", "/dav/:f", make("propfind"))
    assert hit(router, "PROPFIND", "/dav/a") == "propfind"


@pytest.mark.parametrize("method", ["", "GET POST", "GE\tT", None, 5])
def test_invalid_method_raises(method: Any) -> None:
    with pytest.raises(RouterError, match="invalid HTTP method"):
        Router().add(method, "/x", make("x"))


def test_head_falls_back_to_get(new_router: Any) -> None:
    router = new_router()
    router.get("/page/:id", make("get"))
    router.get("/static", make("static-get"))
    assert hit(router, "HEAD", "/page/1") == "get"
    assert hit(router, "HEAD", "/static") == "static-get"
    router.head("/page/:id", make("head"))
    router.any("/page/:id", make("any"))
    assert chain(router, "HEAD", "/page/1") == ["head", "get", "any"]
    assert chain(router, "GET", "/page/1") == ["get", "any"]


def test_head_fallback_match_reports_the_get_route() -> None:
    router = Router()
    router.get("/x", make("get"))
    match = router.match("HEAD", "/x")
    assert match is not None and match.route.method == "GET"


# -- 404 / 405 --------------------------------------------------------------------------


def test_allowed_methods_lists_every_matching_route(new_router: Any) -> None:
    router = new_router()
    router.get("/items/:id", make("a"))
    router.post("/items/new", make("b"))
    router.delete("/items/:id<int>", make("c"))
    router.put("/items/*", make("d"))
    router.patch("/other", make("e"))
    assert router.match("OPTIONS", "/items/new") is None
    assert router.allowed_methods("/items/new") == ["GET", "HEAD", "POST", "PUT"]
    assert router.allowed_methods("/items/5") == ["DELETE", "GET", "HEAD", "PUT"]
    assert router.allowed_methods("/other") == ["PATCH"]
    assert router.allowed_methods("/nothing") == []
    assert router.allowed_methods("") == []
    assert router.allowed_methods("*") == []


def test_allowed_methods_with_any_lists_standard_methods() -> None:
    router = Router()
    router.any("/x", make("any"))
    assert router.allowed_methods("/x") == sorted(STANDARD_METHODS)


def test_allowed_methods_adds_head_only_with_get() -> None:
    router = Router()
    router.post("/x", make("post"))
    assert router.allowed_methods("/x") == ["POST"]
    router.get("/x", make("get"))
    assert router.allowed_methods("/x") == ["GET", "HEAD", "POST"]


def test_allowed_methods_respects_converters() -> None:
    router = Router()
    router.get("/n/:id<int>", make("n"))
    assert router.allowed_methods("/n/1") == ["GET", "HEAD"]
    assert router.allowed_methods("/n/x") == []


# -- paths: trailing slashes, encoding ---------------------------------------------------


def test_trailing_slash_is_significant(new_router: Any) -> None:
    router = new_router()
    router.get("/a", make("a"))
    router.get("/b/", make("b/"))
    router.get("/c/:x", make("c"))
    assert hit(router, "GET", "/a") == "a"
    assert hit(router, "GET", "/a/") is None
    assert hit(router, "GET", "/b/") == "b/"
    assert hit(router, "GET", "/b") is None
    assert hit(router, "GET", "/c/1/") is None


def test_root_path() -> None:
    router = Router()
    router.get("/", make("root"))
    assert hit(router, "GET", "/") == "root"
    assert hit(router, "GET", "") is None


def test_paths_not_starting_with_slash_never_match(new_router: Any) -> None:
    router = new_router()
    router.any("/*", make("all"))
    assert hit(router, "OPTIONS", "*") is None
    assert hit(router, "GET", "http://x/") is None
    assert hit(router, "GET", "/anything") == "all"


def test_parameters_are_percent_decoded_static_compared_raw(new_router: Any) -> None:
    router = new_router()
    router.get("/files/:name", make("file"))
    router.get("/a b", make("space"))
    match = router.match("GET", "/files/my%20file%2Ftxt")
    assert match is not None and match.params == ("my file/txt",)
    assert hit(router, "GET", "/a%20b") == "space"
    assert hit(router, "GET", "/a b") is None  # raw paths never hold a space


def test_invalid_utf8_in_parameter_does_not_match(new_router: Any) -> None:
    router = new_router()
    router.get("/files/:name", make("file"))
    router.get("/files/*", make("star"))
    assert hit(router, "GET", "/files/%FF") == "star"  # falls to the wildcard
    match = router.match("GET", "/files/100%")
    assert match is not None and match.params == ("100%",)


def test_non_ascii_static_pattern_matches_encoded_path() -> None:
    router = Router()
    router.get("/café", make("cafe"))
    assert hit(router, "GET", "/caf%C3%A9") == "cafe"


def test_wildcard_needs_one_more_segment(new_router: Any) -> None:
    router = new_router()
    router.get("/a/*", make("star"))
    assert hit(router, "GET", "/a/") == "star"
    assert hit(router, "GET", "/a/b/c") == "star"
    assert hit(router, "GET", "/a") is None


def test_root_wildcard_matches_everything() -> None:
    router = Router()
    router.get("/*", make("all"))
    for path in ("/", "/a", "/a/b/", "//"):
        assert hit(router, "GET", path) == "all"


def test_path_converter_captures_the_rest(new_router: Any) -> None:
    router = new_router()
    router.get("/raw/:owner/:rest<path>", make("raw"))
    match = router.match("GET", "/raw/me/src/a%20b.py")
    assert match is not None
    assert match.params == ("me", "src/a b.py")
    assert match.values == {"owner": "me", "rest": "src/a b.py"}
    assert router.match("GET", "/raw/me/") is None


# -- Match ------------------------------------------------------------------------------


def test_match_parameters_names_and_values(new_router: Any) -> None:
    router = new_router()
    router.get("/u/:id<int>/p/:slug/:ratio<float>/:key<uuid>", make("u"))
    key = uuid.uuid4()
    match = router.match("GET", f"/u/42/p/hello%21/0.5/{key}")
    assert isinstance(match, Match)
    assert match.params == ("42", "hello!", "0.5", str(key))
    assert match.names == ("id", "slug", "ratio", "key")
    assert match.values == {"id": 42, "slug": "hello!", "ratio": 0.5, "key": key}
    assert match.get_parameter(0) == "42"
    assert match.get_parameter(3) == str(key)
    assert match.get_parameter(4) is None
    assert match.get_parameter(-1) is None
    assert match.get_parameters() == ["42", "hello!", "0.5", str(key)]
    assert isinstance(match.route, Route)
    assert match.route.pattern == "/u/:id<int>/p/:slug/:ratio<float>/:key<uuid>"
    assert "params=" in repr(match)


def test_converter_rejection_makes_route_not_match(new_router: Any) -> None:
    router = new_router()
    router.get("/n/:id<int>", make("n"))
    assert hit(router, "GET", "/n/x") is None
    assert hit(router, "GET", "/n/-1") is None
    assert hit(router, "GET", "/n/7") == "n"


def test_static_match_has_no_parameters() -> None:
    router = Router()
    router.get("/s", make("s"))
    match = router.match("GET", "/s")
    assert match is not None
    assert match.params == () and match.names == () and match.values == {}


def test_wildcard_captures_no_parameter() -> None:
    router = Router()
    router.get("/a/:x/*", make("a"))
    match = router.match("GET", "/a/1/2/3")
    assert match is not None and match.params == ("1",) and match.names == ("x",)


def test_next_is_idempotent_and_ends_with_none(new_router: Any) -> None:
    router = new_router()
    router.get("/a/b", make("static"))
    router.get("/a/:x", make("param"))
    router.any("/a/:x", make("any"))
    router.get("/*", make("star"))
    first = router.match("GET", "/a/b")
    assert first is not None
    second = first.next()
    assert second is first.next()
    assert second is not None and second.handler(None, None) == "param"
    third = second.next()
    assert third is not None and third.handler(None, None) == "any"
    assert third.params == ("b",)
    fourth = third.next()
    assert fourth is not None and fourth.handler(None, None) == "star"
    assert fourth.params == ()
    assert fourth.next() is None
    assert fourth.next() is None


def test_next_after_router_change_keeps_the_old_walk() -> None:
    router = Router()
    router.get("/a/:x", make("x"))
    router.get("/a/*", make("star"))
    match = router.match("GET", "/a/1")
    router.get("/a/:y<int>", make("late"))
    assert match is not None
    successor = match.next()
    assert successor is not None and successor.handler(None, None) == "star"
    assert chain(router, "GET", "/a/1") == ["late", "x", "star"]


def test_no_routes_no_match() -> None:
    router = Router()
    assert router.match("GET", "/") is None
    assert router.allowed_methods("/") == []
    assert len(router) == 0


# -- registration ---------------------------------------------------------------------


def test_duplicate_route_raises() -> None:
    router = Router()
    router.get("/u/:id", make("a"))
    with pytest.raises(DuplicateRouteError, match=r"GET '/u/:name'.*GET '/u/:id'"):
        router.get("/u/:name", make("b"))
    router.post("/u/:id", make("c"))  # another method is fine
    router.get("/s", make("s"))
    with pytest.raises(DuplicateRouteError, match="duplicate route"):
        router.get("/s", make("s2"))
    router.any("/s", make("any"))
    with pytest.raises(DuplicateRouteError):
        router.any("/s", make("any2"))
    assert isinstance(DuplicateRouteError("x"), RouterError)


def test_duplicate_check_leaves_router_unchanged() -> None:
    router = Router()
    router.get("/u/:id", make("a"))
    with pytest.raises(DuplicateRouteError):
        router.get("/u/:other", make("b"))
    assert len(router) == 1
    assert hit(router, "GET", "/u/1") == "a"


def test_bad_pattern_raises_value_error_naming_it() -> None:
    router = Router()
    with pytest.raises(ValueError, match=r"'/a/\*/b'.*last segment"):
        router.get("/a/*/b", make("x"))
    with pytest.raises(PatternError):
        router.add("GET", "nope", make("x"))
    assert len(router) == 0


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="not callable"):
        Router().add("GET", "/x", "handler")  # type: ignore[arg-type]


def test_routes_lists_registration_order() -> None:
    router = Router()
    router.get("/b", make("b"))
    router.post("/a/:x", make("a"), name="a")
    assert [(r.method, r.pattern, r.name) for r in router.routes] == [
        ("GET", "/b", None),
        ("POST", "/a/:x", "a"),
    ]
    assert repr(router.routes[1]) == "Route('POST', '/a/:x', name='a')"
    assert repr(router) == "<Router with 2 routes>"


def test_method_helpers_return_handler_or_decorator() -> None:
    router = Router()
    handler = make("h")
    assert router.get("/h", handler) is handler

    @router.post("/d", name="d")
    def decorated(res: Any, req: Any) -> str:
        return "d"

    assert decorated(None, None) == "d"  # still the plain function
    assert hit(router, "POST", "/d") == "d"
    assert router.url_for("d") == "/d"


# -- url_for ------------------------------------------------------------------------------


def test_url_for_builds_paths() -> None:
    router = Router()
    router.get("/", make("home"), name="home")
    router.get("/u/:id<int>/posts/:slug", make("post"), name="post")
    router.get("/f/:rest<path>", make("file"), name="file")
    router.get("/s/*", make("star"), name="star")
    router.get("/v/:x<float>/:k<uuid>", make("v"), name="v")
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert router.url_for("home") == "/"
    assert router.url_for("post", id=7, slug="a b/c?") == "/u/7/posts/a%20b%2Fc%3F"
    assert router.url_for("post", id="8", slug="café") == "/u/8/posts/caf%C3%A9"
    assert router.url_for("file", rest="dir/a b.txt") == "/f/dir/a%20b.txt"
    assert router.url_for("star", **{"*": "x/y"}) == "/s/x/y"
    assert router.url_for("star", **{"*": ""}) == "/s/"
    assert router.url_for("v", x=2, k=key) == f"/v/2.0/{key}"


def test_url_for_round_trips_through_match() -> None:
    router = Router()
    router.get("/u/:id<int>/:name", make("u"), name="u")
    path = router.url_for("u", id=3, name="a/b %")
    match = router.match("GET", path)
    assert match is not None and match.values == {"id": 3, "name": "a/b %"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing value for id, slug"),
        ({"id": 1}, "missing value for slug"),
        ({"id": 1, "slug": "s", "extra": 2}, "unknown parameter extra"),
        ({"id": "x", "slug": "s"}, "'x' is not a valid <int> value for parameter 'id'"),
        ({"id": -1, "slug": "s"}, "not a valid <int>"),
        ({"id": True, "slug": "s"}, "not a valid <int>"),
        ({"id": 1, "slug": ""}, "'' is not a valid <str> value"),
    ],
)
def test_url_for_errors(kwargs: dict[str, Any], message: str) -> None:
    router = Router()
    router.get("/u/:id<int>/:slug", make("u"), name="u")
    with pytest.raises(URLBuildError, match=message.replace("(", r"\(")):
        router.url_for("u", **kwargs)


def test_url_for_float_and_star_errors() -> None:
    router = Router()
    router.get("/v/:x<float>", make("v"), name="v")
    router.get("/s/*", make("s"), name="s")
    with pytest.raises(URLBuildError, match="not a valid <float>"):
        router.url_for("v", x=float("nan"))
    with pytest.raises(URLBuildError, match=r"missing value for \*"):
        router.url_for("s")


def test_url_for_unknown_name() -> None:
    router = Router()
    with pytest.raises(URLBuildError, match="no route named 'nope'"):
        router.url_for("nope")
    assert issubclass(URLBuildError, RouterError)


def test_route_names_unique_per_pattern() -> None:
    router = Router()
    router.get("/a/:x", make("a"), name="a")
    router.post("/a/:x", make("a2"), name="a")  # same pattern, other method: fine
    with pytest.raises(DuplicateRouteError, match="route name 'a' is already used by '/a/:x'"):
        router.get("/b", make("b"), name="a")
    assert router.url_for("a", x=1) == "/a/1"


@pytest.mark.parametrize("name", ["", 5])
def test_bad_route_name(name: Any) -> None:
    with pytest.raises(RouterError, match="route name must be a non-empty str"):
        Router().get("/a", make("a"), name=name)
