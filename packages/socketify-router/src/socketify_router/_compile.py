"""Compile the segment tree into one plain function: the matcher on the hot path.

``_tree.search`` walks the tree with a loop; this module writes the same walk out as
straight-line Python, one nested ``if`` per tree node, and ``exec``s it once after the
routes change (on the next match).  The generated function looks like::

    def first(segs, n, method):         # segs = path.split("/"), n = len(segs)
        if n > 1:
            s1 = segs[1]
            if s1 == 'users':           # static children: == tests (bisected when many)
                if n > 2:
                    s2 = segs[2]
                    v2 = s2 if '%' not in s2 else decode(s2)
                    if v2:              # a parameter: non-empty, decodable segment
                        if n == 3:      # a leaf: the routes for this method, if any
                            c = T1.get(method, D1)
                            if c:
                                return M(c[0], (v2,), (c, 0, L, segs, method, 0))
            ...
        return None

Blocks follow the priority order of ``_tree`` (static, then parameters by converter
rank, then tails), so the first ``return`` is the best match, built right there (``M``
makes the ``Match``).  Its resume state ends with a *label*: the index, in ``labels``
(``L``), of the alternatives that were still untried on the way to that leaf.  They are known when the code is written (a leaf is reached through
one fixed chain of branches), so the matcher records nothing while it runs.  Falling
through (``Match.next``) turns the label into ``_tree.search`` frames, with parameter
values sliced from the match, and continues with the loop-based walk from there: no
second walk from the root.

Only repr()'d static texts and generated names enter the source; tables, converters
and ``decode`` are bound in the function's globals.  Python limits how deeply blocks
nest, so a tree deeper than ``MAX_DEPTH`` segments (or one whose source fails to
compile) uses the loop-based walk for the first match too; both give the same results
(the tests compare them on random route sets).
"""

from __future__ import annotations

from typing import Any, Callable

from ._patterns import decode
from ._tree import E_PARAM, E_PATH, Leaf, Node, search

# (node, segment index, next edge, how many values the frame keeps)
Pending = tuple[tuple[Node, int, int, int], ...]
First = Callable[[list[str], int, Any], Any]  # (segs, n, method) -> Match or None
# make_match(route, params, resume) -> Match; resume is (cands, index, context, segs,
# method, token): token is a label (context: the labels) or frames (see Match).
MakeMatch = Callable[[Any, tuple[str, ...], tuple[Any, ...]], Any]
MAX_DEPTH = 24  # segments; about two indentation levels each (the parser stops at 100)


def interpreted(root: Node, make_match: MakeMatch) -> First:
    """The first match by the loop-based walk; its token is the list of frames."""

    def first(segs: list[str], n: int, method: Any) -> Any:
        frames: list[Any] = []
        found = search(root, 1, 0, (), segs, n, method, frames)
        if found is None:
            return None
        cands, vals = found
        return make_match(cands[0], vals, (cands, 0, None, segs, method, frames))

    return first


