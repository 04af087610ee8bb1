"""WSGI: a PEP 3333 application served by the native core.

Theory of operation
-------------------
The core is only ever called from the loop thread; WSGI applications block.  So:

1. ``_on_request`` (loop thread) builds the environ from the request view (it dies with
   the callback) and submits the call to a bounded thread pool (``threads``).
2. The worker (pool.WorkerPool) runs the application.  ``start_response`` validates and renders the head
   right there (a bad header raises in the application), nothing is sent yet.
3. A response that is a list or tuple and used no ``write()`` is joined and handed to the
   loop in one post (pool.LoopInbox: one loop wake-up carries every response finished
   meanwhile): one ``end()`` there, head and body in one C call.
   Anything else is streamed: each chunk is handed to the loop (buffered for transmission,
   as PEP 3333 allows) and the worker goes on while at most ``WRITE_AHEAD`` bytes wait for
   the loop and the core is below ``max_backpressure``; past either it waits (until the
   loop took the chunks, or ``on_writable`` says the core drained), so a slow client holds
   the generator instead of filling memory.  A framework's one-chunk iterable (Flask's)
   thus costs two posts and no wait.
   A ``wsgi.file_wrapper`` over a regular file with ``fileno()`` is not iterated: a
   duplicate of its descriptor goes to the core (``res.send_fd``: ``sendfile(2)`` on a
   plain socket, pread + the TLS layer's write in bounded pieces otherwise) from the
   file's current position to its end, and the worker waits until it has left.
4. ``close()`` of the iterable is always called (worker thread; a list or tuple has none).

Request body: ``wsgi.input`` (RequestInput) is fed by ``on_data`` on the loop thread and
read by the worker; past ``INPUT_HIGH`` buffered bytes the connection is paused and it is
resumed when the application has read the buffer down.

Errors: an exception before anything was sent is a 500; after, the connection is closed.
Both are logged (and seen by the TestClient's ``raise_server_exceptions``).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
from typing import Any, Callable, Optional
from urllib.parse import unquote_to_bytes

from .._native import ffi, lib
from ..adapter import _FIELDS_CAP, AdapterRuntime, PerConnection, new_fields
from ..app import App
from ..errors import ASGIProtocolError, ClientDisconnected
from ..headers import KIND_DROP, render_header
from ..proxy import forwarded
from ..response import (
    _LINES,
    DONE,
    FRESH,
    HAS_CONTENT_LENGTH,
    SC_EAGAIN,
    STREAMING,
    AppResponse,
    _write,
    head_flags,
    render_line,
)
from ..runtime import _METHOD_NAMES
from ..status import render_status
from .input import RequestInput, _EndedInput
from .pool import UNBOUND, LoopInbox, WorkerPool

logger = logging.getLogger("socketify.wsgi")

REQ_HAS_BODY = 2
DEFAULT_THREADS = 10
WRITE_AHEAD = 64 * 1024  # body bytes a worker may hand to the loop before it waits
_unpack = ffi.unpack
_pack_cgi = lib.sc_request_pack_cgi
_conn_id = lib.sc_res_conn_id
_ADDRESS = ffi.new("char[64]")  # loop thread only
# (status, tuple(headers)) -> (status line + header lines, KIND_* flags) of start_response
_HEADS: dict[tuple[str, tuple[Any, ...]], tuple[bytes, int]] = {}
_HEADS_MAX = 1024
_HOSTS: dict[str, tuple[str, str]] = {}  # Host header -> (SERVER_NAME, SERVER_PORT)
_CACHE_MAX = 1024
_LAST_MAX = 2048  # packed fields kept per connection for the next request (see _environ)
_ENDED = _EndedInput()  # wsgi.input of every request without a body (see _connection)


def _join_duplicates(environ: dict[str, Any], parts: list[str]) -> None:
    """Each header key that came more than once gets its values joined in order (", ",
    "; " for cookies); ``parts`` is what sc_request_pack_cgi packed."""
    joined: dict[str, str] = {}
    for index in range(2, len(parts) - 1, 2):
        key, value = parts[index], parts[index + 1]
        if key in joined:
            joiner = "; " if key == "HTTP_COOKIE" else ", "
            joined[key] = joined[key] + joiner + value
        else:
            joined[key] = value
    environ.update(joined)


def _server_of(host: str) -> tuple[str, str]:
    """(SERVER_NAME, SERVER_PORT) of a Host header (kept for the next request)."""
    found = _HOSTS.get(host)
    if found is None:
        if host.rfind(":") > host.rfind("]"):
            name, _, port = host.rpartition(":")
        else:
            name, port = host, ""
        found = (name or host, port or "80")
        if len(_HOSTS) < _CACHE_MAX:
            _HOSTS[host] = found
    return found


class _ConnKeys:
    """What the requests of one connection share: the base of their environ, and the
    previous request's packed fields with the environ they gave (see WSGI._environ)."""

    __slots__ = ("base", "last", "packed")

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.packed = b""  # no request packs to nothing: it has at least its target
        self.last = base


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; returned by the application, a
    regular file is sent by the core from its descriptor instead (see the module doc)."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Any:
        read = self.filelike.read
        while True:
            data = read(self.blksize)
            if not data:
                return
            yield data


