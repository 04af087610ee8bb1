"""AppResponse: what a handler writes, rendered once and handed to the core in coarse calls.

Lifecycle of a response (``_state``)::

    FRESH (0) --write()/try_end()--> STREAMING (1) --end()/try_end done--> DONE (2)
      |                                                                      ^
      +------------------------------- end()/send()/redirect() -------------+
      any state --client went away / stale handle / close()--> DONE, aborted=True

* In FRESH, ``write_status``/``write_header`` only collect rendered bytes in Python.  The
  first call that reaches C renders the head once (``b"200 OK\\r\\nName: v\\r\\n..."``) and
  passes head + body in one ``sc_res_write``: one C call per ``end()``.
* In STREAMING the head is gone: a header or status now raises ResponseStateError.
* In DONE every write is a no-op returning ``res``; ``aborted`` tells whether the client left.

Responses that outlive their callback (async handlers, on_data/on_writable users, handlers
that return without ending) are *tracked*: the runtime keeps them by handle so the core's
on_data / on_aborted / on_writable callbacks find them.  A response that ends inside its
callback is never tracked (PERF: no dict traffic on the common path).

Request body: chunks that arrive before anyone registered ``on_data`` are kept in Python
(bounded by ``max_body_size`` in the core) and replayed to the handler once it registers,
so a handler may ``await`` something before reading the body without losing bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from contextvars import Context, copy_context
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qsl

from ._native import ffi, lib
from .cookies import render_set_cookie
from .errors import BodyDecodeError, ResponseStateError, core_error, wrong_thread
from .headers import (
    KIND_CLOSE,
    KIND_CONTENT_LENGTH,
    KIND_CONTENT_TYPE,
    KIND_DROP,
    header_kind,
    pairs,
    render_header,
)
from .status import render_status

if TYPE_CHECKING:
    from .app import App
    from .runtime import Runtime

FRESH, STREAMING, DONE = 0, 1, 2
HAS_CONTENT_TYPE, HAS_CONTENT_LENGTH = KIND_CONTENT_TYPE, KIND_CONTENT_LENGTH
WANTS_CLOSE = KIND_CLOSE  # the handler wrote "Connection: close"

SC_OK = 0
SC_ESTALE = -1
SC_EAGAIN = -5
SC_EIO = -6
SC_ETHREAD = -7
W_END, W_CLOSE, W_HAS_LENGTH, W_NO_BODY = 1, 2, 4, 8
REQ_HAS_BODY = 2
REQ_CHUNKED = 4
_LINES: dict[tuple[Any, Any], tuple[bytes, int]] = {}  # (name, value) -> (line, kind)
_LINES_MAX = 4096
_CACHED = (str, bytes)
REQ_EXPECT_100 = 8

_JSON_TYPE = b"Content-Type: application/json\r\n"
_TEXT_TYPE = b"Content-Type: text/plain\r\n"
_HTML_TYPE = b"Content-Type: text/html; charset=utf-8\r\n"
_TEXT_PLAIN = (b"text/plain", "text/plain")
_NO_ARG = object()

# PERF: module-level references to the C functions save two attribute lookups per call.
_write = lib.sc_res_write
_end = lib.sc_res_end
_try_end = lib.sc_res_try_end
_sendfile = lib.sc_res_sendfile
_batch = lib.sc_loop_batch
_from_buffer = ffi.from_buffer


def _as_buffer(message: Any) -> Any:
    """A bytearray or memoryview handed to C where it lies (PERF: a body view from
    ``on_data(copy=False)`` is echoed without a copy); a view C cannot take as one piece
    of bytes (not contiguous) is copied."""
    try:
        return _from_buffer(message)
    except (TypeError, ValueError, BufferError):
        return bytes(message)


def head_flags(hflags: int) -> int:
    """The write flags the written headers ask for (Content-Length, Connection: close)."""
    flags = W_HAS_LENGTH if hflags & HAS_CONTENT_LENGTH else 0
    if hflags & WANTS_CLOSE:
        flags |= W_CLOSE
    return flags


def _refused(rc: int, call: str) -> BaseException:
    """The error of a call the core refused without doing anything."""
    return wrong_thread(call) if rc == SC_ETHREAD else core_error(rc, "the response")


def _body_taken(_res: Any, _chunk: Any, _is_end: bool) -> None:
    """Stands for an on_data() handler of a finished response: the body stays taken
    (get_data() still refuses) without keeping the handler and what it holds alive."""


def _drop_handlers(ext: _Extras) -> None:
    """A response ended: none of its handlers can run any more (it is untracked).  They
    are dropped so that one holding the response (a closure, a bound method of an object
    that keeps it) makes no reference cycle: both are freed by their reference counts at
    once instead of waiting for the cyclic GC."""
    ext.aborted_handler = None
    ext.writable_handler = None
    ext.context = None  # it may hold a value that leads back to the response
    if ext.data_handler is not None:
        ext.data_handler = _body_taken


def render_line(name: Any, value: Any) -> tuple[bytes, int]:
    """``(line, KIND_* bits)`` of a header, rendered and checked; kept in ``_LINES`` (the
    cache ``write_header`` and WSGI's ``start_response`` look up first) when both parts
    are str or bytes.  Raises InvalidHeader/TypeError on bad input."""
    line = render_header(name, value)
    rendered = (line, header_kind(line))
    if type(value) in _CACHED and type(name) in _CACHED and len(_LINES) < _LINES_MAX:
        _LINES[name, value] = rendered
    return rendered


class _Extras:
    """State only responses that outlive their callback need (allocated on demand)."""

    __slots__ = (
        "aborted_handler",
        "body_done",
        "chunks",
        "context",
        "data_handler",
        "held",
        "views",
        "waiters",
        "writable_handler",
    )

    def __init__(self) -> None:
        self.aborted_handler: Optional[Callable[..., Any]] = None
        self.data_handler: Optional[Callable[..., Any]] = None
        self.writable_handler: Optional[Callable[..., Any]] = None
        self.chunks: list[bytes] = []
        self.body_done = False
        self.held = 0  # body bytes buffered while nobody asked; -1: reading paused for them
        self.views = False  # on_data(copy=False): chunks are memoryviews valid during the call
        self.waiters: list[asyncio.Future[Any]] = []
        # The context the last on_data/on_writable/on_aborted handler was registered in (a
        # copy taken then, as asyncio's call_soon does): the core's later callbacks run the
        # handlers in it, so they see what their request set.  None: no handler was
        # registered through those methods (the adapters' body handlers are set directly and
        # run in no context of their own).  Dropped when the response ends.
        self.context: Optional[Context] = None


class AppResponse:
    __slots__ = (
        "_ext",
        "_fwd",
        "_h",
        "_headers",
        "_hflags",
        "_reqflags",
        "_rt",
        "_state",
        "_status",
        "aborted",
    )
    # (client, scheme) from trusted proxy headers; set only with proxy_headers (runtime.py),
    # read with getattr(self, "_fwd", None)
    _fwd: Optional[tuple[Optional[str], Optional[str]]]

    def __init__(self, rt: Runtime, handle: int, request_flags: int = 0) -> None:
        # PERF: seven slot stores; status/headers stay None until written.
        self._rt = rt
        self._h = handle
        self._reqflags = request_flags
        self._state = FRESH
        self._status: Optional[bytes] = None
        self._headers: Optional[list[bytes]] = None
        self._hflags = 0
        self._ext: Optional[_Extras] = None
        self.aborted = False

    @property
    def app(self) -> App:
        """The App serving this response."""
        return self._rt.app

    # ---- body coercion --------------------------------------------------------------
    def _coerce(self, message: Any) -> bytes:
        """Any message as body bytes (str as UTF-8, None as nothing, objects as JSON)."""
        kind = type(message)
        if kind is bytes:
            return message  # type: ignore[no-any-return]
        if kind is str:
            return message.encode()  # type: ignore[no-any-return]
        if message is None:
            return b""
        return self._body(message)

    def _body(self, message: Any) -> bytes:
        """Bytes for any message that is not str/bytes/None (those are handled inline)."""
        if isinstance(message, (bytes, bytearray, memoryview)):
            return bytes(message)
        if isinstance(message, str):
            return message.encode("utf-8")
        data = self._rt.serializer().dumps(message)
        if self._state == FRESH and not self._hflags & HAS_CONTENT_TYPE:
            headers = self._headers  # PERF: a known line, no header_kind scan
            if headers is None:
                self._headers = [_JSON_TYPE]
            else:
                headers.append(_JSON_TYPE)
            self._hflags |= HAS_CONTENT_TYPE
        return data

    def _head(self) -> bytes:
        status = self._status
        headers = self._headers
        if headers is None:
            return status or b""
        return (status or b"200 OK\r\n") + b"".join(headers)

    def _fail(self, rc: int) -> None:
        if rc == SC_ESTALE or rc == SC_EIO:
            self._mark_aborted()
            return
        ext = self._ext
        if ext is not None and self._state == DONE:
            _drop_handlers(ext)  # ended all the same: a handler holding res makes no cycle
        raise core_error(rc, "the response")

    def _finished(self, rc: int = SC_OK) -> None:
        """Done (``rc``: what the core said to the last write; a failure leaves the
        handlers for ``_fail`` to call)."""
        self._state = DONE
        ext = self._ext
        if ext is not None:
            self._rt.untrack(self)
            if rc >= 0 or rc == SC_EAGAIN:
                _drop_handlers(ext)

    # ---- writing ------------------------------------------------------------------------
    def end(self, message: Any = None, end_connection: bool = False) -> AppResponse:
        """Send ``message`` (str, bytes, None or a JSON-serializable object) and finish."""
        state = self._state
        if state == DONE:
            return self
        # PERF: _coerce() inlined: end() is the one call of nearly every request.
        kind = type(message)
        if kind is str:
            body = message.encode()
        elif kind is bytes:
            body = message
        elif message is None:
            body = b""
        elif kind is memoryview or kind is bytearray:
            body = _as_buffer(message)
        else:
            body = self._body(message)
        hflags = self._hflags
        if (
            not (state or hflags or end_connection)
            and self._headers is None
            and self._status is None
        ):
            # PERF: a fresh response with nothing written (no header, no header flag such as
            # a dropped "Connection: close"): the core's precomputed "200 OK" and this body,
            # in a four-argument crossing.
            rc = _end(self._rt.native, self._h, body, len(body))
        else:
            flags = W_END
            if end_connection:
                flags = W_END | W_CLOSE
            if hflags:
                if hflags & HAS_CONTENT_LENGTH:
                    flags |= W_HAS_LENGTH
                if hflags & WANTS_CLOSE:
                    flags |= W_CLOSE
            head = b"" if state else self._head()
            rc = _write(self._rt.native, self._h, head, len(head), body, len(body), flags)
        if rc < 0 and rc != SC_EAGAIN and rc != SC_ESTALE and rc != SC_EIO:
            # refused (a head the core cannot send, the wrong thread): nothing was sent and
            # the response is still open, so the error's 500 can still answer
            raise _refused(rc, "res.end()")
        self._state = DONE
        ext = self._ext
        if ext is not None:
            self._rt.untrack(self)
        if rc < 0 and rc != SC_EAGAIN:
            self._mark_aborted()  # the client is gone; the abort handler, if any, runs here
        elif ext is not None:
            _drop_handlers(ext)
        return self

    cork_end = end

    def end_without_body(self, end_connection: bool = False) -> AppResponse:
        """Finish with no body: for 1xx/204/304, or with your own Content-Length (HEAD)."""
        if self._state == DONE:
            return self
        status = self._status
        bodiless = status is not None and (status[:1] == b"1" or status[:3] in (b"204", b"304"))
        if not bodiless and not self._hflags & HAS_CONTENT_LENGTH and self._state == FRESH:
            # Without a length a keep-alive client cannot tell where this response ends:
            # send an explicit empty body (Content-Length: 0) instead.
            return self.end(None, end_connection)
        flags = W_END | W_NO_BODY | (W_CLOSE if end_connection else 0)
        if self._hflags & HAS_CONTENT_LENGTH:
            flags |= W_HAS_LENGTH
        if self._hflags & WANTS_CLOSE:
            flags |= W_CLOSE
        head = b"" if self._state else self._head()
        rc = _write(self._rt.native, self._h, head, len(head), b"", 0, flags)
        if rc < 0 and rc != SC_EAGAIN and rc != SC_ESTALE and rc != SC_EIO:
            raise _refused(rc, "res.end_without_body()")  # still open (end())
        self._finished(rc)
        if rc < 0 and rc != SC_EAGAIN:
            self._mark_aborted()
        return self

    def write(self, message: Any) -> AppResponse:
        """Send a body chunk without ending (chunked unless Content-Length was written)."""
        state = self._state
        if state == DONE:
            return self
        body = self._coerce(message)
        flags = head_flags(self._hflags)
        head = b"" if state else self._head()
        rc = _write(self._rt.native, self._h, head, len(head), body, len(body), flags)
        if rc == SC_ETHREAD:
            raise wrong_thread("res.write()")
        self._state = STREAMING
        if rc < 0 and rc != SC_EAGAIN:
            self._fail(rc)
        return self

    def send(
        self,
        message: Any = b"",
        content_type: Any = b"text/plain",
        status: Any = b"200 OK",
        headers: Any = None,
        end_connection: bool = False,
    ) -> AppResponse:
        """Status, headers, Content-Type and body in one call; a non-text message is JSON."""
        if self._state == DONE:
            return self
        if status is not None:
            self.write_status(status)
        if headers is not None:
            self.write_headers(headers)
        if message is None or isinstance(message, (bytes, bytearray, memoryview, str)):
            body = self._coerce(message)
        else:
            body = self._rt.serializer().dumps(message)
            if content_type in _TEXT_PLAIN:
                content_type = b"application/json"
        if content_type and not self._hflags & HAS_CONTENT_TYPE:
            if content_type == b"text/plain":
                self._add_header(_TEXT_TYPE)
            else:
                self.write_header(b"Content-Type", content_type)
        return self.end(body, end_connection)

    cork_send = send

    def cork(self, callback: Callable[[AppResponse], Any]) -> AppResponse:
        """Run ``callback(res)``; everything it writes leaves in one write, after it."""
        # Inside a core callback everything is corked by the batch already; from a task or
        # a call handed to the loop, the callback runs inside a batch of the loop's own
        # (sc_loop_batch), flushed once when it closes.  Not sc_res_cork: a callback that
        # ends the response makes its handle stale, so a per-response uncork would fail.
        native = self._rt.native
        if native is None or self._state == DONE:
            callback(self)
            return self
        _batch(native, 1)
        try:
            callback(self)
        finally:
            _batch(native, 0)
        return self

    def write_continue(self) -> AppResponse:
        """Send ``HTTP/1.1 100 Continue`` (before reading a body the client is holding)."""
        if self._state == DONE:
            return self
        self._reqflags &= ~REQ_EXPECT_100  # answered: never twice
        rc = lib.sc_res_write_continue(self._rt.native, self._h)
        if rc < 0:
            self._fail(rc)
        return self

    def _continue_if_expected(self) -> None:
        # A client that sent "Expect: 100-continue" holds the body until told to go on:
        # asking for the body is the moment to tell it, unless the handler already
        # answered (write_continue(), or a final response that refuses the body).
        if self._reqflags & REQ_EXPECT_100 and self._state == FRESH:
            self.write_continue()

    # ---- status and headers ------------------------------------------------------------------
    def _head_started(self) -> bool:
        if self._state == STREAMING:
            raise ResponseStateError(
                "the response body already started: write status and headers before write()"
            )
        return self._state == DONE

    def write_status(self, status: Any) -> AppResponse:
        """``404``, ``"404 Not Found"`` or ``b"404 Not Found"``; an unknown int gives ``"<code> "``."""
        if self._state and self._head_started():
            return self
        self._status = render_status(status)
        return self

    def _add_header(self, line: bytes) -> None:
        kind = header_kind(line)
        if kind:
            self._hflags |= kind
            if kind & KIND_DROP:
                return
        headers = self._headers
        if headers is None:
            self._headers = [line]
        else:
            headers.append(line)

    def write_header(self, name: Any, value: Any) -> AppResponse:
        """Add a header line; value may be str, bytes or int."""
        if self._state and self._head_started():
            return self
        # PERF: apps write the same few headers over and over: a rendered line is one
        # dict lookup (keys are str/bytes pairs only; anything else renders each time).
        try:
            cached = _LINES.get((name, value))
        except TypeError:  # unhashable: rendered below (and refused there if it is bad)
            cached = None
        if cached is None:
            cached = render_line(name, value)
        line, kind = cached
        if kind:
            self._hflags |= kind
            if kind & KIND_DROP:
                return self  # framing and Connection are the core's (headers.py)
        headers = self._headers
        if headers is None:
            self._headers = [line]
        else:
            headers.append(line)
        return self

    def write_headers(self, headers: Any) -> AppResponse:
        """Add every ``(name, value)`` pair of an iterable (or a mapping)."""
        if self._state and self._head_started():
            return self
        for name, value in pairs(headers):
            self._add_header(render_header(name, value))
        return self

    def set_cookie(
        self, name: str, value: Any, options: Optional[dict[str, Any]] = None
    ) -> AppResponse:
        """Add one ``Set-Cookie`` header (options: expires, max-age, path, domain, secure,
        httponly, samesite, comment, version)."""
        if self._state and self._head_started():
            return self
        self._add_header(render_header(b"Set-Cookie", render_set_cookie(name, value, options)))
        return self

    def redirect(self, location: str, status_code: int = 302) -> AppResponse:
        """Answer with ``Location: location`` and an empty body (302 by default)."""
        if self._state == DONE:
            return self
        return self.write_status(status_code).write_header(b"Location", location).end()

    # ---- streaming with backpressure ---------------------------------------------------------
    def try_end(
        self, message: Any, total_size: int, end_connection: bool = False
    ) -> tuple[bool, bool]:
        """Send part of a body of ``total_size`` bytes; returns ``(ok, done)``.

        ``ok`` False means the transport took only part of it: wait for ``on_writable`` and
        continue from ``get_write_offset()``.  A ``Content-Length`` header written before
        is the total instead of ``total_size``.
        """
        if self._state == DONE:
            return (False, True)
        body = message if type(message) is bytes else self._body(message)
        head = b"" if self._state else self._head()
        flags = head_flags(self._hflags) | (W_CLOSE if end_connection else 0)
        rc = _try_end(self._rt.native, self._h, head, len(head), body, len(body), total_size, flags)
        if rc == SC_ETHREAD:
            raise wrong_thread("res.try_end()")
        self._state = STREAMING
        if rc < 0:
            self._fail(rc)
            return (False, True)
        done = bool(rc & 2)
        if done:
            self._finished()
        return (bool(rc & 1), done)

    def get_write_offset(self) -> int:
        """Body bytes the core accepted so far."""
        if self._state == DONE:
            return 0
        return int(lib.sc_res_write_offset(self._rt.native, self._h))

    def write_offset(self, offset: int) -> AppResponse:
        """Override the write offset (for bodies resumed by the caller)."""
        if self._state != DONE:
            rc = lib.sc_res_override_write_offset(self._rt.native, self._h, offset)
            if rc < 0:
                self._fail(rc)
        return self

    def on_writable(self, handler: Callable[[AppResponse, int], bool]) -> AppResponse:
        """``handler(res, offset) -> bool`` runs when the buffer drains; True = done."""
        if self._state == DONE:
            return self
        ext = self._rt.track(self)
        ext.writable_handler = handler
        ext.context = copy_context()  # the handler runs in its request's context (_Extras)
        rc = lib.sc_res_want_writable(self._rt.native, self._h, 1)
        if rc < 0:
            self._fail(rc)
        return self

    async def send_chunk(self, buffer: Any, total_size: int) -> tuple[bool, bool]:
        """Awaitable ``try_end``: returns once ``buffer`` was accepted (or the client left)."""
        data = buffer if type(buffer) is bytes else self._body(buffer)
        start = self.get_write_offset()
        ok, done = self.try_end(data, total_size)
        if ok or done:
            return (ok, done)
        future = self._rt.aio().create_future()
        self._track(future)

        def retry(res: AppResponse, offset: int) -> bool:
            ok, done = res.try_end(data[offset - start :], total_size)
            if ok or done:
                if not future.done():
                    future.set_result((ok, done))
                return True
            return False

        self.on_writable(retry)
        try:
            return await future
        except asyncio.CancelledError:
            if self.aborted:
                return (False, True)
            raise

    async def send_fd(self, fd: int, offset: int, count: int, end: bool = True) -> bool:
        """Send ``count`` bytes of the open file ``fd`` from ``offset`` from the core
        (``sendfile(2)`` on a plain socket, read and encrypted in bounded pieces over TLS),
        with backpressure; then finish the response when ``end``.  The core owns ``fd`` from
        this call on and closes it, whatever happens (pass ``os.dup(fd)`` to keep yours).

        Without ``end`` the file is one chunk of a streamed body and the response stays
        open.  With ``end`` and no ``Content-Length`` header, ``count`` is the length.
        Returns True once the file has left, False when the client went away first.
        """
        if type(offset) is not int or type(count) is not int or offset < 0 or count < 0:
            os.close(fd)
            raise ValueError(
                f"send_fd needs offset and count as ints >= 0, not {offset!r} and {count!r}"
            )
        if self._state == DONE:
            os.close(fd)
            return False
        flags = head_flags(self._hflags) | (W_END if end else 0)
        head = b"" if self._state else self._head()
        rc = _sendfile(self._rt.native, self._h, head, len(head), fd, offset, count, flags)
        if rc == SC_ETHREAD:
            raise wrong_thread("res.send_fd()")  # the core closed fd; the response is open
        self._state = STREAMING
        if rc < 0:
            self._fail(rc)
            return False
        if rc == SC_OK:  # queued: the core calls on_writable once it is out
            self._file_queued(count)
            future = self._rt.aio().create_future()
            self._track(future)

            def sent(res: AppResponse, _offset: int) -> bool:
                if end:
                    # PERF: ended inside the core's callback, so a keep-alive client's
                    # next request is parsed in this poll, not after the task resumes.
                    res.end()
                if not future.done():
                    future.set_result(None)
                return True

            self.on_writable(sent)
            try:
                await future
            except asyncio.CancelledError:
                if self.aborted:
                    return False
                raise
        if end:
            self.end()
        return not self.aborted

    def _file_queued(self, count: int) -> None:
        """send_fd handed ``count`` body bytes of a file to the core (observed responses
        count them)."""

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._rt.track(self).waiters.append(future)

    # ---- abort ---------------------------------------------------------------------------------
    def on_aborted(self, handler: Callable[[AppResponse], Any]) -> AppResponse:
        """``handler(res)`` runs if the client goes away before the response ended."""
        if self.aborted:
            return self
        ext = self._rt.track(self)
        ext.aborted_handler = handler
        ext.context = copy_context()  # the handler runs in its request's context (_Extras)
        return self

    def grab_aborted_handler(self) -> AppResponse:
        """Track the response so ``res.aborted`` turns True when the client goes away."""
        if self._state != DONE:
            self._rt.track(self)
        return self

    def _mark_aborted(self) -> None:
        """The connection is gone: finish, tell the handler, release waiters."""
        already = self.aborted
        self.aborted = True
        self._state = DONE
        ext = self._ext
        if ext is None or already:
            return
        self._rt.untrack(self)
        waiters, ext.waiters = ext.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
        handler = ext.aborted_handler
        if handler is not None:
            ext.aborted_handler = None
            try:
                handler(self)
            except Exception as exc:
                self._rt.report(exc, self, None)
        ext.context = None  # nothing runs in it any more; it may lead back to the response

    # ---- request body ----------------------------------------------------------------------------
    def _receive(self, chunk: Any, is_end: bool) -> None:
        """A body chunk from the core (the runtime routes on_data here)."""
        ext = self._ext or self._rt.track(self)
        handler = ext.data_handler
        if handler is None:
            ext.chunks.append(chunk)
            if is_end:
                ext.body_done = True
                self._wake()
            elif not ext.waiters and ext.held >= 0:
                # Nobody asked for the body yet (an async handler awaiting something
                # first): past a small window the core stops reading until on_data() or
                # get_data() asks, so slow handlers cannot make uploads pile up here.
                ext.held += len(chunk)
                if ext.held > self._rt.body_window:
                    ext.held = -1
                    lib.sc_res_pause(self._rt.native, self._h)
            return
        if is_end:
            ext.body_done = True
        handler(self, chunk, is_end)

    def _wake(self) -> None:
        ext = self._ext
        if ext is None:
            return
        waiters, ext.waiters = ext.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _claim_body(self, ext: _Extras) -> None:
        """Someone asks for the body now: reading resumes if _receive paused it."""
        if ext.held < 0:
            if self._state != DONE:
                lib.sc_res_resume(self._rt.native, self._h)
        ext.held = 0

    def _has_body(self) -> bool:
        return bool(self._reqflags & REQ_HAS_BODY)

    def on_data(
        self, handler: Callable[[AppResponse, Any, bool], Any], *, copy: bool = True
    ) -> AppResponse:
        """``handler(res, chunk, is_end)`` for each body chunk; chunks that arrived earlier
        are replayed first.  A request without a body gets one ``(b"", True)`` call.

        With ``copy=False`` each chunk is a ``memoryview`` of the core's read buffer, valid
        only during the call (no copy is made): keep what you need with ``bytes(chunk)``.
        A chunk kept as it is raises ``ValueError`` when used after its call."""
        ext = self._ext if self._state == DONE else self._rt.track(self)
        if ext is None:  # ended before any body arrived: nothing will come
            ext = _Extras()
        ext.data_handler = handler
        ext.context = copy_context()  # the handler runs in its request's context (_Extras)
        ext.views = not copy
        self._claim_body(ext)
        self._continue_if_expected()
        buffered, ext.chunks = ext.chunks, []
        if not self._has_body() and not buffered:
            ext.body_done = True
            handler(self, memoryview(b"") if ext.views else b"", True)
            return self
        last = len(buffered) - 1
        for index, chunk in enumerate(buffered):
            handler(
                self, memoryview(chunk) if ext.views else chunk, ext.body_done and index == last
            )
        return self

    async def get_data(self) -> BytesIO:
        """The whole request body (awaits the last chunk).  The core gathers what is still
        to come in one buffer and hands it over once."""
        if not self._has_body():
            return BytesIO()
        ext = self._rt.track(self) if self._state != DONE else (self._ext or _Extras())
        if ext.data_handler is not None:
            raise RuntimeError("get_data() cannot be used after on_data() took the body")
        self._claim_body(ext)
        if not ext.body_done and self._state != DONE:
            self._collect_body()
        self._continue_if_expected()
        while not ext.body_done:
            if self.aborted:
                raise asyncio.CancelledError()
            future = self._rt.aio().create_future()
            ext.waiters.append(future)
            await future
        # PERF: a body gathered by the core is one bytes object: the join returns it as is
        return BytesIO(b"".join(ext.chunks))

    def _collect_small_body(self, view: Any) -> None:
        """The adapters' bodies (ASGI receive, WSGI input): one of known length within
        ``body_window`` is gathered by the core and arrives as one chunk (PERF: one bytes
        object, no join) instead of one per read."""
        if not self._reqflags & REQ_CHUNKED and view.content_length <= self._rt.body_window:
            self._collect_body()

    def _collect_body(self) -> None:
        """Ask the core for the rest of the body as one chunk (sc_res_collect_body)."""
        rc = lib.sc_res_collect_body(self._rt.native, self._h)
        if rc < 0 and rc != SC_ESTALE:
            raise core_error(rc, "reading the request body")

    async def get_text(self, encoding: str = "utf-8") -> str:
        """The body decoded; bad bytes raise BodyDecodeError (a ValueError)."""
        data = (await self.get_data()).getvalue()
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise BodyDecodeError(f"request body is not valid {encoding}: {exc}") from exc

    async def get_json(self) -> Any:
        """The body parsed by the app's JSON serializer; an empty body gives None."""
        data = (await self.get_data()).getvalue()
        if not data:
            return None
        try:
            return self._rt.serializer().loads(data)
        except (ValueError, TypeError) as exc:
            raise BodyDecodeError(f"request body is not valid JSON: {exc}") from exc

    async def get_form_urlencoded(self, encoding: str = "utf-8") -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body as a dict (first value per name)."""
        text = await self.get_text(encoding)
        try:
            fields = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=bool(text),
                encoding=encoding,
                errors="strict",
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise BodyDecodeError(f"request body is not a valid urlencoded form: {exc}") from exc
        form: dict[str, str] = {}
        for name, value in fields:
            form.setdefault(name, value)
        return form

    # ---- connection ------------------------------------------------------------------------------
    def pause(self) -> AppResponse:
        """Stop reading the socket (real backpressure for uploads)."""
        if self._state != DONE and lib.sc_res_pause(self._rt.native, self._h) == SC_ETHREAD:
            raise wrong_thread("res.pause()")
        return self

    def resume(self) -> AppResponse:
        if self._state != DONE and lib.sc_res_resume(self._rt.native, self._h) == SC_ETHREAD:
            raise wrong_thread("res.resume()")
        return self

    def close(self) -> AppResponse:
        """Close the connection now (the response is abandoned)."""
        if self._state != DONE:
            if lib.sc_res_close(self._rt.native, self._h) == SC_ETHREAD:
                raise wrong_thread("res.close()")
            self._mark_aborted()
        return self

    def has_responded(self) -> bool:
        """True once the response ended (or the client went away)."""
        return self._state == DONE

    # ---- addresses --------------------------------------------------------------------------------
    def _address(self, fetch: Any, as_text: bool) -> Any:
        if self._state == DONE:
            return "" if as_text else b""
        buf = ffi.new("char[64]")
        n = fetch(self._rt.native, self._h, buf, 64)
        if n < 0:
            return "" if as_text else b""
        raw = ffi.unpack(buf, n)
        return raw.decode("ascii", "replace") if as_text else raw

    def _forwarded_client(self) -> Optional[str]:
        fwd = getattr(self, "_fwd", None)  # set only with proxy_headers (runtime.py)
        return fwd[0] if fwd is not None else None

    def get_remote_address(self) -> str:
        """The peer IP as text (``"127.0.0.1"``, ``"::1"``, ``""`` for Unix sockets); with
        ``proxy_headers`` and a trusted peer, the client its proxy headers name."""
        client = self._forwarded_client()
        if client:
            return client
        return self._address(lib.sc_res_remote_address, True)  # type: ignore[no-any-return]

    def get_remote_address_bytes(self) -> bytes:
        """The peer IP as 4 or 16 raw bytes (the forwarded client's, as above)."""
        client = self._forwarded_client()
        if client:
            return ipaddress.ip_address(client).packed
        return self._address(lib.sc_res_remote_bytes, False)  # type: ignore[no-any-return]

    def get_proxied_remote_address(self) -> str:
        """The client IP from a PROXY header (``proxy_protocol=True``), else ``""``."""
        return self._address(lib.sc_res_proxied_address, True)  # type: ignore[no-any-return]

    def get_proxied_remote_address_bytes(self) -> bytes:
        return self._address(lib.sc_res_proxied_bytes, False)  # type: ignore[no-any-return]

    def get_native_handle(self) -> int:
        """The core's response handle (an int naming connection slot + generation)."""
        return self._h

    # ---- WebSocket upgrade (websocket.py) ------------------------------------------------
    def upgrade(
        self,
        key: Any,
        protocol: Any,
        extensions: Any,
        socket_context: Any,
        user_data: Any = None,
    ) -> bool:
        """Answer 101 and open a WebSocket (inside a ws ``upgrade`` handler, also after an
        await); False when the response already ended or the client left."""
        from .websocket import upgrade

        return upgrade(self, key, protocol, extensions, socket_context, user_data)

    # ---- helpers using the app --------------------------------------------------------------------
    def render(self, *args: Any, **kwargs: Any) -> AppResponse:
        """End with ``app.template(engine)``'s ``render(*args, **kwargs)``, as
        ``text/html; charset=utf-8`` unless a Content-Type was written."""
        engine = self._rt.template
        if engine is None:
            raise RuntimeError("res.render() needs a template engine: call app.template(engine)")
        page = engine.render(*args, **kwargs)
        if self._state == FRESH and not self._hflags & HAS_CONTENT_TYPE:
            self._add_header(_HTML_TYPE)
        return self.end(page)

    def run_async(self, coro: Any) -> Any:
        """Run a coroutine for this response (its part before the first await runs now)."""
        return self._rt.run_async(coro, self)

    def __repr__(self) -> str:
        state = ("fresh", "streaming", "done")[self._state]
        return f"<AppResponse {state}{' aborted' if self.aborted else ''}>"


Response = AppResponse
