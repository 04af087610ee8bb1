"""HTTP/1.1 on the client side: request heads out, responses in.

Theory of operation
-------------------
The TestClient talks to the app through the core's memory transport, so what the core
writes is exactly what a socket would carry.  This module is the client end of that
wire and it is deliberately *strict*: the point of testing through the real C writer is
to catch framing bugs, so anything a lenient client would paper over is an error here.

Requests go out through :func:`render_head` (method, target and fields validated, so a
test cannot smuggle CR/LF into a header by accident) and :func:`encode_chunk` for
streamed bodies (``Transfer-Encoding: chunked``).

Responses come in through :class:`ResponseParser`, an incremental parser fed with
whatever ``conn.read()`` returned.  Its state is the bound method that consumes the next
piece of the buffer (``_read_head``, ``_read_length``, ``_read_chunk_size`` ...); each
returns True when it made progress and False when it needs more bytes.  The framing of
the body is chosen from a table in the order RFC 9112 section 6.3 gives:

    1xx (not 101)        interim response: recorded in ``interim``, the real head follows
    101                  switching protocols: complete; the bytes after the head are
                         ``leftover`` and belong to the new protocol (the WebSocket client
                         will take them from there)
    HEAD request, 204, 304   no body
    Transfer-Encoding    must be exactly ``chunked`` and come without Content-Length
    Content-Length       exactly one, digits only
    neither              the body runs until the server closes the connection

Rejected, with a :class:`ProtocolError` that quotes the bytes: a bad status line, bare CR
or LF, obs-fold, a field name that is not a token, control characters in a value,
duplicate or non-numeric Content-Length, Content-Length together with
Transfer-Encoding, a body framing on 1xx/204, a bad chunk size or a chunk not followed by
CRLF, and an early close.  Bytes the core writes after a complete response are left in
``leftover``; the client treats them as an error unless the protocol switched.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from ._errors import InvalidRequest, ProtocolError

__all__ = ["ResponseHead", "ResponseParser", "encode_chunk", "render_head"]

Fields = list[tuple[str, str]]
# (Content-Length, chunked, Connection tokens, Set-Cookie values) of a head
Framing = tuple[Optional[str], bool, frozenset[str], tuple[str, ...]]

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9]{2}) ([^\x00-\x08\x0a-\x1f\x7f]*)")
BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
HEX = re.compile(r"[0-9A-Fa-f]{1,16}")
DIGITS = re.compile(r"[0-9]{1,19}")

MAX_HEAD = 64 * 1024  # a response head larger than this is a runaway, not a response
MAX_CHUNK_LINE = 4096
LAST_CHUNK = b"0\r\n\r\n"
# PERF: heads parsed before, by their bytes (status line and fields, without the blank
# line): (ResponseHead, HTTP/1.1, framing, keep-alive, body size: see _plain).  A head is never changed once parsed, so
# parsers share them; only heads that parsed cleanly are kept; cleared when full (the Date
# field makes a new head every second).
_HEADS: dict[bytes, tuple[ResponseHead, bool, Framing, bool, int]] = {}
_HEADS_MAX = 256


# ---- requests --------------------------------------------------------------------------


_LINES: dict[tuple[str, str], bytes] = {}
_LINES_MAX = 1024


def render_head(method: str, target: str, fields: list[tuple[str, str | bytes]]) -> bytes:
    """Serialize a request head; raise InvalidRequest for anything not valid on the wire."""
    if not TOKEN.fullmatch(method):
        raise InvalidRequest(f"invalid HTTP method {method!r}")
    if not target or BAD_TARGET.search(target):
        raise InvalidRequest(f"invalid request target {target!r}")
    out = [f"{method} {target} HTTP/1.1\r\n".encode("ascii")]
    lines = _LINES
    for name, value in fields:
        # PERF: tests send the same few fields over and over (Host, User-Agent, Accept...):
        # a checked line is kept, keyed by str pairs only
        key = (name, value) if type(value) is str and type(name) is str else None
        line = lines.get(key) if key is not None else None
        if line is None:
            if not TOKEN.fullmatch(name):
                raise InvalidRequest(f"invalid header name {name!r}")
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            if BAD_VALUE.search(raw.decode("latin-1")):
                raise InvalidRequest(f"invalid characters in the value of header {name!r}: {raw!r}")
            line = name.encode("ascii") + b": " + raw.strip(b" \t") + b"\r\n"
            if key is not None and len(lines) < _LINES_MAX:
                lines[key] = line
        out.append(line)
    out.append(b"\r\n")
    return b"".join(out)


def _plain(head: ResponseHead, http11: bool, framing: Framing) -> tuple[bool, int]:
    """(keep-alive, body size) of a final response framed by Content-Length alone, for the
    one-read path (ResponseParser._whole); size -1 for any other framing."""
    length, chunked, tokens, _ = framing
    keep_alive = ("close" not in tokens) if http11 else ("keep-alive" in tokens)
    status = head.status
    if chunked or length is None or status < 200 or status in (204, 304):
        return keep_alive, -1
    return keep_alive, int(length)


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body (empty data gives nothing)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


# ---- responses -------------------------------------------------------------------------


class ResponseHead:
    """Status line and header fields of one response, as the core wrote them."""

    __slots__ = ("fields", "http_version", "reason", "status")

    def __init__(self, http_version: str, status: int, reason: str, fields: Fields) -> None:
        self.http_version = http_version
        self.status = status
        self.reason = reason
        self.fields = fields  # [(name as written, value)] in order

    def __repr__(self) -> str:
        return f"<ResponseHead {self.http_version} {self.status} {self.reason!r}>"


class ResponseParser:
    """Incremental, strict HTTP/1.1 response parser for one request's answer."""

    __slots__ = (
        "_buf",
        "_eof",
        "_head_request",
        "_pos",
        "_remaining",
        "_step",
        "body_size",
        "chunks",
        "complete",
        "head",
        "interim",
        "keep_alive",
        "set_cookies",
        "trailers",
        "upgraded",
    )

    def __init__(self, head_request: bool = False) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._head_request = head_request
        self._remaining = 0
        self._step: Optional[Callable[[], bool]] = self._read_head
        self.head: Optional[ResponseHead] = None
        self.interim: list[ResponseHead] = []
        self.chunks: list[bytes] = []  # body pieces not yet taken
        self.body_size = 0
        self.trailers: Fields = []
        self.set_cookies: list[str] = []
        self.complete = False
        self.keep_alive = True
        self.upgraded = False

    # -- driving --

    def feed(self, data: bytes) -> None:
        """Add bytes the core wrote and parse as far as they allow."""
        if data:
            if self.head is None and not self._buf and not self.complete and self._whole(data):
                return
            self._buf += data
        step = self._step
        while step is not None and step():
            step = self._step
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def feed_eof(self) -> None:
        """The server closed the connection: finish a close-delimited body or fail."""
        self._eof = True
        self.feed(b"")

    def take_body(self) -> bytes:
        """Body bytes parsed since the last call."""
        chunks = self.chunks
        if not chunks:
            return b""
        self.chunks = []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @property
    def leftover(self) -> bytes:
        """Bytes after the end of the response (only meaningful once complete)."""
        return bytes(self._buf[self._pos :])

    def _finish(self) -> bool:
        self.complete = True
        self._step = None
        return False

    def _emit(self, data: bytes) -> None:
        self.chunks.append(data)
        self.body_size += len(data)

    def _fail(self, message: str, at: int) -> ProtocolError:
        return ProtocolError(message, bytes(self._buf[at : at + 200]))

    def _whole(self, data: bytes) -> bool:
        """PERF: a whole response in one read, with a head parsed before (the same bytes:
        a test asks the same thing again and again) and a Content-Length body: no buffer,
        no parsing.  False when that is not the case (the general path takes it)."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        known = _HEADS.get(data[:end])
        if known is None:
            return False
        head, _, framing, keep_alive, size = known
        start = end + 4
        stop = start + size
        if size < 0 or len(data) < stop or self._head_request:
            return False  # not a plain Content-Length body, not all here, or HEAD
        # what _apply() and _read_length() would do, in one go
        self.head = head
        self.keep_alive = keep_alive
        cookies = framing[3]
        if cookies:
            self.set_cookies.extend(cookies)
        if size:
            self.chunks.append(data[start:stop])
            self.body_size = size
        self.complete = True
        self._step = None
        if len(data) > stop:
            self._buf += data[stop:]
        return True

    # -- head --

    def _read_head(self) -> bool:
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            if len(buf) - pos > MAX_HEAD:
                raise self._fail(f"response head larger than {MAX_HEAD} bytes", pos)
            if self._eof:
                if len(buf) == pos:
                    raise ProtocolError("the server closed the connection without a response")
                raise self._fail("the server closed the connection inside a response head", pos)
            return False
        block = buf[pos:end].decode("latin-1")
        lines = block.split("\r\n")
        if block.count("\r") + block.count("\n") != 2 * (len(lines) - 1):
            raise self._fail("bare CR or LF in the response head", pos)
        found = STATUS_LINE.fullmatch(lines[0])
        if found is None:
            raise self._fail("malformed status line", pos)
        fields = self._parse_fields(lines, 1, pos)
        self._pos = end + 4
        head = ResponseHead("HTTP/1." + found.group(1), int(found.group(2)), found.group(3), fields)
        http11 = found.group(1) == "1"
        framing = self._framing(head, pos)
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[bytes(buf[pos:end])] = (head, http11, framing, *_plain(head, http11, framing))
        return self._apply(head, http11, framing)

    def _parse_fields(self, lines: list[str], first: int, at: int) -> Fields:
        fields: Fields = []
        token, bad = TOKEN.fullmatch, BAD_VALUE.search
        for line in lines[first:]:
            name, colon, value = line.partition(":")
            if not colon or not token(name):
                what = "obs-fold (continuation line)" if line[:1] in (" ", "\t") else "bad field"
                raise self._fail(f"{what} in the response head: {line!r}", at)
            value = value.strip(" \t")
            if bad(value):
                raise self._fail(f"control character in the value of {name!r}", at)
            fields.append((name, value))
        return fields

    def _framing(self, head: ResponseHead, at: int) -> Framing:
        """What a parsed head says about framing (table in the module docstring):
        (Content-Length, chunked, Connection tokens, Set-Cookie values); raises for
        framing no client may accept.  Depends on the head only: kept with it."""
        length: Optional[str] = None
        chunked = False
        connection = ""
        cookies: list[str] = []
        for name, value in head.fields:
            lower = name.lower()
            if lower == "content-length":
                if length is not None:
                    raise self._fail(f"duplicate Content-Length in {head.status} response", at)
                if not DIGITS.fullmatch(value):
                    raise self._fail(f"invalid Content-Length {value!r}", at)
                length = value
            elif lower == "transfer-encoding":
                if chunked or value.lower() != "chunked":
                    raise self._fail(f"unsupported Transfer-Encoding {value!r}", at)
                chunked = True
            elif lower == "connection":
                connection = value.lower()
            elif lower == "set-cookie":
                cookies.append(value)
        status = head.status
        if status < 200:
            if length is not None or chunked:
                raise self._fail(f"{status} response with a body framing header", at)
        else:
            if chunked and length is not None:
                raise self._fail("response has both Content-Length and Transfer-Encoding", at)
            if status == 204 and (length is not None or chunked):
                raise self._fail("204 response with Content-Length or Transfer-Encoding", at)
            if status == 304 and chunked:
                raise self._fail("304 response with Transfer-Encoding", at)
        tokens = frozenset(t.strip() for t in connection.split(",")) if connection else frozenset()
        return (length, chunked, tokens, tuple(cookies))

    def _apply(self, head: ResponseHead, http11: bool, framing: Framing) -> bool:
        """Choose the body framing for a parsed head."""
        length, chunked, tokens, cookies = framing
        if cookies:
            self.set_cookies.extend(cookies)
        status = head.status
        if status < 200:
            if status == 101:
                self.head = head
                self.upgraded = True
                return self._finish()
            self.interim.append(head)
            self.set_cookies.clear()
            return True  # the final head follows
        self.head = head
        self.keep_alive = ("close" not in tokens) if http11 else ("keep-alive" in tokens)
        if self._head_request or status in (204, 304):
            return self._finish()
        if chunked:
            self._step = self._read_chunk_size
        elif length is not None:
            self._remaining = int(length)
            if not self._remaining:
                return self._finish()
            self._step = self._read_length
        else:
            self.keep_alive = False
            self._step = self._read_until_eof
        return True

    # -- bodies --

    def _read_length(self) -> bool:
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if not available:
            if self._eof:
                raise ProtocolError(
                    f"the server closed the connection after {self.body_size} of "
                    f"{self.body_size + self._remaining} body bytes (Content-Length)"
                )
            return False
        take = min(available, self._remaining)
        self._emit(bytes(buf[pos : pos + take]))
        self._pos = pos + take
        self._remaining -= take
        if not self._remaining:
            return self._finish()
        return True

    def _read_until_eof(self) -> bool:
        buf, pos = self._buf, self._pos
        if len(buf) > pos:
            self._emit(bytes(buf[pos:]))
            self._pos = len(buf)
        if self._eof:
            return self._finish()
        return False

    def _read_chunk_size(self) -> bool:
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > MAX_CHUNK_LINE:
                raise self._fail("chunk size line too long", pos)
            if self._eof:
                raise self._fail("the server closed the connection inside a chunked body", pos)
            return False
        line = buf[pos:end].decode("latin-1")
        size, _, extension = line.partition(";")
        if not HEX.fullmatch(size) or BAD_VALUE.search(extension) or "\r" in line:
            raise self._fail("invalid chunk size line", pos)
        self._pos = end + 2
        self._remaining = int(size, 16)
        self._step = self._read_chunk_data if self._remaining else self._read_trailer
        return True

    def _read_chunk_data(self) -> bool:
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if not available:
            if self._eof:
                raise ProtocolError("the server closed the connection inside a chunk")
            return False
        take = min(available, self._remaining)
        self._emit(bytes(buf[pos : pos + take]))
        self._pos = pos + take
        self._remaining -= take
        if not self._remaining:
            self._step = self._read_chunk_end
        return True

    def _read_chunk_end(self) -> bool:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 2:
            if self._eof:
                raise self._fail("the server closed the connection after chunk data", pos)
            return False
        if buf[pos : pos + 2] != b"\r\n":
            raise self._fail("chunk data not followed by CRLF (chunk longer than its size?)", pos)
        self._pos = pos + 2
        self._step = self._read_chunk_size
        return True

    def _read_trailer(self) -> bool:
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > MAX_HEAD:
                raise self._fail("trailer section too large", pos)
            if self._eof:
                raise self._fail("the server closed the connection inside the trailers", pos)
            return False
        line = buf[pos:end].decode("latin-1")
        if "\r" in line or "\n" in line:
            raise self._fail("bare CR or LF in the trailers", pos)
        self._pos = end + 2
        if not line:
            return self._finish()
        self.trailers.extend(self._parse_fields([line], 0, pos))
        return True