class _Cycle:
    """One request/response, shared by the worker (start_response/write) and the loop."""

    __slots__ = (
        "accepted",
        "error",
        "file_pending",
        "head",
        "hflags",
        "inbox",
        "input",
        "posted",
        "ready",
        "res",
        "sent",
        "stalled",
        "watching",
        "wrote",
    )

    def __init__(self, res: AppResponse, body: Optional[RequestInput], inbox: LoopInbox) -> None:
        self.inbox = inbox  # the loop this request came from (see WSGI._bind_inbox)
        self.res = res
        self.input = body
        # the rendered status line and header lines (None until start_response)
        self.head: Optional[bytes] = None
        self.hflags = 0
        self.sent = False  # the head left (worker's view)
        self.wrote = False
        # PERF: made by the first write() (an Event is a lock and a condition): most apps
        # return a list and never wait on the loop.
        self.ready: Optional[threading.Event] = None
        self.error: Optional[BaseException] = None
        self.watching = False  # aborted() is registered (done when a worker may wait)
        # Write-ahead accounting: each counter has one writer, so no update is lost.
        self.posted = 0  # body bytes handed to the loop (worker)
        self.accepted = 0  # of those, taken by the core (loop)
        self.stalled = False  # the core is past max_backpressure until it drains (loop)
        self.file_pending = False  # a file handed to the core is still being sent

    # ---- worker thread ------------------------------------------------------------------
    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise ASGIProtocolError("start_response() called twice without exc_info")
        # PERF: a (status, headers) pair checked and rendered before is taken whole; the
        # key equals only what passed the same checks (str status, a list of str pairs)
        key: Optional[tuple[str, tuple[Any, ...]]] = None
        if type(status) is str and type(headers) is list:
            try:
                key = (status, tuple(headers))
                head = _HEADS.get(key)
            except TypeError:  # an unhashable pair: checked (and refused) below
                key = head = None
            if head is not None:
                self.head, self.hflags = head
                return self.write
        if not isinstance(status, str):
            raise ASGIProtocolError(f"the WSGI status must be a str like '200 OK', not {status!r}")
        if not isinstance(headers, list):
            raise ASGIProtocolError(f"WSGI response headers must be a list, not {headers!r}")
        lines = []
        flags = 0
        for pair in headers:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ASGIProtocolError(f"a WSGI header must be a (name, value) tuple: {pair!r}")
            name, value = pair
            if not isinstance(name, str) or not isinstance(value, str):
                raise ASGIProtocolError(f"WSGI header names and values must be str: {pair!r}")
            # PERF: the App's rendered-line cache, keyed by the same (name, value) pair
            try:
                hit = _LINES.get(pair)
            except TypeError:  # a str subclass without a hash: rendered each time
                hit = None
            if hit is None:
                hit = render_line(name, value)
            line, kind = hit
            flags |= kind
            if not kind & KIND_DROP:
                lines.append(line)
        rendered = (render_status(status) + b"".join(lines), flags)
        self.head, self.hflags = rendered
        if key is not None and len(_HEADS) < _HEADS_MAX:
            # the key is hashed again to store it: once for each head first seen, at most
            # _HEADS_MAX times a process (a full cache stores nothing), so it is left so
            _HEADS[key] = rendered
        return self.write

    def write(self, data: Any) -> None:
        """The ``write()`` callable, and each chunk of a streamed iterable."""
        if self.head is None:
            raise ASGIProtocolError("write() before start_response()")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ASGIProtocolError(f"WSGI body chunks must be bytes, not {type(data).__name__}")
        self.wrote = True
        if not data and self.sent:
            return
        self.sent = True
        chunk = bytes(data)
        if self.error is not None:
            raise ClientDisconnected("the response failed on the loop (reported there)")
        self.posted += len(chunk)
        self.inbox.post(self._loop_write, chunk)
        # The chunk is buffered for transmission (PEP 3333): the worker goes on producing
        # while at most WRITE_AHEAD bytes wait for the loop and the core is not past
        # max_backpressure; otherwise it waits, so a slow client holds the generator.
        if self.stalled or self.posted - self.accepted > WRITE_AHEAD or self.res.aborted:
            self._wait(self._no_room)

    def _sending_file(self) -> bool:
        return self.file_pending

    def _no_room(self) -> bool:
        return self.stalled or self.posted - self.accepted > WRITE_AHEAD

    def _wait(self, blocked: Callable[[], bool]) -> None:
        """Wait (worker) until ``blocked()`` is false or the client went away."""
        ready = self.ready
        if ready is None:
            ready = self.ready = threading.Event()
        while True:
            ready.clear()  # before the checks: a set() after them ends the wait
            if self.res.aborted:
                raise ClientDisconnected("the client went away")
            if not blocked():
                return
            ready.wait()

    # ---- loop thread --------------------------------------------------------------------
    def aborted(self, _res: AppResponse) -> None:
        self._wake_worker()  # without an Event no write() waits yet
        if self.input is not None:
            self.input.abort()

    def _apply_head(self) -> None:
        res = self.res
        # PERF: the whole head as the status (AppResponse._head() takes it as it is, as
        # for ASGI): start_response rendered it once
        res._status = self.head
        res._hflags = self.hflags

    def _watch(self) -> None:
        # PERF: registered only once a worker may wait on the loop (a streamed write, a
        # file, a body): a list response never waits, and a client gone before its end()
        # is seen there (the core refuses the stale handle and the response is marked
        # aborted).
        if not self.watching:
            self.watching = True
            self.res.on_aborted(self.aborted)

    def _loop_write(self, data: bytes) -> None:
        self._watch()
        res = self.res
        try:
            if res._state == DONE:
                return
            if res._state == FRESH:
                self._apply_head()
                head = res._head()
            else:
                head = b""
            res._state = STREAMING
            flags = head_flags(res._hflags)
            rc = _write(res._rt.native, res._h, head, len(head), data, len(data), flags)
            if rc == SC_EAGAIN:  # taken, but past max_backpressure: no more until drained
                self.stalled = True
                res.on_writable(self._drained)
            elif rc < 0:
                res._fail(rc)
        except Exception as exc:
            self.error = exc  # the worker stops at its next write
            self._loop_fail(exc)  # reported; a started response is closed
        finally:
            self.accepted += len(data)
            self._wake_worker()

    def _drained(self, _res: AppResponse, _offset: int) -> bool:
        self.stalled = False
        self._wake_worker()
        return True

    def _loop_sendfile(self, args: tuple[int, int, int]) -> None:
        fd, offset, count = args
        self._watch()
        res = self.res
        if res._state == DONE:
            os.close(fd)
            self.file_pending = False
            self._wake_worker()
            return
        try:
            if res._state == FRESH:
                self._apply_head()
            res._rt.spawn(self._file_task(fd, offset, count), None, None)
        except BaseException as exc:  # no task: the worker must not wait for one
            os.close(fd)
            self.file_pending = False
            if isinstance(exc, Exception):
                self.error = exc  # the worker raises it, and it is reported from there
                self._wake_worker()
                return
            self.error = RuntimeError(repr(exc))
            self._wake_worker()
            raise  # KeyboardInterrupt, SystemExit: the loop's own to stop on

    async def _file_task(self, fd: int, offset: int, count: int) -> None:
        try:
            await self.res.send_fd(fd, offset, count, end=False)
        except Exception as exc:
            self.error = exc
        finally:
            self.file_pending = False
            self._wake_worker()

    def _wake_worker(self) -> None:
        # The state a waiting worker checks is written before this: if the worker made its
        # Event after this read, its check after clear() sees that state.
        ready = self.ready
        if ready is not None:
            ready.set()

    def _loop_end(self, body: bytes) -> None:
        res = self.res
        if res._state == FRESH:
            # PERF: _apply_head() inlined (the one hand-back of a list response)
            res._status = self.head
            res._hflags = self.hflags
        try:
            res.end(body)
        except Exception as exc:  # the core refused the head: nothing was sent, so the 500
            self._loop_fail(exc)  # answers (not the inbox's log while the client waits)

    def _loop_fail(self, exc: BaseException) -> None:
        res = self.res
        if res._state == STREAMING:
            res.close()  # the head is out: never a half-framed response
        res._rt.report(exc, res, None)


