"""Route patterns: syntax, validation, parameter types and percent-encoding.

A pattern is a path split on ``/`` into segments; each segment is one of:

=================  ===========================================================  ========
segment            matches                                                      kind
=================  ===========================================================  ========
``users``          exactly that text (compared with the raw, still               STATIC
                   percent-encoded request path)
``:id``            one non-empty segment; the value is percent-decoded          PARAM
``:id<int>``       one segment that the ``int`` converter accepts               PARAM
``*``              the rest of the path: one or more segments, possibly         WILDCARD
                   empty (``/a/*`` matches ``/a/`` and ``/a/b/c``, not ``/a``);
                   it captures no parameter
``:rest<path>``    the rest of the path, non-empty, slashes included; a         WILDCARD
                   named, captured ``*``
=================  ===========================================================  ========

``*`` and ``<path>`` must be the last segment.  Trailing slashes are significant:
``/a`` and ``/a/`` are two different patterns and two different paths.

Parameter types live in one table, ``CONVERTERS``.  A converter accepts or rejects the
decoded segment while matching (a rejected value means the route does not match, and
the router tries the next candidate), turns accepted text into the value of
``Match.values``, and turns a value back into text for ``url_for``:

==========  =====================================================  ================
type        accepts                                                value
==========  =====================================================  ================
(none)      any non-empty segment                                  ``str``
``int``     1 to 100 ASCII digits (no sign: ids, pages, counts)    ``int``
``float``   ASCII ``digits[.digits][e[+-]digits]``, finite          ``float``
``uuid``    ``8-4-4-4-12`` hex digits, any case                    ``uuid.UUID``
``path``    the non-empty rest of the path (last segment only)     ``str``
==========  =====================================================  ================

Among parameters on the same segment the typed ones are tried first, most specific
first (``rank``): int, float, uuid, then plain.  ``int`` comes before ``float`` because
every int text is also a float text.

Percent-decoding: ``%XX`` sequences are decoded as UTF-8.  A ``%`` not followed by two
hex digits is kept literally.  Bytes that are not valid UTF-8 make the segment match no
parameter (the route does not match: usually a 404) rather than being replaced by
U+FFFD, so two different raw paths never give the same value.  ``%2F`` decodes to ``/``
inside a ``:name`` value: segments are split on the raw path first.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import quote, unquote

from ._errors import PatternError

STATIC, PARAM, WILDCARD = 0, 1, 2


class Converter(NamedTuple):
    name: str
    rank: int  # lower is tried first among converters on the same segment
    accept: Optional[Callable[[str], bool]]  # None: any non-empty decoded text (PERF)
    parse: Optional[Callable[[str], Any]]  # accepted text -> value; None: the text itself
    format: Callable[[Any], str]  # value -> text for url_for (then checked with accept)
    tail: bool  # matches the rest of the path (must be the last segment)
    inline: Optional[str] = None  # ``accept`` as an expression of {v}, for _compile


_INT_DIGITS = 100  # int() of a longer text is slow (CPython limits it at 4300 digits)


def _accept_int(text: str) -> bool:
    return text.isdigit() and text.isascii() and len(text) <= _INT_DIGITS


_FLOAT = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\Z")


def _accept_float(text: str) -> bool:
    return _FLOAT.match(text) is not None and math.isfinite(float(text))


def _format_float(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def _accept_uuid(text: str) -> bool:
    return _UUID.match(text) is not None


def _format_plain(value: Any) -> str:
    if isinstance(value, bool):
        return repr(value)  # "True" fails every typed check: no silent 1/0
    return str(value)


CONVERTERS: dict[str, Converter] = {
    "int": Converter(
        "int",
        0,
        _accept_int,
        int,
        _format_plain,
        False,
        # PERF: inlined in the compiled matcher: three C method calls, no Python frame.
        f"{{v}}.isdigit() and {{v}}.isascii() and len({{v}}) <= {_INT_DIGITS}",
    ),
    "float": Converter("float", 1, _accept_float, float, _format_float, False),
    "uuid": Converter("uuid", 2, _accept_uuid, uuid.UUID, _format_plain, False),
    "str": Converter("str", 3, None, None, _format_plain, False),
    "path": Converter("path", 0, None, None, _format_plain, True),
}
STAR = Converter("*", 1, None, None, _format_plain, True)  # `<path>` (rank 0) goes first


class Segment(NamedTuple):
    kind: int  # STATIC, PARAM or WILDCARD
    text: str  # static text (raw, percent-encoded) or the segment as written
    name: Optional[str]  # parameter name; None for static and `*`
    converter: Optional[Converter]

    @property
    def key(self) -> Any:
        """What the segment tree branches on: equal keys match exactly the same paths."""
        if self.kind == STATIC:
            return self.text
        assert self.converter is not None
        return (self.kind, self.converter.name)


class ParsedPattern(NamedTuple):
    pattern: str
    segments: tuple[Segment, ...]
    names: tuple[str, ...]  # parameter names in order (`*` has none)
    converters: tuple[Converter, ...]  # one per name

    @property
    def is_static(self) -> bool:
        return all(seg.kind == STATIC for seg in self.segments)

    @property
    def shape(self) -> tuple[Any, ...]:
        return tuple(seg.key for seg in self.segments)


_PARAM_SYNTAX = re.compile(r":([^<>]*)(?:<([^<>]*)>)?\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Everything printable in ASCII stays as written (existing %XX escapes included);
# spaces, controls and non-ASCII get percent-encoded so they compare with raw paths.
_STATIC_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"  # RFC 3986 pchar without '%' (url_for values)
_TAIL_SAFE = _SEGMENT_SAFE + "/"


def parse_pattern(pattern: str) -> ParsedPattern:
    """Parse and validate ``pattern``; raise ``PatternError`` naming the fault."""
    if not isinstance(pattern, str):
        raise PatternError(pattern, f"a pattern must be a str, not {type(pattern).__name__}")
    if not pattern.startswith("/"):
        raise PatternError(pattern, "a pattern must start with '/'")
    for char in "?#":
        if char in pattern:
            raise PatternError(
                pattern, f"{char!r} is not allowed: patterns match the path only (no query)"
            )
    texts = pattern.split("/")[1:]
    last = len(texts) - 1
    segments: list[Segment] = []
    names: list[str] = []
    converters: list[Converter] = []
    for index, text in enumerate(texts):
        if text == "*":
            if index != last:
                raise PatternError(pattern, "'*' must be the last segment")
            segments.append(Segment(WILDCARD, text, None, STAR))
        elif "*" in text:
            raise PatternError(pattern, f"'*' must be a whole segment, not part of {text!r}")
        elif text.startswith(":"):
            seg = _parse_parameter(pattern, text, names, index == last)
            segments.append(seg)
            assert seg.name is not None and seg.converter is not None
            names.append(seg.name)
            converters.append(seg.converter)
        else:
            segments.append(Segment(STATIC, quote(text, safe=_STATIC_SAFE), None, None))
    return ParsedPattern(pattern, tuple(segments), tuple(names), tuple(converters))


def _parse_parameter(pattern: str, text: str, seen: list[str], is_last: bool) -> Segment:
    found = _PARAM_SYNTAX.match(text)
    if found is None:
        raise PatternError(pattern, f"malformed parameter {text!r}: use ':name' or ':name<type>'")
    name, type_name = found.groups()
    if not name:
        raise PatternError(pattern, f"empty parameter name in {text!r}")
    if _IDENTIFIER.match(name) is None:
        raise PatternError(pattern, f"parameter name {name!r} is not a Python identifier")
    if name in seen:
        raise PatternError(pattern, f"duplicate parameter name {name!r}")
    converter = CONVERTERS.get("str" if type_name is None else type_name)
    if converter is None:
        known = ", ".join(sorted(CONVERTERS))
        raise PatternError(pattern, f"unknown parameter type <{type_name}> (known: {known})")
    if converter.tail:
        if not is_last:
            raise PatternError(pattern, f"<{converter.name}> parameter {name!r} must be last")
        return Segment(WILDCARD, text, name, converter)
    return Segment(PARAM, text, name, converter)


def decode(text: str) -> Optional[str]:
    """Percent-decode one raw path piece; ``None`` when the bytes are not UTF-8."""
    # PERF: most segments carry no escape; skip unquote entirely for them.
    if "%" not in text:
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None


def encode(text: str, tail: bool) -> str:
    """Percent-encode a value for one segment (``/`` too) or for a tail (``/`` kept)."""
    return quote(text, safe=_TAIL_SAFE if tail else _SEGMENT_SAFE)
