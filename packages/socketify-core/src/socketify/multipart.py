"""A streaming ``multipart/form-data`` parser (RFC 7578 on RFC 2046 framing).

Theory of operation
-------------------
The body is a preamble, parts separated by the *delimiter* ``CRLF "--" boundary``, and a
close delimiter ``CRLF "--" boundary "--"`` followed by an ignored epilogue.  The first
delimiter may start the body with no CRLF before it, so the parser starts with a virtual
``b"\\r\\n"`` in its buffer and every delimiter looks the same.  ``feed(chunk)`` walks this
state table, as far as the bytes it has allow::

    PREAMBLE --delimiter--> AFTER_DELIMITER --"--"-------------------------> DONE (epilogue)
                              |  --[SP/HT]* CRLF--> HEADERS --CRLF CRLF--> BODY --delimiter--+
                              ^--------------------------------------------------------------+

BODY searches for the delimiter with ``bytes.find`` (PERF: C speed, no per-byte Python).  When
it is not in the buffer, everything before the last possible delimiter prefix (from the last
``\\r`` within ``len(delimiter) - 1`` bytes of the end) goes to the part at once, so a
delimiter split across chunks is found and the buffer never holds more than one delimiter's
worth of a body.  HEADERS waits for ``CRLF CRLF``, bounded by ``max_header_size``.

Field parts (no ``filename`` parameter) collect in memory up to ``max_field_size`` and are
decoded (the part's ``charset`` or the parser's ``encoding``); file parts go to a
``SpooledTemporaryFile`` that moves to disk past ``spool_size``.  Every limit is a keyword
with a safe default (``DEFAULT_LIMITS``).

Errors (each carries the HTTP status it maps to in ``status_hint``, also as ``status``)::

    MultipartError (SocketifyError, ValueError)   400  malformed framing, undecodable field
    ├── InvalidContentType                        400  not multipart/form-data, bad boundary
    ├── TruncatedBody                             400  the body ended before the close delimiter
    ├── InvalidPartHeaders                        400  no/bad Content-Disposition, bad header line
    └── LimitExceeded                             413  a limit (named in ``limit``) was passed

``await parse_form(res, req)`` wires the parser to ``res.on_data`` and returns a FormData.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from tempfile import SpooledTemporaryFile
from typing import IO, Any, Optional, Union
from urllib.parse import unquote

from .errors import (  # noqa: F401 (re-exported: socketify.multipart.MultipartError...)
    InvalidContentType,
    InvalidPartHeaders,
    LimitExceeded,
    MultipartError,
    SocketifyError,
    TruncatedBody,
)

__all__ = [
    "DEFAULT_LIMITS",
    "FormData",
    "InvalidContentType",
    "InvalidPartHeaders",
    "LimitExceeded",
    "MultipartError",
    "MultipartParser",
    "TruncatedBody",
    "UploadFile",
    "parse_boundary",
    "parse_form",
]


# ---- errors ------------------------------------------------------------------------------
# ---- limits ------------------------------------------------------------------------------
DEFAULT_LIMITS: dict[str, int] = {
    "max_parts": 1000,  # fields + files
    "max_field_size": 1024 * 1024,  # one non-file part, kept in memory
    "max_header_size": 16 * 1024,  # the header block of one part
    "max_total_size": 64 * 1024 * 1024,  # every byte of the body, preamble and epilogue too
    "spool_size": 1024 * 1024,  # file parts above this move from memory to a temp file
}


def _limits(given: dict[str, Any]) -> dict[str, int]:
    unknown = sorted(set(given) - set(DEFAULT_LIMITS))
    if unknown:
        raise TypeError(
            f"unknown multipart limit {unknown[0]!r} (known: {', '.join(DEFAULT_LIMITS)})"
        )
    resolved = dict(DEFAULT_LIMITS)
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"multipart limit {name!r} must be an int >= 0, not {value!r}")
        resolved[name] = value
    return resolved


# ---- header parameters -------------------------------------------------------------------
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PARAM = re.compile(
    r"""\s*;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;"\s]*)\s*""", re.DOTALL
)
_ESCAPE = re.compile(r"\\([\\\"])")
# RFC 2046 bchars; a space may not end the boundary.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"'`` -> ``("form-data", {"name": "a"})``; ValueError if bad.

    Parameter names are lower-cased; quoted values lose their quotes and ``\\"``/``\\\\``
    escapes; a repeated parameter is an error (ambiguous).
    """
    head = value.split(";", 1)[0]
    params: dict[str, str] = {}
    pos = len(head)
    while pos < len(value):
        if not value[pos:].strip(" \t;"):
            break  # trailing ";" or whitespace
        found = _PARAM.match(value, pos)
        if found is None:
            raise ValueError(f"malformed parameters in {value!r}")
        name = found.group(1).lower()
        raw = found.group(2)
        if raw[:1] == '"':
            raw = _ESCAPE.sub(r"\1", raw[1:-1])
        if name in params:
            raise ValueError(f"parameter {name!r} repeated in {value!r}")
        params[name] = raw
        pos = found.end()
    return head.strip().lower(), params


def parse_boundary(content_type: Union[str, bytes, None]) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type (InvalidContentType if none)."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if not content_type:
        raise InvalidContentType("expected Content-Type: multipart/form-data; boundary=...")
    try:
        kind, params = parse_params(content_type)
    except ValueError as exc:
        raise InvalidContentType(str(exc)) from None
    if kind != "multipart/form-data":
        raise InvalidContentType(f"expected multipart/form-data, got {kind!r}")
    boundary = params.get("boundary")
    if boundary is None:
        raise InvalidContentType("multipart/form-data without a boundary parameter")
    if not _BOUNDARY.fullmatch(boundary):
        raise InvalidContentType(f"invalid multipart boundary {boundary!r} (RFC 2046)")
    return boundary.encode("ascii")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")  # browsers send UTF-8 names raw
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            raise InvalidPartHeaders("obsolete line folding in a part header")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise InvalidPartHeaders(f"malformed part header line {line[:80]!r}")
        key = name.decode("ascii").lower()
        text = _text(value.strip(b" \t"))
        if key in headers:
            if key in ("content-disposition", "content-type"):
                raise InvalidPartHeaders(f"repeated {key} in one part")
            text = headers[key] + ", " + text
        headers[key] = text
    return headers


def _disposition(headers: dict[str, str]) -> tuple[str, Optional[str]]:
    """(name, filename or None) from a part's Content-Disposition."""
    value = headers.get("content-disposition")
    if value is None:
        raise InvalidPartHeaders("a part has no Content-Disposition header")
    try:
        kind, params = parse_params(value)
    except ValueError as exc:
        raise InvalidPartHeaders(f"bad Content-Disposition: {exc}") from None
    if kind != "form-data":
        raise InvalidPartHeaders(f"Content-Disposition must be form-data, not {kind!r}")
    name = params.get("name")
    if name is None:
        raise InvalidPartHeaders("Content-Disposition has no name parameter")
    filename = params.get("filename")
    extended = params.get("filename*")  # RFC 5987: charset'lang'percent-encoded
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            filename = unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            raise InvalidPartHeaders(f"bad filename* parameter {extended!r}") from None
    return name, filename


