"""Request bodies from ``data=`` and ``files=``: form-urlencoded and multipart/form-data.

``files`` is a mapping (or a list of pairs, for repeated names) of field name to one of:

    bytes or str                      content; the filename is the field name
    a binary file object              content read from it; filename = basename of .name
    (filename, content)               content is bytes, str or a file object
    (filename, content, content_type)

A missing content type is guessed from the filename (``mimetypes``), else
``application/octet-stream``.  ``data`` fields go first, as text parts.  Names and
filenames are quoted as the HTML standard does for form submission: ``"`` becomes
``%22`` and CR/LF become ``%0D``/``%0A``.  The boundary is random and checked not to occur
in any part.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Mapping
from typing import Any, Union
from urllib.parse import urlencode

from ._errors import InvalidRequest

__all__ = ["encode_form", "encode_multipart"]

FileValue = Any
Pairs = Union[Mapping, Iterable]  # type: ignore[type-arg]


def _pairs(values: Pairs) -> list[tuple[str, Any]]:
    items = values.items() if isinstance(values, Mapping) else values
    out = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise InvalidRequest(f"expected (name, value) pairs, got {item!r}") from None
        out.append((str(name), value))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def encode_form(data: Pairs) -> bytes:
    """``application/x-www-form-urlencoded``; a list value repeats the field."""
    fields: list[tuple[str, str]] = []
    for name, value in _pairs(data):
        values = value if isinstance(value, (list, tuple)) else [value]
        fields.extend((name, _text(v)) for v in values)
    return urlencode(fields).encode("ascii")


def _quote(text: str) -> str:
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _content(value: Any, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raise InvalidRequest(
        f"file {name!r}: expected bytes, str, a file object or a (filename, content"
        f"[, content_type]) tuple, got {type(value).__name__}"
    )


def _file_part(name: str, value: FileValue) -> tuple[str, bytes, str]:
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 3:
            raise InvalidRequest(f"file {name!r}: a tuple must be (filename, content[, type])")
        filename = str(value[0])
        content = _content(value[1], name)
        content_type = value[2] if len(value) == 3 else None
    else:
        path = getattr(value, "name", None)
        filename = os.path.basename(path) if isinstance(path, str) and path else name
        content = _content(value, name)
        content_type = None
    if not content_type:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return filename, content, content_type


def encode_multipart(data: Any, files: Pairs, boundary: str = "") -> tuple[bytes, str]:
    """Return (body, Content-Type header value) for ``multipart/form-data``."""
    parts: list[tuple[bytes, bytes]] = []
    if data is not None:
        if not isinstance(data, (Mapping, list, tuple)):
            raise InvalidRequest("data= must be a mapping of fields when files= is given")
        for name, value in _pairs(data):
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                head = f'Content-Disposition: form-data; name="{_quote(name)}"\r\n'
                parts.append((head.encode("utf-8"), _text(item).encode("utf-8")))
    for name, value in _pairs(files):
        filename, content, content_type = _file_part(name, value)
        head = (
            f'Content-Disposition: form-data; name="{_quote(name)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n'
        )
        parts.append((head.encode("utf-8"), content))
    if not boundary:
        boundary = os.urandom(16).hex()
        while any(boundary.encode() in body for _, body in parts):
            boundary = os.urandom(16).hex()
    marker = b"--" + boundary.encode("ascii")
    out: list[bytes] = []
    for head_bytes, body in parts:
        out += [marker, b"\r\n", head_bytes, b"\r\n", body, b"\r\n"]
    out += [marker, b"--\r\n"]
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
