"""Rendering response header lines, and refusing the ones that would break the head.

A rendered header is ``b"Name: value\\r\\n"``.  Names must be RFC 9110 tokens; values may
be str (latin-1, as HTTP defines), bytes or int, and must not contain control bytes other
than HTAB (CR, LF or NUL would let a value inject headers or split the response; the others
are refused by strict clients).

The framing headers are the core's: ``Content-Length`` must be a number (checked here, at the
call that writes it), ``Transfer-Encoding: chunked`` and ``Connection`` lines are dropped
(the core frames the response and writes ``Connection`` itself; ``Connection: close``
closes the connection after the response, as it says), and another ``Transfer-Encoding``
is refused: the core cannot apply it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Union

from .errors import InvalidHeader

HeaderValue = Union[str, bytes, bytearray, memoryview, int]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_LENGTH = re.compile(rb"[0-9]{1,19}\Z")

# header_kind() bits
KIND_CONTENT_TYPE = 1
KIND_CONTENT_LENGTH = 2
KIND_CLOSE = 4  # Connection: close: the connection closes after this response
KIND_DROP = 8  # not written: the core frames the response and owns Connection

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
        raise InvalidHeader(
            f"header value {value!r} contains a control character (only HTAB is allowed)"
        )
    return raw


def render_header(name: Any, value: Any) -> bytes:
    """``("X-A", 1)`` -> ``b"X-A: 1\\r\\n"``; raises InvalidHeader/TypeError on bad input."""
    return _name_bytes(name) + value_bytes(value) + b"\r\n"


def header_kind(rendered: bytes) -> int:
    """Which framing-relevant header a rendered line is (the KIND_* bits; 0 for the rest).

    Raises InvalidHeader for a Content-Length that is not a number and a Transfer-Encoding
    other than chunked."""
    first = rendered[:1]
    if first in (b"c", b"C"):
        lowered = rendered[:15].lower()
        if lowered.startswith(b"content-type:"):
            return KIND_CONTENT_TYPE
        if lowered == b"content-length:":
            value = rendered[15:-2].strip(b" \t")
            if not _LENGTH.match(value):
                raise InvalidHeader(
                    f"Content-Length must be a non-negative integer, not {value.decode('latin-1')!r}"
                )
            return KIND_CONTENT_LENGTH
        if lowered[:11] == b"connection:":
            tokens = {t.strip(b" \t") for t in rendered[11:-2].lower().split(b",")}
            return KIND_DROP | (KIND_CLOSE if b"close" in tokens else 0)
        return 0
    if first in (b"t", b"T") and rendered[:18].lower() == b"transfer-encoding:":
        value = rendered[18:-2].strip(b" \t").lower()
        if value in (b"chunked", b"identity", b""):
            return KIND_DROP  # the core frames the body itself (length or chunked)
        raise InvalidHeader(
            f"Transfer-Encoding {value.decode('latin-1')!r} cannot be sent: the core frames "
            "responses itself (Content-Length or chunked); compress with Content-Encoding"
        )
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
