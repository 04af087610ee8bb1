from __future__ import annotations

import pytest

from socketify_router import DuplicateRouteError
from socketify_router._patterns import parse_pattern
from socketify_router._tree import (
    ALL_METHODS,
    E_PARAM,
    E_PATH,
    E_STAR,
    EMPTY_LEAF,
    EMPTY_NODE,
    Leaf,
    Node,
    search,
)


class FakeRoute:
    def __init__(self, method: str, pattern: str = "/x") -> None:
        self.method = method
        self.pattern = pattern

    def __repr__(self) -> str:
        return self.method


def leaf_with(*methods: str) -> Leaf:
    leaf = EMPTY_LEAF
    for method in methods:
        leaf = leaf.adding(FakeRoute(method))
    return leaf


def methods_of(routes: tuple) -> list[str]:
    return [route.method for route in routes]


def test_leaf_orders_method_then_any() -> None:
    leaf = leaf_with("ANY", "POST")
    assert methods_of(leaf.table["POST"]) == ["POST", "ANY"]
    assert methods_of(leaf.default) == ["ANY"]
    assert "GET" not in leaf.table


def test_leaf_head_falls_back_to_get_before_any() -> None:
    leaf = leaf_with("ANY", "GET", "HEAD")
    assert methods_of(leaf.table["HEAD"]) == ["HEAD", "GET", "ANY"]
    assert methods_of(leaf_with("GET").table["HEAD"]) == ["GET"]


def test_leaf_all_methods_lists_every_route() -> None:
    leaf = leaf_with("GET", "POST", "ANY")
    assert sorted(methods_of(leaf.table[ALL_METHODS])) == ["ANY", "GET", "POST"]


def test_leaf_without_any_has_empty_default() -> None:
    assert leaf_with("GET").default == ()


def test_leaf_refuses_a_second_route_for_a_method() -> None:
    leaf = leaf_with("GET")
    with pytest.raises(DuplicateRouteError, match="duplicate route: GET '/y'"):
        leaf.adding(FakeRoute("GET", "/y"))
    assert methods_of(leaf.table["GET"]) == ["GET"]


def add(root: Node, method: str, pattern: str) -> Node:
    return root.adding(parse_pattern(pattern).segments, FakeRoute(method, pattern))


def test_edges_sorted_by_priority() -> None:
    root = EMPTY_NODE
    for pattern in ["/a/*", "/a/:s", "/a/:rest<path>", "/a/:u<uuid>", "/a/:i<int>", "/a/:f<float>"]:
        root = add(root, "GET", pattern)
    node = root.static["a"]
    kinds = [(kind, conv.name) for kind, conv, _ in node.edges]
    assert kinds == [
        (E_PARAM, "int"),
        (E_PARAM, "float"),
        (E_PARAM, "uuid"),
        (E_PARAM, "str"),
        (E_PATH, "path"),
        (E_STAR, "*"),
    ]


def test_same_shape_shares_one_leaf() -> None:
    root = add(EMPTY_NODE, "GET", "/u/:id/x")
    root = add(root, "POST", "/u/:name/x")
    leaf = root.static["u"].edges[0][2].static["x"].leaf
    assert sorted(leaf.routes) == ["GET", "POST"]
    with pytest.raises(DuplicateRouteError):
        add(root, "GET", "/u/:other/x")


def test_adding_copies_nodes_and_leaves_the_old_tree_alone() -> None:
    old = add(EMPTY_NODE, "GET", "/a/:x")
    new = add(old, "GET", "/a/:x<int>")
    assert len(old.static["a"].edges) == 1
    assert len(new.static["a"].edges) == 2
    assert EMPTY_NODE.static == {} and EMPTY_NODE.edges == ()
    assert EMPTY_LEAF.routes == {}


def run_all(root: Node, path: str, method: str) -> list[tuple[str, tuple[str, ...]]]:
    segs = path.split("/")
    frames: list = []
    out = []
    found = search(root, 1, 0, (), segs, len(segs), method, frames)
    while found is not None:
        cands, vals = found
        out.extend((route.method + " " + route.pattern, vals) for route in cands)
        if not frames:
            break
        node, i, k, vals = frames.pop()
        found = search(node, i, k, vals, segs, len(segs), method, frames)
    return out


def build(*specs: tuple[str, str]) -> Node:
    root = EMPTY_NODE
    for method, pattern in specs:
        root = add(root, method, pattern)
    return root


def test_search_yields_every_candidate_in_priority_order() -> None:
    root = build(
        ("GET", "/a/*"),
        ("GET", "/a/:x/c"),
        ("GET", "/a/b/:y"),
        ("GET", "/a/:x/:y"),
        ("GET", "/:z/b/c"),
    )
    assert run_all(root, "/a/b/c", "GET") == [
        ("GET /a/b/:y", ("c",)),
        ("GET /a/:x/c", ("b",)),
        ("GET /a/:x/:y", ("b", "c")),
        ("GET /a/*", ()),
        ("GET /:z/b/c", ("a",)),
    ]


def test_search_skips_leaves_without_the_method() -> None:
    root = build(("POST", "/a/:x"), ("GET", "/a/*"))
    assert run_all(root, "/a/b", "GET") == [("GET /a/*", ())]
    assert run_all(root, "/a/b", "PUT") == []


def test_search_path_tail_value_and_empty_tail() -> None:
    root = build(("GET", "/f/:rest<path>"), ("GET", "/f/*"))
    assert run_all(root, "/f/x/y%20z", "GET") == [
        ("GET /f/:rest<path>", ("x/y z",)),
        ("GET /f/*", ()),
    ]
    assert run_all(root, "/f/", "GET") == [("GET /f/*", ())]  # <path> needs text
    assert run_all(root, "/f", "GET") == []  # both need one more segment


def test_search_rejected_converter_and_bad_utf8_do_not_match() -> None:
    root = build(("GET", "/n/:id<int>"), ("GET", "/n/:s"))
    assert run_all(root, "/n/12", "GET") == [("GET /n/:id<int>", ("12",)), ("GET /n/:s", ("12",))]
    assert run_all(root, "/n/ab", "GET") == [("GET /n/:s", ("ab",))]
    assert run_all(root, "/n/%FF", "GET") == []
    assert run_all(root, "/n/", "GET") == []  # a parameter is never empty