def _charset(content_type: Optional[str], default: str) -> str:
    """A text part's ``charset`` parameter, else ``default``."""
    if content_type is None:
        return default
    try:
        return parse_params(content_type)[1].get("charset", default)
    except ValueError:
        return default


# ---- results -----------------------------------------------------------------------------
class UploadFile:
    """One uploaded file part.  ``filename`` is what the client sent: never trust it as a
    path.  The data is in ``file`` (memory up to ``spool_size``, then a temp file)."""

    __slots__ = ("content_type", "file", "filename", "headers", "name", "size")

    def __init__(self, name: str, filename: str, headers: dict[str, str], file: IO[bytes]) -> None:
        self.name = name
        self.filename = filename
        self.headers = headers
        self.content_type = headers.get("content-type", "text/plain")  # RFC 7578 4.4
        self.file = file
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Read from the current position (the whole content right after parsing)."""
        return self.file.read(size)

    def seek(self, offset: int) -> int:
        return self.file.seek(offset)

    def save(self, path: Union[str, os.PathLike[str]], chunk_size: int = 64 * 1024) -> int:
        """Copy the whole content to ``path`` in chunks; returns the bytes written."""
        self.file.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(self.file, out, chunk_size)
        self.file.seek(0)
        return self.size

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadFile {self.name}={self.filename!r} {self.content_type} {self.size}B>"


class FormData:
    """Fields and files of a form, each name to the list of its values in body order."""

    __slots__ = ("fields", "files")

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.files: dict[str, list[UploadFile]] = {}

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of field ``name``."""
        values = self.fields.get(name)
        return values[0] if values else default

    def get_file(self, name: str) -> Optional[UploadFile]:
        """The first file of ``name``."""
        values = self.files.get(name)
        return values[0] if values else None

    def close(self) -> None:
        """Close every file (temp files are deleted)."""
        for uploads in self.files.values():
            for upload in uploads:
                upload.close()

    def __enter__(self) -> FormData:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FormData fields={sorted(self.fields)} files={sorted(self.files)}>"


