"""The segment tree: which route wins, and how matching falls through to the next one.

Theory of operation
-------------------
Routes whose segments are all static never enter the tree: the router keeps them in a
dict keyed by the whole path, so they match with one lookup.  Every other route is a path
from the root of this tree, one node per segment.  A node branches three ways:

* ``static``: dict ``segment text -> Node`` (one lookup, at most one child matches);
* ``edges``: parameters and tails, a tuple ordered by priority (``PRIORITY`` below);
* ``leaf``: the routes that end exactly here.

Priority is the uWebSockets rule: compare the candidates segment by segment from the
left; at the first segment where they differ, static beats parameter beats wildcard.
A depth-first walk that tries ``static`` before the ``edges`` of every node, in order,
visits matching routes in exactly that order, whatever order they were added in.  On a
leaf, routes of the same pattern are ordered by method (``Leaf.rebuild``): the request's
method, then GET when the request is HEAD, then ``ANY``.

Fall-through (``req.set_yield(True)``) needs the *next* candidate without matching again.
The walk is iterative, and every time it leaves a node that still has untried edges it
pushes a frame ``(node, segment index, next edge, values so far)`` on ``frames``.  Those
frames are the whole resume state: ``search`` returns at the first leaf with routes for
the method, and calling it again with the same ``frames`` continues where it stopped.
Nodes with a single way on (the common case: ``/users/:id/posts``) push nothing.

Segment values are collected as the walk goes (``vals``: a tuple that grows by one per
parameter); converters run while walking, since a value they reject means that branch
does not match.
"""

from __future__ import annotations

from typing import Any, Optional

from ._errors import DuplicateRouteError
from ._patterns import PARAM, STAR, STATIC, Converter, Segment, decode

# Edge kinds, in the order they are tried on one node (after the static child).
E_PARAM, E_PATH, E_STAR = 0, 1, 2

ALL_METHODS: Any = object()
"""Pseudo method: a leaf answers every route it holds (used by ``allowed_methods``)."""


class Leaf:
    """The routes of one pattern shape, and their candidate order for each method."""

    __slots__ = ("default", "routes", "table")

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes  # method -> Route ("ANY" included)
        any_route = routes.get("ANY")
        tail = (any_route,) if any_route is not None else ()
        table: dict[Any, tuple[Any, ...]] = {}
        for method, route in routes.items():
            if method != "ANY":
                table[method] = (route, *tail)
        get = routes.get("GET")
        if get is not None:
            head = routes.get("HEAD")
            table["HEAD"] = ((head,) if head is not None else ()) + (get, *tail)
        table[ALL_METHODS] = tuple(routes.values())
        self.table = table
        self.default = tail  # for methods with no route of their own

    def adding(self, route: Any) -> Leaf:
        """A new leaf with ``route`` too; ``DuplicateRouteError`` if its method is taken."""
        existing = self.routes.get(route.method)
        if existing is not None:
            raise DuplicateRouteError(
                f"duplicate route: {route.method} {route.pattern!r} matches the same paths as "
                f"{existing.method} {existing.pattern!r}, registered before"
            )
        return Leaf({**self.routes, route.method: route})


EMPTY_LEAF = Leaf({})


class Node:
    """One segment position.  Never changed once built: adding a route copies the
    nodes on its way (``adding``), so a match in flight keeps a consistent tree."""

    __slots__ = ("dynamic", "edges", "leaf", "static")

    def __init__(
        self,
        static: Optional[dict[str, Node]] = None,
        dynamic: Optional[dict[Any, tuple[Segment, Any]]] = None,
        leaf: Optional[Leaf] = None,
    ) -> None:
        self.static: dict[str, Node] = static or {}
        # segment key -> (first segment with that key, Node for a param or Leaf for a tail)
        self.dynamic: dict[Any, tuple[Segment, Any]] = dynamic or {}
        self.leaf = leaf
        edges = []
        for seg, target in self.dynamic.values():
            conv = seg.converter
            assert conv is not None
            edge_kind = E_PARAM if seg.kind == PARAM else (E_STAR if conv is STAR else E_PATH)
            edges.append(((edge_kind, conv.rank), (edge_kind, conv, target)))
        edges.sort(key=lambda item: item[0])
        self.edges: tuple[tuple[int, Converter, Any], ...] = tuple(edge for _, edge in edges)

    def adding(self, segments: tuple[Segment, ...], route: Any) -> Node:
        """A copy of this node with ``route`` added below it, ending after ``segments``."""
        if not segments:
            return Node(self.static, self.dynamic, (self.leaf or EMPTY_LEAF).adding(route))
        seg, rest = segments[0], segments[1:]
        if seg.kind == STATIC:
            child = self.static.get(seg.text) or EMPTY_NODE
            static = {**self.static, seg.text: child.adding(rest, route)}
            return Node(static, self.dynamic, self.leaf)
        key = seg.key
        found_seg, target = self.dynamic.get(key, (seg, None))
        if seg.kind == PARAM:
            target = (target or EMPTY_NODE).adding(rest, route)
        else:  # a tail is always the last segment
            target = (target or EMPTY_LEAF).adding(route)
        return Node(self.static, {**self.dynamic, key: (found_seg, target)}, self.leaf)


EMPTY_NODE = Node()


def search(
    node: Node,
    i: int,
    k: int,
    vals: tuple[str, ...],
    segs: list[str],
    n: int,
    method: Any,
    frames: list[tuple[Node, int, int, tuple[str, ...]]],
) -> Optional[tuple[tuple[Any, ...], tuple[str, ...]]]:
    """Continue the walk at ``node`` for segment ``segs[i]``, edge ``k`` (0 = static child).

    Return ``(routes for the method, parameter values)`` of the next matching leaf, or
    ``None`` when no candidate is left.  ``frames`` receives the points to resume from.
    """
    # PERF: one loop with local variables, no recursion and no generator: the first
    # match of a typical path costs a dict lookup or a converter call per segment.
    while True:
        if i == n:
            leaf = node.leaf
            if leaf is not None:
                cands = leaf.table.get(method, leaf.default)
                if cands:
                    return cands, vals
        else:
            seg = segs[i]
            if k == 0:
                child = node.static.get(seg)
                if child is not None:
                    if node.edges:
                        frames.append((node, i, 1, vals))
                    node = child
                    i += 1
                    continue
                k = 1
            edges = node.edges
            count = len(edges)
            while k <= count:
                kind, conv, target = edges[k - 1]
                k += 1
                if kind == E_PARAM:
                    if not seg:
                        continue
                    value = decode(seg) if "%" in seg else seg
                    if not value or (conv.accept is not None and not conv.accept(value)):
                        continue
                    if k <= count:
                        frames.append((node, i, k, vals))
                    node = target
                    i += 1
                    k = 0
                    vals = (*vals, value)
                    break
                cands = target.table.get(method, target.default)
                if not cands:
                    continue
                if kind == E_PATH:
                    rest = decode("/".join(segs[i:]))
                    if not rest:  # empty tail or not UTF-8
                        continue
                    if k <= count:
                        frames.append((node, i, k, vals))
                    return cands, (*vals, rest)
                if k <= count:
                    frames.append((node, i, k, vals))
                return cands, vals
            else:
                if not frames:
                    return None
                node, i, k, vals = frames.pop()
            continue
        if not frames:
            return None
        node, i, k, vals = frames.pop()