def compiled(root: Node, make_match: MakeMatch) -> First:
    """The tree as generated code (falls back to ``interpreted`` when too deep)."""
    if _depth(root) > MAX_DEPTH:
        return interpreted(root, make_match)
    writer = _Writer(make_match)
    writer.node(root, 1, [], 1, ())
    source = "def first(segs, n, method):\n" + "\n".join([*writer.lines, "    return None\n"])
    try:
        code = compile(source, "<socketify_router compiled routes>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - nesting limits
        return interpreted(root, make_match)
    namespace = writer.namespace
    exec(code, namespace)
    first: First = namespace["first"]
    first.source = source  # type: ignore[attr-defined]  # for debugging and the tests
    return first


def frames_for(pending: Pending, vals: tuple[str, ...]) -> list[Any]:
    """Turn a label's untried alternatives into ``_tree.search`` frames."""
    return [(node, i, k, vals[:kept]) for node, i, k, kept in pending]


def _depth(node: Node) -> int:
    deepest = 0
    for child in node.static.values():
        deepest = max(deepest, _depth(child))
    for _, _, target in node.edges:
        if isinstance(target, Node):
            deepest = max(deepest, _depth(target))
    return deepest + 1


class _Writer:
    def __init__(self, make_match: MakeMatch) -> None:
        self.lines: list[str] = []
        self.labels: list[Pending] = []
        self.namespace: dict[str, Any] = {"decode": decode, "M": make_match, "L": self.labels}
        self._names: dict[int, str] = {}

    def bind(self, prefix: str, value: Any) -> str:
        """A global name for ``value`` in the generated code (one per object)."""
        name = self._names.get(id(value))
        if name is None:
            name = self._names[id(value)] = f"{prefix}{len(self._names)}"
            self.namespace[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def leaf(self, leaf: Leaf, vals: list[str], indent: int, pending: Pending) -> None:
        table = self.bind("T", leaf.table)
        default = self.bind("D", leaf.default)
        label = len(self.labels)
        self.labels.append(pending)
        self.emit(indent, f"c = {table}.get(method, {default})")
        self.emit(indent, "if c:")
        items = ", ".join(vals) + ("," if len(vals) == 1 else "")
        self.emit(indent + 1, f"return M(c[0], ({items}), (c, 0, L, segs, method, {label}))")

    def node(self, node: Node, depth: int, vals: list[str], indent: int, pending: Pending) -> None:
        start = len(self.lines)
        branch = "if"
        if node.leaf is not None:
            self.emit(indent, f"if n == {depth}:")
            self.leaf(node.leaf, vals, indent + 1, pending)
            branch = "elif"
        if node.static or node.edges:
            seg = f"s{depth}"
            self.emit(indent, f"{branch} n > {depth}:")
            self.emit(indent + 1, f"{seg} = segs[{depth}]")
            if node.static:
                after = (*pending, (node, depth, 1, len(vals))) if node.edges else pending
                self.static(sorted(node.static.items()), seg, depth, vals, indent + 1, after)
            self.edges(node, seg, depth, vals, indent + 1, pending)
        if len(self.lines) == start:  # pragma: no cover - every node ends a route
            self.emit(indent, "pass")

    def static(
        self,
        items: list[tuple[str, Node]],
        seg: str,
        depth: int,
        vals: list[str],
        indent: int,
        pending: Pending,
    ) -> None:
        # PERF: a few == tests in a row, bisected with < when a node has many children.
        if len(items) <= 4:
            for index, (text, child) in enumerate(items):
                self.emit(indent, f"{'if' if index == 0 else 'elif'} {seg} == {text!r}:")
                self.node(child, depth + 1, vals, indent + 1, pending)
            return
        middle = len(items) // 2
        self.emit(indent, f"if {seg} < {items[middle][0]!r}:")
        self.static(items[:middle], seg, depth, vals, indent + 1, pending)
        self.emit(indent, "else:")
        self.static(items[middle:], seg, depth, vals, indent + 1, pending)

    def edges(
        self, node: Node, seg: str, depth: int, vals: list[str], indent: int, pending: Pending
    ) -> None:
        value = f"v{depth}"
        count = len(node.edges)
        params_open = False
        for index, (kind, conv, target) in enumerate(node.edges):
            # frames resume at edge index + 2 (k counts edges from 1; 0 is the static child)
            after = (
                (*pending, (node, depth, index + 2, len(vals))) if index + 1 < count else pending
            )
            if kind == E_PARAM:
                if not params_open:  # decode once for all the parameter edges of this node
                    self.emit(indent, f"{value} = {seg} if '%' not in {seg} else decode({seg})")
                    self.emit(indent, f"if {value}:")  # non-empty and valid UTF-8
                    params_open = True
                if conv.accept is None:
                    self.node(target, depth + 1, [*vals, value], indent + 1, after)
                else:
                    test = (conv.inline or "{accept}({v})").format(
                        v=value, accept=self.bind("A", conv.accept)
                    )
                    self.emit(indent + 1, f"if {test}:")
                    self.node(target, depth + 1, [*vals, value], indent + 2, after)
            elif kind == E_PATH:
                self.emit(indent, f"r = decode('/'.join(segs[{depth}:]))")
                self.emit(indent, "if r:")
                self.leaf(target, [*vals, "r"], indent + 1, after)
            else:
                self.leaf(target, vals, indent, after)