class WSGI(App):
    """Serve a WSGI application: ``WSGI(app, threads=10).listen(8000, handler).run()``.

    ``threads``: size of the pool the application runs in.  ``root_path``: the
    ``SCRIPT_NAME`` the app is mounted under.  Other keywords are the App settings.
    """

    # The TestClient runs lifespan only inside `with` (as Starlette's does), never on the
    # first request.
    _lifespan_on_first_request = False

    def __init__(
        self,
        app: Callable[..., Any],
        threads: int = DEFAULT_THREADS,
        root_path: str = "",
        **settings: Any,
    ) -> None:
        if not callable(app):
            raise TypeError(f"WSGI() needs a WSGI application (a callable), not {app!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 1024:
            raise ValueError(f"threads must be an int from 1 to 1024, not {threads!r}")
        if not isinstance(root_path, str) or (root_path and not root_path.startswith("/")):
            raise ValueError(f"root_path must be empty or start with '/', not {root_path!r}")
        super().__init__(None, **settings)
        self._rt = AdapterRuntime(self, self._router, lambda: self._settings)
        self._fields = new_fields()
        self.application = app
        self.threads = threads
        self.root_path = root_path.rstrip("/")
        self._pool: Optional[WorkerPool] = None
        # PERF: bound once, not per request (-640 callgrind instructions a request)
        self._run = self._call
        self._inbox = LoopInbox()
        self._multiprocess = False
        # connection id -> the environ keys its requests share (see _connection)
        self._conns = PerConnection(_CACHE_MAX)

    def _executor(self) -> WorkerPool:
        pool = self._pool
        if pool is None:
            pool = self._pool = WorkerPool(self.threads, self._inbox)
        return pool

    def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()
        super()._release()

    # ---- dispatch (called by the bridge, loop thread) -----------------------------------
    def _dispatch(self, handle: int) -> None:
        rt = self._rt
        view = rt.view
        flags = view.flags
        method = _METHOD_NAMES[view.method_id] or _unpack(view.method, view.method_len).decode(
            "latin-1"
        )
        res = rt.response_type(rt, handle, flags)
        try:
            environ = self._environ(view, method, handle)
            body: Optional[RequestInput] = None
            if flags & REQ_HAS_BODY:
                body = fed = RequestInput(res, rt.aio())
                rt.track(res).data_handler = fed.feed
                res._collect_small_body(view)
                environ["wsgi.input"] = fed
            # else: the shared ended input of the connection's keys (see _connection)
            inbox = self._inbox
            if inbox.loop is not rt.aio_loop:  # a new inbox's loop is UNBOUND, never None
                inbox = self._bind_inbox(rt.aio())
            cycle = _Cycle(res, body, inbox)
            if body is not None:
                cycle._watch()  # a worker waiting on the body goes on when the client leaves
            pool = self._pool
            if pool is None:
                pool = self._executor()
            pool.submit(self._run, environ, cycle)
        except Exception as exc:
            rt.report(exc, res, None)

    def _bind_inbox(self, loop: Any) -> LoopInbox:
        """The inbox of ``loop``.  Served by another loop than before (a new TestClient, a
        new run()), the app gets a new inbox: what workers still hand back for the old loop
        goes to the old one (never to the new loop's connections), and a drain the old loop
        never ran (it closed meanwhile) does not hold up the new one's."""
        inbox = self._inbox
        if inbox.loop is not UNBOUND and inbox.loop is not loop:
            inbox = self._inbox = LoopInbox()
            if self._pool is not None:
                self._pool.rebind(inbox)
        inbox.loop = loop
        return inbox

    def _connection(self, native: Any, handle: int, conn: int) -> _ConnKeys:
        """The environ keys every request of connection ``conn`` has alike (a dict to
        copy): the constant ones, the peer and the scheme."""
        n = lib.sc_res_remote_address(native, handle, _ADDRESS, 64)
        remote = _unpack(_ADDRESS, n).decode("ascii") if n > 0 else ""
        base = {
            "SCRIPT_NAME": self.root_path,
            "REMOTE_ADDR": remote,
            "REMOTE_PORT": str(lib.sc_res_remote_port(native, handle)) if remote else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if conn & 1 else "http",  # bit 0: TLS
            "wsgi.multithread": True,
            "wsgi.multiprocess": self._multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            # PERF: a request without a body reads as ended: one state for all of them
            "wsgi.input": _ENDED,
        }
        keys = _ConnKeys(base)
        self._conns.keep(native, conn, keys)
        return keys

    def _environ(self, view: Any, method: str, handle: int) -> dict[str, Any]:
        native = self._rt.native
        # PERF: target, protocol and the header fields as CGI keys in one crossing
        buf = self._fields
        size = _pack_cgi(view, buf, _FIELDS_CAP)
        if size > _FIELDS_CAP:
            buf = ffi.new("char[]", size)
            _pack_cgi(view, buf, size)
        packed = _unpack(buf, size - 1)
        conn = _conn_id(native, handle)
        conns = self._conns
        keys = conns.values.get(conn) if native is conns.loop else None
        if keys is None:
            keys = self._connection(native, handle, conn)
        # PERF: a request whose target and header fields are the previous one's on this
        # connection (a client's requests mostly are) takes that request's keys in one
        # dict copy; the keys depend on nothing else (method and proxy come below)
        if packed == keys.packed:
            environ = keys.last.copy()
        else:
            environ = self._parse(keys, packed)
        environ["REQUEST_METHOD"] = method
        environ["wsgi.errors"] = sys.stderr  # read each time: it may be replaced meanwhile
        proxy = self._rt.proxy
        if proxy is not None:
            fwd = forwarded(proxy, native, view)
            if fwd is not None:
                if fwd[0]:
                    environ["REMOTE_ADDR"] = fwd[0]
                    environ["REMOTE_PORT"] = "0"  # the proxy's port is not the client's
                if fwd[1]:
                    environ["wsgi.url_scheme"] = "https" if fwd[1] == "https" else "http"
        return environ

    def _parse(self, keys: _ConnKeys, packed: bytes) -> dict[str, Any]:
        """The environ of a request whose packed CGI fields (sc_request_pack_cgi) are
        ``packed``, without REQUEST_METHOD, wsgi.errors and what a proxy says; kept in
        ``keys`` for the connection's next request when it is small."""
        environ = keys.base.copy()
        parts = packed.decode("latin-1").split("\0")
        path, _, query = parts[0].partition("?")
        environ["PATH_INFO"] = (
            unquote_to_bytes(path.encode("latin-1")).decode("latin-1") if "%" in path else path
        )
        environ["QUERY_STRING"] = query
        environ["SERVER_PROTOCOL"] = parts[1]
        count = len(environ)
        fields = iter(parts)
        next(fields)
        next(fields)
        environ.update(zip(fields, fields))
        if len(environ) - count != (len(parts) - 2) >> 1:  # a name came twice: join them
            _join_duplicates(environ, parts)
        host = environ.get("HTTP_HOST")
        if host:
            environ["SERVER_NAME"], environ["SERVER_PORT"] = _server_of(host)
        else:
            first = self._listeners[0] if self._listeners else None
            environ["SERVER_NAME"] = (first.host or "0.0.0.0") if first else "localhost"
            environ["SERVER_PORT"] = str(first.port) if first and not first.domain else "80"
        if len(packed) <= _LAST_MAX:
            keys.packed = packed
            keys.last = environ
            return environ.copy()  # the application may change its own
        return environ

    # ---- the worker ---------------------------------------------------------------------
    def _call(self, environ: dict[str, Any], cycle: _Cycle) -> None:
        try:
            result = self.application(environ, cycle.start_response)
        except ClientDisconnected:
            return
        except Exception as exc:
            cycle.inbox.post(cycle._loop_fail, exc)
            return
        kind = type(result)
        if (kind is list or kind is tuple) and not cycle.wrote:
            # PERF: one bytes chunk (the common case) is taken as it is; neither a list nor
            # a tuple has a close() to call (-760 instructions a request without the
            # try/finally of _iterate)
            if len(result) == 1 and type(result[0]) is bytes:
                body = result[0]
            elif all(type(chunk) is bytes for chunk in result):
                body = b"".join(result)
            else:
                body = None
            if body is not None:
                if cycle.head is None:
                    missing = ASGIProtocolError(
                        "the WSGI app returned without calling start_response()"
                    )
                    cycle.inbox.post(cycle._loop_fail, missing)
                else:
                    cycle.inbox.post(cycle._loop_end, body)
                return
        self._iterate(result, cycle)

    def _iterate(self, result: Any, cycle: _Cycle) -> None:
        """Any other response: streamed chunk by chunk (or a file), ``close()`` called."""
        post = cycle.inbox.post
        try:
            if isinstance(result, FileWrapper) and hasattr(result.filelike, "fileno"):
                self._send_file(result, cycle)
            else:
                for chunk in result:
                    if chunk:
                        cycle.write(chunk)
                    elif cycle.head is not None and not cycle.sent:
                        cycle.write(b"")
            if cycle.head is None:
                raise ASGIProtocolError("the WSGI app returned without calling start_response()")
            post(cycle._loop_end, b"")
        except ClientDisconnected:
            pass
        except Exception as exc:
            post(cycle._loop_fail, exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    logger.error("the WSGI iterable's close() raised", exc_info=exc)

    def _send_file(self, wrapper: FileWrapper, cycle: _Cycle) -> None:
        try:
            fd = wrapper.filelike.fileno()
            info = os.fstat(fd)
            offset = os.lseek(fd, 0, os.SEEK_CUR) if stat.S_ISREG(info.st_mode) else -1
        except (OSError, ValueError, AttributeError):
            offset = -1
        if offset < 0:  # not a regular file: iterate it like any iterable
            for chunk in wrapper:
                if chunk:
                    cycle.write(chunk)
            return
        if cycle.head is None:
            raise ASGIProtocolError("the WSGI app returned without calling start_response()")
        count = max(0, info.st_size - offset)
        if not cycle.hflags & HAS_CONTENT_LENGTH:
            cycle.head += render_header(b"Content-Length", count)
            cycle.hflags |= HAS_CONTENT_LENGTH
        cycle.sent = cycle.wrote = True
        cycle.error = None
        cycle.file_pending = True
        cycle.inbox.post(cycle._loop_sendfile, (os.dup(fd), offset, count))
        cycle._wait(cycle._sending_file)
        if cycle.error is not None:
            raise cycle.error
        os.lseek(fd, offset + count, os.SEEK_SET)

    def __repr__(self) -> str:
        return f"<WSGI {self.application!r} threads={self.threads}>"