# ---- the parser --------------------------------------------------------------------------
PREAMBLE, AFTER_DELIMITER, HEADERS, BODY, DONE, FAILED = range(6)
_PADDING_MAX = 256  # transport padding (SP/HT) allowed after a delimiter


class MultipartParser:
    """Push parser: ``feed(chunk)`` as bytes arrive, ``close()`` -> FormData at the end.

    Any error closes the temp files and leaves the parser FAILED (later feeds raise)."""

    __slots__ = (
        "_buf",
        "_charset",
        "_delim",
        "_encoding",
        "_field",
        "_limits",
        "_name",
        "_state",
        "_tmp_dir",
        "_total",
        "_upload",
        "form",
        "parts",
    )

    def __init__(
        self,
        boundary: Union[bytes, str],
        encoding: str = "utf-8",
        tmp_dir: Optional[str] = None,
        **limits: int,
    ) -> None:
        if isinstance(boundary, str):
            boundary = boundary.encode("ascii")
        if not boundary:
            raise InvalidContentType("empty multipart boundary")
        self._delim = b"\r\n--" + boundary
        self._buf = b"\r\n"  # the virtual CRLF before the first delimiter
        self._state = PREAMBLE
        self._limits = _limits(limits)
        self._encoding = encoding
        self._charset = encoding
        self._tmp_dir = tmp_dir
        self._total = 0
        self._name = ""
        self._field: Optional[bytearray] = None
        self._upload: Optional[UploadFile] = None
        self.form = FormData()
        self.parts = 0

    @classmethod
    def from_content_type(
        cls, content_type: Union[str, bytes, None], **options: Any
    ) -> MultipartParser:
        return cls(parse_boundary(content_type), **options)

    @property
    def done(self) -> bool:
        """True once the close delimiter was seen."""
        return self._state == DONE

    def feed(self, chunk: bytes) -> None:
        """Consume the next body bytes (raises MultipartError on bad input)."""
        state = self._state
        if state == FAILED:
            raise MultipartError("the multipart parser already failed")
        self._total += len(chunk)
        if self._total > self._limits["max_total_size"]:
            self._fail()
            raise LimitExceeded("max_total_size", self._limits["max_total_size"])
        if state == DONE:
            return  # the epilogue is ignored
        # PERF: no concatenation when nothing is pending (the common case in a body).
        data = self._buf + chunk if self._buf else bytes(chunk)
        try:
            pos = self._run(data)
        except BaseException:
            self._fail()
            raise
        self._buf = data[pos:]

    def close(self) -> FormData:
        """The parsed form; TruncatedBody if the close delimiter never came."""
        if self._state != DONE:
            self._fail()
            raise TruncatedBody("the multipart body ended before its close delimiter")
        self._buf = b""
        return self.form

    def abort(self) -> None:
        """Drop everything (closes temp files)."""
        if self._state != FAILED:
            self._fail()

    def _fail(self) -> None:
        self._state = FAILED
        self._buf = b""
        if self._upload is not None:
            self._upload.close()
            self._upload = None
        self.form.close()

    def _run(self, data: bytes) -> int:
        pos = 0
        view = memoryview(data)
        delim = self._delim
        while True:
            state = self._state
            if state == BODY or state == PREAMBLE:
                found = data.find(delim, pos)
                if found >= 0:
                    if state == BODY:
                        if found > pos:
                            self._data(view[pos:found])
                        self._end_part()
                    self._state = AFTER_DELIMITER
                    pos = found + len(delim)
                    continue
                # Keep what may be the start of a delimiter split across chunks.
                keep = data.find(b"\r", max(pos, len(data) - len(delim) + 1))
                cut = len(data) if keep < 0 else keep
                if state == BODY and cut > pos:
                    self._data(view[pos:cut])
                return cut
            if state == AFTER_DELIMITER:
                if len(data) - pos < 2:
                    return pos
                if data[pos : pos + 2] == b"--":
                    self._state = DONE
                    return len(data)
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    if len(data) - pos > _PADDING_MAX:
                        raise MultipartError("a boundary delimiter is not followed by CRLF")
                    return pos
                if data[pos:eol].strip(b" \t"):
                    raise MultipartError("a boundary delimiter is followed by other characters")
                self._state = HEADERS
                pos = eol + 2
                continue
            if state == HEADERS:
                limit = self._limits["max_header_size"]
                if data[pos : pos + 2] == b"\r\n":
                    raise InvalidPartHeaders("a part has no headers (Content-Disposition)")
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    if len(data) - pos > limit:
                        raise LimitExceeded("max_header_size", limit)
                    return pos
                if end - pos > limit:
                    raise LimitExceeded("max_header_size", limit)
                self._begin_part(_part_headers(data[pos:end]))
                self._state = BODY
                pos = end + 4
                continue
            return len(data)  # DONE within this chunk: the rest is epilogue

    def _begin_part(self, headers: dict[str, str]) -> None:
        self.parts += 1
        if self.parts > self._limits["max_parts"]:
            raise LimitExceeded("max_parts", self._limits["max_parts"])
        name, filename = _disposition(headers)
        self._name = name
        if filename is None:
            self._field = bytearray()
            self._upload = None
            self._charset = _charset(headers.get("content-type"), self._encoding)
            return
        self._field = None
        spool = SpooledTemporaryFile(max_size=self._limits["spool_size"], dir=self._tmp_dir)
        self._upload = UploadFile(name, filename, headers, spool)  # type: ignore[arg-type]

    def _data(self, chunk: memoryview) -> None:
        field = self._field
        if field is not None:
            if len(field) + len(chunk) > self._limits["max_field_size"]:
                raise LimitExceeded("max_field_size", self._limits["max_field_size"])
            field += chunk
            return
        upload = self._upload
        if upload is not None:
            upload.file.write(chunk)
            upload.size += len(chunk)

    def _end_part(self) -> None:
        upload = self._upload
        if upload is not None:
            upload.file.seek(0)
            self.form.files.setdefault(upload.name, []).append(upload)
            self._upload = None
            return
        field = self._field
        if field is None:
            return
        self._field = None
        try:
            value = field.decode(self._charset)
        except (UnicodeDecodeError, LookupError) as exc:
            raise MultipartError(f"field {self._name!r} is not valid {self._charset}") from exc
        self.form.fields.setdefault(self._name, []).append(value)


