"""Router, Route and Match: registration, matching, 404 vs 405, and url_for.

The matching rules (priority, fall-through) are described in ``_tree.py``; the pattern
syntax, parameter types and percent-decoding in ``_patterns.py``.  This module adds:

* methods: a route has one method (``"GET"``...) or ``"ANY"``.  Among routes of the same
  pattern, the request's own method beats ``ANY``, and a HEAD request falls back to the
  GET route (after a HEAD route, before ``ANY``).  Across patterns, pattern priority
  comes first: ``any("/health")`` wins over ``get("/:page")`` for ``GET /health``.
  Method names are case-sensitive at match time, as in HTTP; ``add`` upper-cases them.
* 404 vs 405: ``allowed_methods(path)`` lists the methods of *every* route whose pattern
  matches the path (all candidates, not only the first), so an ``Allow`` header is
  complete.  ``[]`` means 404.
* duplicates: two routes with the same method and the same pattern shape (``/u/:id`` and
  ``/u/:name`` are the same shape) raise ``DuplicateRouteError``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from ._compile import First, compiled, frames_for, interpreted
from ._errors import DuplicateRouteError, RouterError, URLBuildError
from ._groups import RouteGroup, RouteMethods
from ._patterns import STATIC, ParsedPattern, encode, parse_pattern
from ._tree import ALL_METHODS, EMPTY_LEAF, EMPTY_NODE, Leaf, Node, search

STANDARD_METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


class Route:
    """One registered route: ``method`` (upper case or ``"ANY"``), ``pattern``, ``handler``."""

    __slots__ = ("_parsed", "converters", "handler", "method", "name", "names", "pattern")

    def __init__(
        self, method: str, parsed: ParsedPattern, handler: Callable[..., Any], name: Optional[str]
    ) -> None:
        self.method = method
        self.pattern = parsed.pattern
        self.handler = handler
        self.name = name
        self.names = parsed.names
        self.converters = parsed.converters
        self._parsed = parsed

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name is not None else ""
        return f"Route({self.method!r}, {self.pattern!r}{named})"


_HITS_MAX = 4096


class Match:
    """The result of ``Router.match``: a route and the parameter values of this path.

    ``params`` are the percent-decoded strings in pattern order; ``values`` maps names to
    converted values (``<int>`` gives an ``int``).  ``next()`` is the next candidate in
    priority order, or ``None``.
    """

    # PERF: built once per request: four slot stores and one tuple, nothing computed
    # eagerly (``_succ`` is only set by next()).
    __slots__ = ("_resume", "_succ", "handler", "params", "route")
    _succ: Optional[Match]  # set by next() only (an unset slot means: not walked yet)

    def __init__(self, route: Route, params: tuple[str, ...], resume: tuple[Any, ...]) -> None:
        self.route = route
        self.handler = route.handler
        self.params = params
        # Where next() goes on: (cands, index, context, segs, method, token), with
        # cands the routes of this pattern for the method (best first), route being
        # cands[index]; token a label of the compiled matcher (context: its labels),
        # the frames list of the loop-based walk, or None for a static hit whose tree
        # walk has not started (context: the tree root, segs: the path).
        self._resume = resume

    @property
    def names(self) -> tuple[str, ...]:
        return self.route.names

    @property
    def values(self) -> dict[str, Any]:
        # Matching only checked the texts (converter.accept); the values are built here,
        # when asked, rather than on every match.
        out = {}
        for name, conv, text in zip(self.route.names, self.route.converters, self.params):
            out[name] = text if conv.parse is None else conv.parse(text)
        return out

    def get_parameter(self, index: int) -> Optional[str]:
        params = self.params
        return params[index] if 0 <= index < len(params) else None

    def get_parameters(self) -> list[str]:
        return list(self.params)

    def next(self) -> Optional[Match]:
        """The next matching route in priority order (what ``req.set_yield(True)`` asks).

        Continues the walk where this match stopped; calling it again returns the same
        object (the successor is kept: the walk only moves forward).
        """
        try:
            return self._succ
        except AttributeError:
            pass
        cands, index, context, segs, method, token = self._resume
        index += 1
        succ: Optional[Match]
        if index < len(cands):
            succ = Match(cands[index], self.params, (cands, index, context, segs, method, token))
        else:
            if token is None:  # a static hit: now walk the tree
                segs = segs.split("/")
                frames: list[Any] = []
                found = search(context, 1, 0, (), segs, len(segs), method, frames)
            else:
                # a label becomes frames (values sliced from ours); a frames list is
                # consumed here, which is safe since the successor is cached
                frames = frames_for(context[token], self.params) if type(token) is int else token
                found = None
                if frames:
                    node, i, k, vals = frames.pop()
                    found = search(node, i, k, vals, segs, len(segs), method, frames)
            if found is None:
                succ = None
            else:
                cands, vals = found
                succ = Match(cands[0], vals, (cands, 0, None, segs, method, frames))
        self._succ = succ
        return succ

    def __repr__(self) -> str:
        return f"Match({self.route!r}, params={self.params!r})"


class Router(RouteMethods):
    """Routes by method and path.  ``get``/``post``/... register (or decorate)."""

    compile = True  # False: match with the loop-based walk (``_tree.search``) instead

    def __init__(self) -> None:
        self._static: dict[str, Leaf] = {}  # whole raw path -> leaf, for all-static patterns
        self._root: Node = EMPTY_NODE
        self._first: First = self._compile_and_first
        # PERF: Match objects of static hits, by (path, method): a Match only grows a
        # successor that depends on the routes, so the cache is dropped on every add().
        self._hits: dict[tuple[str, str], Match] = {}
        self._routes: list[Route] = []
        self._names: dict[str, Route] = {}

    @property
    def routes(self) -> list[Route]:
        """Every route, in registration order."""
        return list(self._routes)

    def add(
        self, method: str, pattern: str, handler: Callable[..., Any], name: Optional[str] = None
    ) -> Route:
        """Register ``handler`` for ``method`` (or ``"ANY"``) and ``pattern``."""
        method = _check_method(method)
        parsed = parse_pattern(pattern)
        if not callable(handler):
            raise TypeError(f"handler for {method} {pattern!r} is not callable: {handler!r}")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise RouterError(f"route name must be a non-empty str, not {name!r}")
            named = self._names.get(name)
            if named is not None and named.pattern != pattern:
                raise DuplicateRouteError(
                    f"route name {name!r} is already used by {named.pattern!r}; "
                    f"cannot reuse it for {pattern!r}"
                )
        route = Route(method, parsed, handler, name)
        if parsed.is_static:
            key = "/" + "/".join(seg.text for seg in parsed.segments)
            self._static[key] = self._static.get(key, EMPTY_LEAF).adding(route)
        else:
            # Copy-on-write: a Match still walking the old tree is not disturbed.
            self._root = self._root.adding(parsed.segments, route)
        self._first = self._compile_and_first  # the tree changed: compile on next use
        self._hits = {}
        self._routes.append(route)
        if name is not None and name not in self._names:
            self._names[name] = route
        return route

    def match(self, method: str, path: str) -> Optional[Match]:
        """The best route for ``method`` and the raw ``path`` (no query), or ``None``."""
        # PERF: a static hit seen before is one dict lookup; else one for the path and
        # one for the method.
        hit = self._hits.get((path, method))
        if hit is not None:
            return hit
        leaf = self._static.get(path)
        if leaf is not None:
            cands = leaf.table.get(method, leaf.default)
            if cands:
                hit = Match(cands[0], (), (cands, 0, self._root, path, method, None))
                if len(self._hits) < _HITS_MAX:  # bounded: clients choose the methods
                    self._hits[path, method] = hit
                return hit
        segs = path.split("/")
        if segs[0]:  # the path does not start with '/' (e.g. "*" of OPTIONS *)
            return None
        # PERF: the compiled matcher: a plain function that builds the Match itself.
        found: Optional[Match] = self._first(segs, len(segs), method)
        return found

    def _compile_and_first(self, segs: list[str], n: int, method: Any) -> Optional[Match]:
        # Stands in for the compiled matcher after a change: compile, then delegate.
        build = compiled if self.compile else interpreted
        self._first = build(self._root, Match)
        found: Optional[Match] = self._first(segs, n, method)
        return found

    def allowed_methods(self, path: str) -> list[str]:
        """Sorted methods that have a route matching ``path``; ``[]`` means 404.

        An ``ANY`` route contributes the nine standard methods; GET brings HEAD.
        """
        methods: set[str] = set()
        found = self.match(ALL_METHODS, path)
        while found is not None:
            methods.add(found.route.method)
            found = found.next()
        if "ANY" in methods:
            methods.discard("ANY")
            methods.update(STANDARD_METHODS)
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called ``name`` from parameter values.

        Values are formatted by the parameter's type, checked against it, and
        percent-encoded (``/`` too, except in a ``<path>`` tail).  A ``*`` tail takes its
        value from the key ``"*"`` (``url_for(name, **{"*": "a/b"})``).
        """
        route = self._names.get(name)
        if route is None:
            raise URLBuildError(f"url_for: no route named {name!r}")
        segments = route._parsed.segments
        wanted = {seg.name or "*" for seg in segments if seg.kind != STATIC}
        missing = sorted(wanted.difference(params))
        if missing:
            raise URLBuildError(f"url_for({name!r}): missing value for {', '.join(missing)}")
        unknown = sorted(set(params).difference(wanted))
        if unknown:
            raise URLBuildError(
                f"url_for({name!r}): unknown parameter {', '.join(unknown)} "
                f"for pattern {route.pattern!r}"
            )
        parts = []
        for seg in segments:
            conv = seg.converter
            if conv is None:
                parts.append(seg.text)
                continue
            key = seg.name or "*"
            value = params[key]
            text = conv.format(value)
            if seg.name is not None and (
                not text or (conv.accept is not None and not conv.accept(text))
            ):
                raise URLBuildError(
                    f"url_for({name!r}): {value!r} is not a valid <{conv.name}> value "
                    f"for parameter {key!r}"
                )
            parts.append(encode(text, conv.tail))
        return "/" + "/".join(parts)

    def group(self, prefix: str = "", *middlewares: Callable[..., Any]) -> RouteGroup:
        """A ``RouteGroup`` registering into this router under ``prefix``."""
        return RouteGroup(self, prefix, *middlewares)

    def __len__(self) -> int:
        return len(self._routes)

    def __repr__(self) -> str:
        return f"<Router with {len(self._routes)} routes>"


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or _TOKEN.match(method) is None:
        raise RouterError(f"invalid HTTP method {method!r}: expected e.g. 'GET' or 'ANY'")
    return method.upper()
