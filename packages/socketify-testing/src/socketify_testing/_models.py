"""What a test holds: Headers, Request and Response.

``Headers`` is a read-only, case-insensitive, multi-valued mapping over the fields as
they were on the wire (``multi_items()`` gives them back in order and original case).
``headers["x"]`` joins repeated fields with ", " (``Set-Cookie`` is the exception a test
cares about: use ``headers.get_list("set-cookie")``).

A ``Response`` is either complete (``content`` is there) or streamed: ``client.stream()``
gives one whose body is pulled from the connection by ``iter_bytes()`` (sync client) or
``aiter_bytes()`` (async client) through a small ``BodySource`` the client provides.
"""

from __future__ import annotations

import codecs
import datetime
import json as jsonlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional, Protocol

from ._errors import HTTPStatusError, StreamError

if TYPE_CHECKING:
    from ._wire import Fields

__all__ = ["BodySource", "Headers", "Request", "Response"]


class Headers(Mapping):  # type: ignore[type-arg]
    """Read-only case-insensitive multi-dict of header fields."""

    __slots__ = ("_index", "_raw")
    _raw: list[tuple[str, str]]

    def __init__(self, fields: Any = None) -> None:
        if fields is None:
            raw: list[tuple[str, str]] = []
        elif type(fields) is list and all(  # PERF: no ABC check for the common list of str pairs
            type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str
            for pair in fields
        ):
            raw = list(fields)
        elif isinstance(fields, Headers):
            raw = list(fields._raw)
        elif isinstance(fields, Mapping):
            raw = [(str(k), str(v)) for k, v in fields.items()]
        else:
            raw = [(str(k), str(v)) for k, v in fields]
        self._raw = raw
        self._index: Optional[dict[str, list[str]]] = None

    @classmethod
    def _of(cls, raw: list[tuple[str, str]]) -> Headers:
        """Over a list of str pairs the caller made and nobody changes (PERF: no checks,
        no copy; Headers never changes its list)."""
        headers = cls.__new__(cls)
        headers._raw = raw
        headers._index = None
        return headers

    def _lookup(self) -> dict[str, list[str]]:
        # PERF: most tests read one or two headers or none: index on first use only.
        index = self._index
        if index is None:
            index = {}
            for name, value in self._raw:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        values = self._lookup()[name.lower()]
        return values[0] if len(values) == 1 else ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def get_list(self, name: str) -> list[str]:
        """Every value of a field, in order (``[]`` when absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """The fields as written: ``[(name, value)]`` in order, original case."""
        return list(self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted((k.lower(), v) for k, v in self._raw) == sorted(
                (k.lower(), v) for k, v in other._raw
            )
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._raw!r})"


class Request:
    """The request as the client sent it (``response.request``)."""

    __slots__ = ("content", "headers", "method", "target", "url")

    def __init__(
        self, method: str, url: str, target: str, headers: Headers, content: Optional[bytes]
    ) -> None:
        self.method = method
        self.url = url
        self.target = target  # path + query, as on the request line
        self.headers = headers
        self.content = content  # None for a streamed (chunked) body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class BodySource(Protocol):
    """How a streamed Response pulls its body; provided by the client."""

    def next_chunk(self) -> Optional[bytes]: ...  # None at the end
    async def anext_chunk(self) -> Optional[bytes]: ...
    def close(self) -> None: ...


class Response:
    """An HTTP response read from the bytes the core wrote."""

    __slots__ = (
        "_content",
        "_parts",
        "_source",
        "cookies",
        "elapsed",
        "headers",
        "history",
        "http_version",
        "interim",
        "reason",
        "request",
        "status_code",
        "trailers",
    )

    def __init__(
        self,
        status_code: int,
        reason: str = "",
        headers: Any = None,
        content: Optional[bytes] = b"",
        *,
        http_version: str = "HTTP/1.1",
        request: Optional[Request] = None,
        elapsed: Optional[datetime.timedelta] = None,
        cookies: Optional[dict[str, str]] = None,
        trailers: Optional[Fields] = None,
        source: Optional[BodySource] = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self._content = content
        self._parts: list[bytes] = []
        self._source = source
        self.http_version = http_version
        self.request = request
        self.elapsed = elapsed if elapsed is not None else datetime.timedelta(0)
        self.cookies: dict[str, str] = cookies if cookies is not None else {}
        self.trailers = Headers(trailers) if trailers else Headers._of([])
        self.history: list[Response] = []
        self.interim: list[tuple[int, str]] = []  # 1xx responses seen before this one

    @classmethod
    def _read(
        cls,
        status_code: int,
        reason: str,
        headers: Headers,
        content: bytes,
        http_version: str,
        request: Request,
        elapsed: datetime.timedelta,
        cookies: dict[str, str],
        trailers: Headers,
    ) -> Response:
        """A complete response as the client read it (PERF: what __init__ does for these
        arguments, without its checks and keywords)."""
        response = cls.__new__(cls)
        response.status_code = status_code
        response.reason = reason
        response.headers = headers
        response._content = content
        response._parts = []
        response._source = None
        response.http_version = http_version
        response.request = request
        response.elapsed = elapsed
        response.cookies = cookies
        response.trailers = trailers
        response.history = []
        response.interim = []
        return response

    # -- body --

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise StreamError(
                "the body of a streamed response was not read: call read() or iterate it"
            )
        return self._content

    @property
    def encoding(self) -> str:
        """The charset of Content-Type when Python knows it, else utf-8."""
        content_type = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"')
                try:
                    return codecs.lookup(charset).name
                except LookupError:
                    break
        return "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def json(self, **kwargs: Any) -> Any:
        return jsonlib.loads(self.content, **kwargs)

    @property
    def url(self) -> str:
        return self.request.url if self.request is not None else ""

    @property
    def reason_phrase(self) -> str:
        return self.reason

    # -- status --

    @property
    def is_informational(self) -> bool:
        return 100 <= self.status_code < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status_code < 400 and "location" in self.headers

    @property
    def is_client_error(self) -> bool:
        return 400 <= self.status_code < 500

    @property
    def is_server_error(self) -> bool:
        return 500 <= self.status_code < 600

    @property
    def is_error(self) -> bool:
        return 400 <= self.status_code < 600

    def raise_for_status(self) -> Response:
        """Return the response for 1xx-3xx; raise HTTPStatusError for 4xx/5xx."""
        if not self.is_error:
            return self
        kind = "Client error" if self.is_client_error else "Server error"
        message = f"{kind} '{self.status_code} {self.reason}' for url '{self.url}'"
        assert self.request is not None
        raise HTTPStatusError(message, request=self.request, response=self)

    # -- streaming --

    @property
    def is_stream_consumed(self) -> bool:
        return self._source is None

    def _sync_source(self) -> BodySource:
        if self._source is None:
            raise StreamError("the response stream was closed before its body was read")
        return self._source

    def iter_bytes(self) -> Iterator[bytes]:
        """Yield body chunks as the core writes them (streamed responses).

        Stopping early leaves the rest for a later iteration; leaving the
        ``with client.stream(...)`` block closes the stream.
        """
        if self._content is not None:
            if self._content:
                yield self._content
            return
        source = self._sync_source()
        while True:
            chunk = source.next_chunk()
            if chunk is None:
                break
            self._parts.append(chunk)
            yield chunk
        self._stream_done()

    def _stream_done(self) -> None:
        self._content = b"".join(self._parts)
        self._parts = []
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def iter_text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        for chunk in self.iter_bytes():
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def iter_lines(self) -> Iterator[str]:
        """Yield text lines as soon as each is complete (split at LF, a CR before it dropped)."""
        pending = ""
        for text in self.iter_text():
            *lines, pending = (pending + text).split("\n")
            for line in lines:
                yield line[:-1] if line.endswith("\r") else line
        if pending:
            yield pending

    def read(self) -> bytes:
        """Read the rest of a streamed body; returns ``content``."""
        for _ in self.iter_bytes():
            pass
        return self.content

    def close(self) -> None:
        """Stop reading a streamed body; the connection is dropped if the body is unread."""
        source, self._source = self._source, None
        if source is not None:
            source.close()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Async counterpart of iter_bytes() for AsyncTestClient responses."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        source = self._sync_source()
        while True:
            chunk = await source.anext_chunk()
            if chunk is None:
                break
            self._parts.append(chunk)
            yield chunk
        self._stream_done()

    async def aiter_text(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        async for chunk in self.aiter_bytes():
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncIterator[str]:
        pending = ""
        async for text in self.aiter_text():
            *lines, pending = (pending + text).split("\n")
            for line in lines:
                yield line[:-1] if line.endswith("\r") else line
        if pending:
            yield pending

    async def aread(self) -> bytes:
        async for _ in self.aiter_bytes():
            pass
        return self.content

    async def aclose(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason}]>"
