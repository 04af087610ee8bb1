"""Rendering response header lines, and refusing the ones that would break the head.

A rendered header is ``b"Name: value\\r\\n"``.  Names must be RFC 9110 tokens; values may
be str (latin-1, as HTTP defines), bytes or int, and must not contain CR, LF or NUL (that
would let a value inject headers or split the response).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Union

from .errors import InvalidHeader

HeaderValue = Union[str, bytes, bytearray, memoryview, int]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")

# PERF: validated names are kept rendered ("Name: ") so a repeated header name costs one
# dict lookup; bounded so hostile code paths cannot grow it forever.
_NAMES: dict[Union[str, bytes], bytes] = {}
_NAMES_MAX = 1024


def _name_bytes(name: Any) -> bytes:
    prefix = _NAMES.get(name) if type(name) in (str, bytes) else None
    if prefix is not None:
        return prefix
    if isinstance(name, str):
        try:
            raw = name.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidHeader(f"header name {name!r} is not ASCII") from None
    elif isinstance(name, (bytes, bytearray, memoryview)):
        raw = bytes(name)
    else:
        raise TypeError(f"header name must be str or bytes, not {type(name).__name__}")
    if not _TOKEN.match(raw):
        raise InvalidHeader(f"header name {name!r} is not a valid token")
    prefix = raw + b": "
    if len(_NAMES) < _NAMES_MAX and type(name) in (str, bytes):
        _NAMES[name] = prefix
    return prefix


def value_bytes(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidHeader(
                f"header value {value!r} is not latin-1; percent-encode it or pass bytes"
            ) from None
    elif kind is bytes:
        raw = value
    elif kind is int:
        return str(value).encode("ascii")
    elif isinstance(value, bool):
        raise TypeError("header value must be str, bytes or int, not bool")
    elif isinstance(value, int):
        return str(int(value)).encode("ascii")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, str):
        raw = str(value).encode("latin-1")
    else:
        raise TypeError(f"header value must be str, bytes or int, not {kind.__name__}")
    if _BAD_VALUE.search(raw):
        raise InvalidHeader(f"header value {value!r} contains CR, LF or NUL")
    return raw


def render_header(name: Any, value: Any) -> bytes:
    """``("X-A", 1)`` -> ``b"X-A: 1\\r\\n"``; raises InvalidHeader/TypeError on bad input."""
    return _name_bytes(name) + value_bytes(value) + b"\r\n"


def header_kind(rendered: bytes) -> int:
    """Which framing-relevant header a rendered line is: 1 Content-Type, 2 Content-Length."""
    first = rendered[:1]
    if first not in (b"c", b"C"):
        return 0
    lowered = rendered[:15].lower()
    if lowered.startswith(b"content-type:"):
        return 1
    if lowered == b"content-length:":
        return 2
    return 0


def pairs(headers: Any) -> Iterable[tuple[Any, Any]]:
    """Accept a mapping or any iterable of (name, value) pairs."""
    if headers is None:
        return
    items = headers.items() if hasattr(headers, "items") else headers
    for pair in items:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError(f"headers must be (name, value) pairs, got {pair!r}") from None
        yield name, value
