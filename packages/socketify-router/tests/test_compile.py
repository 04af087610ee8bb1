from __future__ import annotations

import random
from typing import Any, Optional

import pytest

from socketify_router import DuplicateRouteError, Router
from socketify_router._compile import MAX_DEPTH
from socketify_router._patterns import STATIC, WILDCARD, decode, parse_pattern


def handler(res: Any, req: Any) -> None:
    return None


def test_compiled_source_is_generated_on_first_match() -> None:
    router = Router()
    router.get("/users/:id<int>", handler)
    assert router.match("GET", "/users/1") is not None
    source = router._first.source  # type: ignore[attr-defined]
    assert "def first(segs, n, method):" in source
    assert "'users'" in source
    assert ".isdigit()" in source  # the inlined int check


def test_adding_a_route_recompiles() -> None:
    router = Router()
    router.get("/a/:x", handler)
    assert router.match("GET", "/b/1") is None
    router.get("/b/:y", handler)
    match = router.match("GET", "/b/1")
    assert match is not None and match.route.pattern == "/b/:y"


def test_deep_tree_falls_back_to_loop_walk() -> None:
    router = Router()
    deep = "/" + "/".join(f"s{i}" for i in range(MAX_DEPTH + 5)) + "/:last"
    router.get(deep, handler)
    path = deep.replace(":last", "end")
    match = router.match("GET", path)
    assert match is not None and match.params == ("end",)
    assert not hasattr(router._first, "source")


def test_many_static_children_are_bisected() -> None:
    router = Router()
    names = [f"n{i:02d}" for i in range(40)]
    for name in names:
        router.get(f"/{name}/:id", handler, name=name)
    for name in names:
        match = router.match("GET", f"/{name}/7")
        assert match is not None and match.route.name == name
    assert router.match("GET", "/n40/7") is None
    assert router.match("GET", "/m/7") is None


# Differential tests: the compiled matcher, the loop-based walk and a brute-force oracle
# (every route tried on its own, then sorted by the priority rule) must agree on every
# candidate, in order, for random route sets and paths.

SEGMENT_CHOICES = ["a", "b", "1", "", ":p", ":p<int>", ":p<float>", ":p<uuid>"]
TAILS = ["*", ":rest<path>"]
PATH_SEGMENTS = ["a", "b", "1", "2.5", "", "x%20y", "%FF", "12345678-1234-5678-1234-567812345678"]
METHODS = ["GET", "POST", "HEAD", "ANY"]


def random_pattern(rng: random.Random) -> str:
    parts = []
    for index in range(rng.randint(1, 4)):
        choice = rng.choice(SEGMENT_CHOICES)
        parts.append(choice.replace(":p", f":p{index}"))
    if rng.random() < 0.3:
        parts.append(rng.choice(TAILS))
    return "/" + "/".join(parts)


def random_path(rng: random.Random) -> str:
    return "/" + "/".join(rng.choice(PATH_SEGMENTS) for _ in range(rng.randint(1, 5)))


def oracle_values(pattern: str, path: str) -> Optional[tuple[str, ...]]:
    segments = parse_pattern(pattern).segments
    segs = path.split("/")[1:]
    values = []
    for index, seg in enumerate(segments):
        if seg.kind == WILDCARD:
            rest = segs[index:]
            if not rest:
                return None
            if seg.name is not None:
                text = decode("/".join(rest))
                if not text:
                    return None
                values.append(text)
            return tuple(values)
        if index >= len(segs):
            return None
        if seg.kind == STATIC:
            if segs[index] != seg.text:
                return None
            continue
        text = decode(segs[index])
        conv = seg.converter
        assert conv is not None
        if not text or (conv.accept is not None and not conv.accept(text)):
            return None
        values.append(text)
    return tuple(values) if len(segs) == len(segments) else None


def priority_key(pattern: str) -> tuple:
    key = []
    for seg in parse_pattern(pattern).segments:
        if seg.kind == STATIC:
            key.append((0, 0))
        else:
            assert seg.converter is not None
            key.append((seg.kind, seg.converter.rank))
    return tuple(key)


def oracle(routes: list[tuple[str, str]], method: str, path: str) -> list[tuple[str, str, tuple]]:
    found = []
    for route_method, pattern in routes:
        if route_method == method:
            rank = 0
        elif method == "HEAD" and route_method == "GET":
            rank = 1
        elif route_method == "ANY":
            rank = 2
        else:
            continue
        values = oracle_values(pattern, path)
        if values is not None:
            found.append((priority_key(pattern), rank, route_method, pattern, values))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(m, p, v) for _, _, m, p, v in found]


def candidates(router: Router, method: str, path: str) -> list[tuple[str, str, tuple]]:
    out = []
    match = router.match(method, path)
    while match is not None:
        out.append((match.route.method, match.route.pattern, match.params))
        match = match.next()
    return out


@pytest.mark.parametrize("seed", range(60))
def test_compiled_interpreted_and_oracle_agree(seed: int) -> None:
    rng = random.Random(seed)
    compiled = Router()
    looped = Router()
    looped.compile = False
    routes: list[tuple[str, str]] = []
    for _ in range(rng.randint(1, 25)):
        method, pattern = rng.choice(METHODS), random_pattern(rng)
        try:
            compiled.add(method, pattern, handler)
        except DuplicateRouteError:
            continue
        looped.add(method, pattern, handler)
        routes.append((method, pattern))
    for _ in range(40):
        method, path = rng.choice(["GET", "POST", "HEAD", "PUT"]), random_path(rng)
        expected = oracle(routes, method, path)
        assert candidates(compiled, method, path) == expected, (method, path, routes)
        assert candidates(looped, method, path) == expected, (method, path, routes)
        assert compiled.allowed_methods(path) == looped.allowed_methods(path)