_EXPECT_100 = 8  # SC_REQ_EXPECT_100 in the core's request flags


# ---- the awaitable helper ----------------------------------------------------------------
async def parse_form(
    res: Any,
    req_or_content_type: Any,
    encoding: str = "utf-8",
    tmp_dir: Optional[str] = None,
    **limits: int,
) -> FormData:
    """Read a ``multipart/form-data`` request body through ``res.on_data`` into a FormData.

    ``req_or_content_type`` is the request (its Content-Type is read before the first
    await) or the Content-Type itself.  Raises a MultipartError subclass (``status_hint``
    400 or 413) on bad input, asyncio.CancelledError if the client went away.  A request
    with ``Expect: 100-continue`` gets its ``100 Continue`` here.  Close the
    FormData (or use it as a context manager) to delete temp files early.
    """
    if isinstance(req_or_content_type, (str, bytes)) or req_or_content_type is None:
        content_type = req_or_content_type
    else:
        content_type = req_or_content_type.get_header("content-type")
    parser = MultipartParser.from_content_type(
        content_type, encoding=encoding, tmp_dir=tmp_dir, **limits
    )
    result: asyncio.Future[FormData] = asyncio.get_running_loop().create_future()

    def on_data(res: Any, chunk: bytes, is_end: bool) -> None:
        if result.done():
            return  # failed already: the rest of the body is dropped
        try:
            if chunk:
                parser.feed(chunk)
            if is_end:
                result.set_result(parser.close())
        except Exception as exc:
            parser.abort()
            result.set_exception(exc)

    if getattr(res, "_reqflags", 0) & _EXPECT_100:
        res.write_continue()  # the client waits for this before sending the body
    res.on_data(on_data)
    if not result.done():
        track = getattr(res, "_track", None)
        if track is not None:
            track(result)  # cancelled by the response when the client goes away
    try:
        return await result
    except BaseException:
        parser.abort()
        raise
