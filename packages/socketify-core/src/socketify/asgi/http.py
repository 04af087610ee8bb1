"""One ASGI HTTP request/response cycle over an AppResponse handle.

Theory of operation
-------------------
``receive()`` hands out the body the core delivered through ``on_data``.  A chunk that
arrives while the application has not asked for it is kept and the connection is paused
(``res.pause()``: the core stops reading the socket), so a slow consumer never makes us
buffer more than what one read brought in; ``receive()`` resumes reading when it takes the
chunk.  Once the body is consumed, ``receive()`` waits for the client to go away (or for
the response to complete) and returns ``http.disconnect``.

``send()`` keeps the status and headers of ``http.response.start`` in the response (not
sent yet), so a one-shot response leaves in a single ``end()``: head and body in one C call
with the core adding Content-Length.  ``more_body`` chunks are written as they come
(chunked unless the application set Content-Length); when the core answers SC_EAGAIN the
socket is past backpressure and ``send()`` waits for ``on_writable``.
``http.response.pathsend`` and ``http.response.zerocopysend`` hand a descriptor to the core
(``res.send_fd``; a duplicate for zerocopysend, the app keeps its file): ``sendfile(2)`` on a
plain socket, pread + the TLS layer's write in bounded pieces otherwise; ``send()`` returns
once the file has left.

Protocol misuse raises ASGIProtocolError (a RuntimeError) in the application; ``send()``
after the client left raises ClientDisconnected (an OSError, ASGI spec 2.4).
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING, Any, Optional

from .._native import lib
from ..errors import ASGIProtocolError, ClientDisconnected
from ..headers import header_kind, render_header
from ..response import DONE, HAS_CONTENT_LENGTH, SC_EAGAIN, STREAMING, _write, head_flags
from ..status import _RENDERED as _STATUS_LINES
from ..status import render_status

if TYPE_CHECKING:
    from ..response import AppResponse

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_end_trailers = lib.sc_res_end_trailers


def message_type(message: Any) -> str:
    """The ``type`` of a message an app sent, or a clear error for anything else."""
    try:
        return str(message["type"])
    except (TypeError, KeyError):
        raise ASGIProtocolError(
            f"an ASGI message must be a dict with a 'type': {message!r}"
        ) from None


async def wait(cycle: Any, res: Any, track: bool) -> None:
    """Wait on a new ``cycle.waiter`` until the core resolves it; with ``track`` it is
    cancelled when the client goes away (a cancellation then just ends the wait)."""
    waiter = res._rt.aio().create_future()
    cycle.waiter = waiter
    if track:
        res._track(waiter)
    try:
        await waiter
    except asyncio.CancelledError:
        if not res.aborted:
            raise


class HTTPCycle:
    __slots__ = (
        "body_done",
        "chunks",
        "complete",
        "open",
        "paused",
        "res",
        "started",
        "trailers",
        "waiter",
        "wants_body",
    )

    def __init__(self, res: AppResponse, has_body: int) -> None:
        # PERF: nine slot stores; the body machinery is wired only when there is a body.
        self.res = res
        self.started = False
        self.complete = False
        self.open = False  # started, not complete, no trailers: the body's fast path
        self.chunks: Optional[list[bytes]] = None
        self.body_done = not has_body
        self.paused = False
        self.waiter: Optional[asyncio.Future[Any]] = None
        self.wants_body = True
        self.trailers: Optional[list[Any]] = None  # with trailers: the lines so far
        if has_body:  # the dispatch routes the response's body to _on_body
            self.chunks = []

    # ---- request body --------------------------------------------------------------------
    def _on_body(self, res: AppResponse, chunk: bytes, is_end: bool) -> None:
        chunks = self.chunks
        if chunks is None:  # the response completed: nobody will read this
            return
        if chunk:
            chunks.append(chunk)
        if is_end:
            self.body_done = True
        elif not self.paused:
            self.paused = True
            res.pause()
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def receive(self) -> dict[str, Any]:
        while True:
            res = self.res
            if res.aborted or (self.complete and not self.wants_body):
                return {"type": "http.disconnect"}
            chunks = self.chunks
            if chunks:
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                if self.paused:
                    self.paused = False
                    res.resume()
                done = self.body_done
                if done:
                    self.wants_body = False
                return {"type": "http.request", "body": body, "more_body": not done}
            if self.body_done and self.wants_body:
                self.wants_body = False
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.wants_body:
                res._continue_if_expected()  # the app asks for the body: let it come
            await wait(self, res, track=res._state != DONE)

    # ---- response ------------------------------------------------------------------------
    async def send(self, message: Any) -> None:
        try:
            kind = message["type"]
        except (TypeError, KeyError):
            kind = message_type(message)  # raises the clear error
        res = self.res
        if kind == "http.response.body":
            if not self.open or res.aborted:  # PERF: one test for the common case
                self._check_body(res)
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = _body_bytes(body)
            if message.get("more_body", False):
                if body or res._state != STREAMING:
                    await self._write(body)
                return
            trailers = self.trailers
            if trailers is not None:  # the response ends with http.response.trailers
                if body or res._state != STREAMING:
                    await self._write(body)
                trailers.append(_BODY_DONE)
                return
            # PERF: _finish() inlined (the last body of nearly every response)
            self.open = False
            self.complete = True
            self.chunks = None
            if self.waiter is not None:
                self._wake()
            res.end(body)
            return
        if kind == "http.response.start":
            if self.started:
                raise ASGIProtocolError("http.response.start sent twice")
            if res.aborted:
                raise ClientDisconnected("the client went away")
            status = message["status"]
            if type(status) is not int or not 200 <= status <= 599:
                _bad_status(status)
            res._status = _STATUS_LINES.get(status) or render_status(status)
            headers = message.get("headers", ())
            kind = type(headers)
            block = None
            if kind is list or kind is tuple:
                try:
                    key: Any = tuple(headers)
                    block = _BLOCKS.get(key)
                except TypeError:  # [name, value] lists: rendered one by one below
                    key = None
            if block is None:
                write_header = res.write_header
                for name, value in headers:
                    write_header(name, value)
                if kind is list or kind is tuple:
                    _remember_block(key, res)
            else:
                # PERF: the known lines join the status line (AppResponse._head() then
                # returns it as it is: no list, no join)
                lines, hflags = block
                if lines:
                    res._status += lines
                res._hflags = hflags
            if message.get("trailers", False):
                self.trailers = []
            else:
                self.open = True
            self.started = True
            return
        if kind == "http.response.pathsend":
            await self._pathsend(message)
            return
        if kind == "http.response.zerocopysend":
            await self._zerocopysend(message)
            return
        if kind == "http.response.trailers":
            self._send_trailers(message)
            return
        raise ASGIProtocolError(f"unexpected ASGI message type {kind!r} for an HTTP connection")

    def _check_body(self, res: AppResponse) -> None:
        """http.response.body outside the open body (``self.open``): fine while the body of
        a response with trailers goes on, else the clear error."""
        if not self.started:
            raise ASGIProtocolError("http.response.body sent before http.response.start")
        if self.complete:
            raise ASGIProtocolError("http.response.body sent after the response completed")
        if res.aborted:
            raise ClientDisconnected("the client went away")
        if self.trailers:
            raise ASGIProtocolError(
                "http.response.body sent after the last body (send http.response.trailers)"
            )

    def _send_trailers(self, message: Any) -> None:
        """http.response.trailers: lines gather until ``more_trailers`` is false, then the
        core writes them after the last chunk (dropped where the response is not chunked:
        Content-Length set by the app, an HTTP/1.0 client, HEAD)."""
        trailers = self.trailers
        if trailers is None:
            raise ASGIProtocolError(
                "http.response.trailers sent without 'trailers': True in http.response.start"
            )
        if self.complete:
            raise ASGIProtocolError("http.response.trailers sent after the response completed")
        if not trailers or trailers[0] is not _BODY_DONE:
            raise ASGIProtocolError(
                "http.response.trailers sent before the body ended (more_body False)"
            )
        res = self.res
        if res.aborted:
            raise ClientDisconnected("the client went away")
        for name, value in message.get("headers", ()):
            line = render_header(name, value)
            if header_kind(line) or _forbidden_trailer(line):
                raise ASGIProtocolError(
                    f"{bytes(name)!r} cannot be sent as a trailer (framing, routing and "
                    "Content-* fields belong in the head)"
                )
            trailers.append(line)
        if message.get("more_trailers", False):
            return
        fields = b"".join(trailers[1:])
        self._finish()
        rc = _end_trailers(res._rt.native, res._h, fields, len(fields))
        res._finished(rc)
        if rc < 0 and rc != SC_EAGAIN:
            res._fail(rc)

    def _finish(self) -> None:
        self.open = False
        self.complete = True
        self.chunks = None
        if self.waiter is not None:  # PERF: a receive() waiting for the disconnect
            self._wake()

    async def _write(self, body: bytes) -> None:
        """Stream one chunk; wait for drain when the core is past backpressure."""
        res = self.res
        flags = head_flags(res._hflags)
        head = res._head() if res._state == 0 else b""
        res._state = STREAMING
        rc = _write(res._rt.native, res._h, head, len(head), body, len(body), flags)
        if rc == SC_EAGAIN:
            await self._drain()
        elif rc < 0:
            res._fail(rc)
            raise ClientDisconnected("the client went away")

    async def _drain(self) -> None:
        res = self.res
        future = res._rt.aio().create_future()
        res._track(future)

        def writable(_res: AppResponse, _offset: int) -> bool:
            if not future.done():
                future.set_result(None)
            return True

        res.on_writable(writable)
        try:
            await future
        except asyncio.CancelledError:
            if res.aborted:
                raise ClientDisconnected("the client went away") from None
            raise

    # ---- file extensions (sent by the core from the descriptor, with backpressure) -------
    def _check_file_send(self, kind: str) -> None:
        if not self.started:
            raise ASGIProtocolError(f"{kind} sent before http.response.start")
        if self.complete:
            raise ASGIProtocolError(f"{kind} sent after the response completed")
        if self.trailers:
            raise ASGIProtocolError(f"{kind} sent after the last body (send the trailers)")
        if self.res.aborted:
            raise ClientDisconnected("the client went away")

    def _file_was_last(self) -> None:
        """The file ended the body: end the response, or wait for the trailers the app
        promised (a response framed by Content-Length cannot carry them: the core drops
        them when they come)."""
        trailers = self.trailers
        if trailers is not None:
            trailers.append(_BODY_DONE)
            return
        self._finish()
        self.res.end(b"")

    def _set_length(self, size: int) -> None:
        res = self.res
        if res._state == 0 and not res._hflags & HAS_CONTENT_LENGTH:
            res.write_header(b"Content-Length", size)

    async def _pathsend(self, message: Any) -> None:
        self._check_file_send("http.response.pathsend")
        path = message.get("path")
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise ASGIProtocolError(f"http.response.pathsend needs a path, not {path!r}")
        fd = os.open(path, _OPEN_FLAGS)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ASGIProtocolError(f"http.response.pathsend needs a regular file: {path!r}")
        except BaseException:
            os.close(fd)
            raise
        self._set_length(info.st_size)
        await self._send_file(fd, 0, info.st_size)  # the core owns fd from here
        self._file_was_last()

    async def _zerocopysend(self, message: Any) -> None:
        self._check_file_send("http.response.zerocopysend")
        file = message.get("file")
        try:
            fd = file.fileno()
        except Exception:
            raise ASGIProtocolError(
                f"http.response.zerocopysend needs a file with fileno(), not {file!r}"
            ) from None
        offset = message.get("offset")
        count = message.get("count")
        for name, value in (("offset", offset), ("count", count)):
            if value is not None and (type(value) is not int or value < 0):
                raise ASGIProtocolError(
                    f"http.response.zerocopysend {name} must be an int >= 0, not {value!r}"
                )
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ASGIProtocolError(f"http.response.zerocopysend needs a regular file: {file!r}")
        position = os.lseek(fd, 0, os.SEEK_CUR) if offset is None else offset
        if count is None:
            count = max(0, info.st_size - position)
        more = bool(message.get("more_body", False))
        if not more:
            self._set_length(count)
        await self._send_file(os.dup(fd), position, count)
        if offset is None:
            os.lseek(fd, position + count, os.SEEK_SET)
        if not more:
            self._file_was_last()

    async def _send_file(self, fd: int, offset: int, count: int) -> None:
        """The core sends it (sendfile(2), or pread + TLS in bounded pieces) and owns fd."""
        if not await self.res.send_fd(fd, offset, count, end=False):
            raise ClientDisconnected("the client went away")


_BODY_DONE: Any = object()  # marks, in HTTPCycle.trailers, that the last body chunk was sent
# Fields a trailer must not carry (RFC 9110 6.5.1): framing, routing, authentication,
# request modifiers and the representation's own metadata; checked by lower-cased prefix.
_NOT_TRAILERS = (
    b"authorization:",
    b"cache-control:",
    b"content-",
    b"expect:",
    b"host:",
    b"max-forwards:",
    b"pragma:",
    b"range:",
    b"set-cookie:",
    b"te:",
    b"trailer:",
    b"www-authenticate:",
    b"proxy-",
    b"age:",
    b"expires:",
    b"date:",
    b"location:",
    b"retry-after:",
    b"vary:",
    b"warning:",
)


# PERF: apps answer with the same few header lists again and again (a constant, or the same
# content type and length): the rendered lines and their framing bits are kept, keyed by the
# tuple of (name, value) pairs.  Only all-bytes pairs are kept, so a hit means pairs equal to
# bytes ones, which render alike and were checked when kept.  Bounded like the header
# line cache: once full, no more are kept (a list whose Content-Length varies per response
# would otherwise clear it again and again, each miss paying for a join and an insert).
_BLOCKS: dict[tuple[Any, ...], tuple[bytes, int]] = {}
_BLOCKS_MAX = 512


def _remember_block(key: Any, res: AppResponse) -> None:
    if key is None or len(_BLOCKS) >= _BLOCKS_MAX:
        return
    for pair in key:
        if type(pair) is not tuple or len(pair) != 2:
            return
        name, value = pair
        if type(name) is not bytes or type(value) is not bytes:
            return
    headers = res._headers
    _BLOCKS[key] = (b"".join(headers) if headers else b"", res._hflags)


def _forbidden_trailer(line: bytes) -> bool:
    return line[:20].lower().startswith(_NOT_TRAILERS)


def _bad_status(status: Any) -> None:
    if type(status) is not int or not 100 <= status <= 999:
        raise ASGIProtocolError(f"http.response.start status must be an int, not {status!r}")
    raise ASGIProtocolError(f"http.response.start cannot send {status}: use 200-599")


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    raise ASGIProtocolError(f"http.response.body 'body' must be bytes, not {type(body).__name__}")
