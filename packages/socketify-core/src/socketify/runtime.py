"""Runtime: what runs under an App while it serves -- dispatch, live responses, tasks, errors.

``App`` holds routes, configuration and listen/run/close; everything that happens per request
lives here, in one object that ``AppResponse``, ``AppRequest`` and ``WebSocket`` hold (as
``_rt``) instead of reaching into private App attributes.

Request lifecycle (theory of operation)
---------------------------------------
1. The core parses a request head and calls ``sc_py_on_request(owner, handle)``; the bridge
   finds this runtime by owner id and calls ``on_request(handle)``.  Inside that call the
   loop's one request view is valid and all output is corked into the current batch.
2. Dispatch decodes only the method and the path (needed to route), bumps the request
   token, and builds an AppResponse (handle) and an AppRequest (view + token).
3. ``match(method, path)`` picks the handler; WebSocket routes (``app.ws``) are in a router
   of their own that an upgrade request tries first and any other request last.  No match: ``allowed_methods(path)`` tells
   405 (with ``Allow``) from 404.  HEAD falls back to GET in the router; the core
   suppresses the body.
4. The handler runs.  A coroutine handler runs up to its first ``await`` right here
   (coroutines.start), then continues as an asyncio Task; ``req.set_yield(True)`` passes
   the request to ``match.next()`` (404 when none is left).
5. When the callback returns, the token is cleared: the request view is dead and a request
   that was not ``preserve()``-d refuses to be read.  A response that did not end is
   *tracked* (handle -> response) so on_data / on_aborted / on_writable find it; one that
   ended is forgotten (PERF: nothing to undo on the common path).  On CPython a request,
   and a response that ended, which nothing else holds (``sys.getrefcount``) are reset and
   reused for the next request instead of allocating new ones.
6. The core flushes the batch: one write per connection.  Later writes (from tasks) are
   their own small batches; the core wakes its epoll fd to parse any pipelined request.

Finished hooks: ``on_finished(fn)`` registers ``fn(res, info)``, called once per response when it
ends (end/send/cork_end/try_end/sendfile, a WebSocket upgrade, the error fallback) or is
aborted (``res.aborted``); the access log is one.  With no hook the response pays nothing
(PERF: one test of a class attribute).

Errors: anything a handler, middleware, abort/data/writable callback or task raises goes to
``report``: the user's error handler (sync or async) or the default (log with traceback);
then, if nothing was sent, 500 ``Internal Server Error``; if the head was already sent, the
connection is closed (the response cannot be repaired).  ``exception_sink`` (used by the
TestClient) sees every exception after that.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _bridge, limits
from ._native import ffi, lib
from .coroutines import Resume, awaiting, is_coroutine, start
from .errors import SocketifyError
from .loop import Reactor
from .proxy import ProxyHeaders, forwarded
from .request import AppRequest
from .response import DONE, FRESH, AppResponse, _Extras
from .status import REASONS

if TYPE_CHECKING:
    from socketify_router import Router

    from .app import App

logger = logging.getLogger("socketify")
_UNSHARED = 2


class _Probe:
    __slots__ = ()


def refcount_probe(getrefcount: Optional[Callable[[Any], int]]) -> Optional[Callable[[Any], int]]:
    """``getrefcount`` when it counts as the reuse below expects -- an object held only by a
    local is ``_UNSHARED`` (the local and the call's argument), one more once kept
    elsewhere -- else None: no reuse (an interpreter that borrows references to call
    arguments would count a kept object as unshared)."""
    if getrefcount is None:
        return None
    probe = _Probe()
    alone = getrefcount(probe)
    kept = [probe]
    shared = getrefcount(probe)
    del kept
    return getrefcount if (alone, shared) == (_UNSHARED, _UNSHARED + 1) else None


# CPython: a request object whose only reference is the dispatching frame's (the local and
# getrefcount's argument) is reused for the next request; elsewhere one is made each time.
_refcount = refcount_probe(
    getattr(sys, "getrefcount", None) if sys.implementation.name == "cpython" else None
)

Handler = Callable[..., Any]
_unpack = ffi.unpack
# Bytes one read may bring (the loop reads into this buffer, which Python owns): a 64 KiB
# upload and its head fit in one read, so its body reaches on_data as one chunk.
READ_BUFFER = 128 * 1024
REQ_UPGRADE = 32  # SC_REQ_UPGRADE (socketify.h): Connection: upgrade with an Upgrade header
# SC_METHOD_* (socketify.h) -> name; 0 (another method) reads the bytes.
_METHOD_NAMES = (
    None,
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "HEAD",
    "OPTIONS",
    "CONNECT",
    "TRACE",
)


class Runtime:
    """The per-app serving state: the native loop, dispatch, live responses, tasks, errors."""

    def __init__(self, app: App, router: Router, settings: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.router = router
        self.match = router.match  # PERF: one bound method, not two lookups
        self._settings = settings
        self.native: Any = None
        self.body_window = 0  # bytes of a body nobody asked for yet before reading stops
        self.spare: Optional[AppRequest] = None  # a request object nothing holds any more
        self.spare_res: Optional[AppResponse] = None  # likewise a plain ended response
        self.handler_errors = 0  # exceptions report() saw (metrics.py)
        self.metrics_path: Optional[bytes] = None  # app.metrics_route (adapters check it)
        self.proxy: Optional[ProxyHeaders] = None  # proxy_headers: who is trusted
        self.buffer_cap = 0  # max_buffered_bytes (0: no cap)
        self._budget_seen = 0
        self._budget_timer: Optional[asyncio.TimerHandle] = None
        self.owner = 0
        self.view: Any = None
        self.event: Any = None
        self.read_buffer: Any = None  # the loop's read buffer (ours, lent to the core)
        self.read_view: Any = None  # a memoryview of it: on_data(copy=False) slices it
        self.aio_loop: Optional[asyncio.AbstractEventLoop] = None
        self.reactor: Optional[Reactor] = None
        self.polling = False  # the reactor polls: an asyncio loop is running (loop.py)
        self.token = 0
        self.seq = 0
        self.live: dict[int, AppResponse] = {}
        self.tasks: set[asyncio.Future[Any]] = set()
        self.error_handler: Optional[Handler] = None
        self.exception_sink: Optional[Callable[[BaseException], Any]] = None
        self.json: Any = None
        self.template: Any = None
        self.ws_hub: Any = None  # websocket.routes._Hub once a ws route exists
        # WebSocket routes have their own router: they win upgrade requests (see on_request)
        self.ws_router: Optional[Router] = None
        self.ws_match: Optional[Callable[[str, str], Any]] = None
        self.pubsub: Any = None  # a socketify.pubsub backend: publishes to other processes
        self.finished_hooks: list[Callable[[AppResponse, Finished], Any]] = []
        # PERF: responses are built from this class; a hook swaps in a subclass that
        # reports endings, so a response without hooks pays nothing.
        self.response_type: type[AppResponse] = AppResponse

    # ---- finished hooks ------------------------------------------------------------------------
    def on_finished(self, hook: Callable[[AppResponse, Finished], Any]) -> None:
        """Call ``hook(res, info)`` once when each response ends or is aborted."""
        if not callable(hook):
            raise TypeError(f"finished hook is not callable: {hook!r}")
        self.finished_hooks.append(hook)
        self.response_type = _ObservedResponse
        self.spare_res = None  # a plain response kept for reuse would not report

    def finished(self, res: AppResponse, info: Finished) -> None:
        for hook in self.finished_hooks:
            try:
                hook(res, info)
            except Exception:
                logger.exception("a finished hook raised")

    def add_ws_route(self, pattern: str, handler: Handler) -> None:
        """Route WebSocket upgrades for ``pattern`` to ``handler(res, req)``."""
        router = self.ws_router
        if router is None:
            from socketify_router import Router

            router = self.ws_router = Router()
            self.ws_match = router.match
        handler.ws_route = True  # type: ignore[attr-defined]
        router.add("GET", pattern, handler)

    # ---- serializers and templates ---------------------------------------------------------
    def serializer(self) -> Any:
        serializer = self.json
        if serializer is None:
            from socketify_json import resolve

            serializer = self.json = resolve(None)
        return serializer

    # ---- the native loop -------------------------------------------------------------------
    def native_loop(self) -> Any:
        native = self.native
        if native is None:
            c_settings = ffi.new("sc_settings *")
            lib.sc_settings_default(c_settings)
            resolved = self._settings()
            limits.apply(resolved, c_settings)
            self.body_window = resolved["body_window"]
            if resolved["malloc_trim_threshold"]:
                # PERF (opt-in): a 64 KiB body allocated and freed per request no longer
                # grows and trims the heap each time (-20% server CPU on ASGI post64k)
                lib.sc_malloc_trim_threshold(resolved["malloc_trim_threshold"])
            if resolved["proxy_headers"]:
                self.proxy = ProxyHeaders(resolved["forwarded_allow_ips"])
            self.buffer_cap = resolved["max_buffered_bytes"]
            owner = _bridge.register(self)
            native = lib.sc_loop_new(c_settings, owner)
            if native == ffi.NULL:
                _bridge.unregister(owner)
                raise OSError("the socketify core could not create its loop (out of fds?)")
            self.owner = owner
            self.native = native
            # The loop reads into memory Python owns: on_data(copy=False) hands out views of
            # it, and a view kept past its callback keeps the memory alive (never freed C
            # memory, by construction).
            self.read_buffer = ffi.new("char[]", READ_BUFFER)
            lib.sc_loop_set_read_buffer(native, self.read_buffer, READ_BUFFER)
            self.read_view = memoryview(ffi.buffer(self.read_buffer))
            # PERF: the loop's request/event views are fixed structs: fetch them once.
            self.view = lib.sc_loop_request_view(native)
            self.event = lib.sc_loop_event_view(native)
            aio = self.aio_loop
            if aio is not None and not aio.is_closed():  # closed: run() binds a new one
                self.reactor = Reactor(native, aio, self)
                self._watch_budget()
            if self.pubsub is not None:
                self.pubsub.bind_loop(native, owner)
        return native

    def bind_loop(self, aio_loop: asyncio.AbstractEventLoop) -> None:
        """Run tasks on ``aio_loop`` and watch the core's fd there."""
        if self.reactor is not None:
            self.reactor.detach()
            self.reactor = None
        self.aio_loop = aio_loop
        if self.native is not None:
            self.reactor = Reactor(self.native, aio_loop, self)
            self._watch_budget()

    def _watch_budget(self) -> None:
        """With max_buffered_bytes, say (once per second at most) when the core closed
        connections to stay under it."""
        if not self.buffer_cap or self._budget_timer is not None or self.aio_loop is None:
            return
        self._budget_timer = self.aio_loop.call_later(1.0, self._check_budget)

    def _check_budget(self) -> None:
        self._budget_timer = None
        native = self.native
        if native is None or self.reactor is None:
            return
        closed = int(lib.sc_loop_budget_closed(native))
        if closed > self._budget_seen:
            logger.warning(
                "max_buffered_bytes (%d) exceeded: closed %d connection(s) holding the most "
                "buffered bytes (%d so far)",
                self.buffer_cap,
                closed - self._budget_seen,
                closed,
            )
            self._budget_seen = closed
        self._watch_budget()

    def unbind_loop(self) -> None:
        """Stop watching the core's fd (until the next ``bind_loop``)."""
        if self._budget_timer is not None:
            self._budget_timer.cancel()
            self._budget_timer = None
        if self.reactor is not None:
            self.reactor.detach()
            self.reactor = None

    def aio(self) -> asyncio.AbstractEventLoop:
        aio = self.aio_loop
        if aio is None or aio.is_closed():
            try:
                aio = asyncio.get_running_loop()
            except RuntimeError:
                aio = asyncio.new_event_loop()
            self.bind_loop(aio)
        return aio

    def release(self) -> None:
        """Free the native loop: every connection closes, tracked responses abort."""
        for res in list(self.live.values()):
            res._mark_aborted()
        self.live.clear()
        for task in list(self.tasks):
            task.cancel()
        self.unbind_loop()
        native = self.native
        if self.ws_hub is not None:
            self.ws_hub.release()  # every WebSocket turns stale before the loop is freed
        if native is not None:
            if self.pubsub is not None:
                self.pubsub.unbind_loop()
            self.native = None
            self.view = self.event = None
            lib.sc_loop_free(native)
            self.read_view = self.read_buffer = None
            _bridge.unregister(self.owner)
            self.owner = 0

    # ---- dispatch (called by the bridge) ------------------------------------------------------
    def _on_request(self, handle: int) -> None:
        view = self.view
        # PERF: the parser numbers the standard methods; only others are read as bytes.
        method = _METHOD_NAMES[view.method_id] or _unpack(view.method, view.method_len).decode(
            "latin-1"
        )
        path = _unpack(view.target, view.path_len).decode("latin-1")
        flags = view.flags
        ws_match = self.ws_match
        # PERF: without ws routes, one test of None.  Upgrade requests try the WebSocket
        # routes first (they outrank GET and ANY routes, as in uWebSockets); other
        # requests reach a ws route (its 426) only when no HTTP route matched.
        if ws_match is None:
            match = self.match(method, path)
        elif flags & REQ_UPGRADE:
            match = ws_match(method, path) or self.match(method, path)
        else:
            match = self.match(method, path) or ws_match(method, path)
        res = self.spare_res
        if res is None:
            res = self.response_type(self, handle, flags)
        else:
            # PERF: the last response, ended in its callback and kept by nothing (refcount
            # below): reset instead of allocating another.
            self.spare_res = None
            res._h = handle
            res._reqflags = flags
            res._state = FRESH
            res._status = None
            res._headers = None
            res._hflags = 0
            res.aborted = False
        if self.proxy is not None:
            res._fwd = forwarded(self.proxy, self.native, view)
        self.seq = token = self.seq + 1
        self.token = token
        req = self.spare
        if req is None:
            req = AppRequest(self, token, view, method, path, match)
        else:
            # PERF: the last request object, which nothing kept (refcount below): one
            # object per request instead of two.
            self.spare = None
            req._token = token
            req._view = view
            req._method = method
            req._path = path
            req._match = match
            req._yield = False
            req._copied = None
        try:
            if match is None:
                self.no_route(res, path)
            else:
                result = match.handler(res, req)
                # PERF: a sync handler returns None (or res): one identity test.
                if result is not None:
                    if result is not res:
                        self.handler_result(result, res, req)
                    result = None  # not a reference that keeps res from reuse (below)
                if req._yield:
                    self.yield_next(res, req)
        except Exception as exc:
            self.report(exc, res, req)
        finally:
            self.token = 0
        if _refcount is not None:
            if _refcount(req) == _UNSHARED:
                self.spare = req  # only this frame holds it: the next request reuses it
            if res._state != DONE:
                if res._ext is None:
                    self.track(res)
            elif res._ext is None and type(res) is AppResponse and _refcount(res) == _UNSHARED:
                self.spare_res = res
        elif res._state != DONE and res._ext is None:
            self.track(res)

    def handler_result(self, result: Any, res: Any, req: Any) -> None:
        if is_coroutine(result):
            self.spawn(result, res, req)
        elif hasattr(result, "__await__"):
            self.spawn(awaiting(result), res, req)

    def yield_next(self, res: AppResponse, req: AppRequest) -> None:
        match = req._match
        while req._yield and res._state != DONE:
            req._yield = False
            handler = match.handler
            match = match.next()
            if match is None and getattr(handler, "ws_route", False):
                # the last WebSocket route passed the request on: the HTTP routes come next
                match = self.match(req._method, req._path)
            if match is None:
                self.no_route(res, None)
                return
            req._match = match
            result = match.handler(res, req)
            if result is not None and result is not res:
                self.handler_result(result, res, req)

    def no_route(self, res: AppResponse, path: Optional[str]) -> None:
        allowed = self.router.allowed_methods(path) if path is not None else []
        if path is not None and self.ws_router is not None:
            allowed = sorted(set(allowed) | set(self.ws_router.allowed_methods(path)))
        if allowed:
            res.write_status(405).write_header(b"Allow", ", ".join(allowed))
            res.write_header(b"Content-Type", b"text/plain").end(b"Method Not Allowed")
        else:
            res.write_status(404).write_header(b"Content-Type", b"text/plain").end(b"Not Found")

    def track(self, res: AppResponse) -> _Extras:
        ext = res._ext
        if ext is None:
            ext = res._ext = _Extras()
        if res._state != DONE:
            self.live[res._h] = res
        return ext

    def untrack(self, res: AppResponse) -> None:
        self.live.pop(res._h, None)

    # The core's callbacks for live responses.  A handler registered through on_data,
    # on_writable or on_aborted runs in the context it was registered in (_Extras.context:
    # for the adapters' drain handlers that is the app's); the adapters' body handlers, set
    # directly, run in none: PERF, no context per body chunk.  What may run a user's code
    # with no context of the handler's (an abort, an error handler) gets a fresh copy, as
    # every callback did.
    def _on_data(self, handle: int) -> None:
        res = self.live.get(handle)
        if res is None:
            return
        ext = res._ext
        context = ext.context if ext is not None else None
        if context is None:
            self._data(res, ext, True)
        else:
            _run_in(context, self._data, res, ext, False)

    def _data(self, res: AppResponse, ext: Optional[_Extras], isolate: bool) -> None:
        """One chunk of the event view to ``res`` (no exception escapes: see _run_in)."""
        event = self.event
        if ext is None or not ext.views:
            chunk = _unpack(event.data, event.len)
            try:
                res._receive(chunk, bool(event.is_end))
            except Exception as exc:
                self._report_in(isolate, exc, res)
            return
        # on_data(copy=False): a view of the read buffer when the bytes lie there (PERF: no
        # copy), else of a copy; released after the call, so a chunk kept without a copy
        # fails loudly on use instead of showing later bytes.
        off = event.read_off
        n = event.len
        view = self.read_view[off : off + n] if off >= 0 else memoryview(_unpack(event.data, n))
        try:
            res._receive(view, bool(event.is_end))
        except Exception as exc:
            self._report_in(isolate, exc, res)
        try:
            view.release()
        except BufferError:
            self._report_in(
                isolate,
                BufferError(
                    "on_data(copy=False): a buffer taken from a chunk outlived its callback; "
                    "copy what you keep with bytes(chunk)"
                ),
                res,
            )

    def _report_in(self, isolate: bool, exc: BaseException, res: AppResponse) -> None:
        if isolate:  # no context of the request's: the error handler gets a fresh copy
            copy_context().run(self.report, exc, res, None)
        else:
            self.report(exc, res, None)

    def _on_aborted(self, handle: int) -> None:
        res = self.live.pop(handle, None)
        if res is not None:
            ext = res._ext
            context = ext.context if ext is not None else None
            if context is None:  # (not `or`: an empty Context is falsy)
                context = copy_context()
            # _mark_aborted reports what the abort handler raises (no exception escapes)
            _run_in(context, res._mark_aborted)

    def _on_writable(self, handle: int, offset: int) -> bool:
        res = self.live.get(handle)
        ext = res._ext if res is not None else None
        handler = ext.writable_handler if ext is not None else None
        if handler is None:
            return True
        context = ext.context  # type: ignore[union-attr]
        if context is None:
            context = copy_context()
        return _run_in(context, self._writable, res, ext, handler, offset)  # type: ignore[no-any-return]

    def _writable(
        self, res: AppResponse, ext: _Extras, handler: Callable[..., Any], offset: int
    ) -> bool:
        try:
            done = bool(handler(res, offset))
        except Exception as exc:
            self.report(exc, res, None)
            return True
        if done:
            ext.writable_handler = None
        return done

    # ---- coroutines ----------------------------------------------------------------------------
    def spawn(self, coro: Any, res: Optional[AppResponse], req: Optional[AppRequest]) -> Any:
        """First step now, the rest as a Task whose exceptions go to ``report``."""
        aio = self.aio()
        finished, pending = start(coro, aio)
        if finished:
            return None
        if res is not None and res._state != DONE:
            self.track(res)  # async handlers always get the abort handler
        task = aio.create_task(self._resume(coro, pending, res, req))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _resume(self, coro: Any, pending: Any, res: Any, req: Any) -> None:
        try:
            await Resume(coro, pending)
        except Exception as exc:
            followup = self.report(exc, res, req)
            if followup is not None:
                await followup

    def run_async(self, coro: Any, response: Optional[AppResponse] = None) -> Any:
        """Run a coroutine now up to its first await, the rest as a task; returns an
        awaitable.  Its exceptions go to the error handler (with ``response``)."""
        if response is not None:
            response.grab_aborted_handler()
        if not is_coroutine(coro):
            if not hasattr(coro, "__await__"):
                raise TypeError(f"run_async() needs a coroutine, not {type(coro).__name__}")
            coro = awaiting(coro)
        aio = self.aio()
        try:
            task = self.spawn(coro, response, None)
        except Exception as exc:
            self.report(exc, response, None)
            task = None
        if task is None:
            done = aio.create_future()
            done.set_result(None)
            return done
        return task

    # ---- errors --------------------------------------------------------------------------------
    def sink(self, exc: BaseException) -> None:
        sink = self.exception_sink
        if sink is not None:
            try:
                sink(exc)
            except Exception:
                logger.exception("the exception sink raised")

    def fallback(self, res: Optional[AppResponse], exc: Optional[BaseException] = None) -> None:
        """The answer when nothing else answered: close if the head is out, nothing once it
        ended, else 500 -- or the 4xx an error of ours carries in ``status_hint`` (a bad
        body, a multipart limit), with its message, closing the connection because the
        rest of the refused body may still be on its way."""
        if res is None or res._state == DONE:
            return
        if res._state != FRESH:
            res.close()
            return
        res._status = None
        res._headers = None
        res._hflags = 0
        hint = getattr(exc, "status_hint", 500)
        if isinstance(exc, SocketifyError) and isinstance(hint, int) and 400 <= hint < 500:
            res.write_status(hint).write_header(b"Content-Type", b"text/plain; charset=utf-8")
            res.end(f"{REASONS.get(hint, 'Error')}: {exc}", end_connection=True)
            return
        res.write_status(500).write_header(b"Content-Type", b"text/plain")
        res.end(b"Internal Server Error")

    def report(self, exc: BaseException, res: Optional[AppResponse], req: Any) -> Any:
        """Route an exception; returns a Task when an async error handler is still running."""
        self.handler_errors += 1
        handler = self.error_handler
        if handler is None:
            logger.error("unhandled exception in a socketify handler", exc_info=exc)
            self.fallback(res, exc)
            self.sink(exc)
            return None
        try:
            result = handler(exc, res, req)
            if result is not None and hasattr(result, "__await__"):
                coro = result if is_coroutine(result) else awaiting(result)
                finished, pending = start(coro, self.aio())
                if not finished:
                    task = self.aio().create_task(self._finish_report(coro, pending, exc, res))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                    return task
        except Exception as handler_exc:
            self._handler_failed(exc, handler_exc, res)
            return None
        self.fallback(res, exc)
        self.sink(exc)
        return None

    async def _finish_report(self, coro: Any, pending: Any, exc: BaseException, res: Any) -> None:
        try:
            await Resume(coro, pending)
        except Exception as handler_exc:
            self._handler_failed(exc, handler_exc, res)
            return
        self.fallback(res, exc)
        self.sink(exc)

    def _handler_failed(self, exc: BaseException, handler_exc: BaseException, res: Any) -> None:
        logger.error("unhandled exception in a socketify handler", exc_info=exc)
        logger.error("the error handler raised too", exc_info=handler_exc)
        self.fallback(res, exc)
        self.sink(exc)
        self.sink(handler_exc)


def _run_in(context: Context, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in ``context``; in a copy of it when ``context`` is entered already
    (the core called back from inside a call made in it: ``res.close()`` in an ``on_data``
    handler aborts that response at once).  A copy, not in place: the context in force
    then may be another one, entered inside ``context``'s call."""
    try:
        return context.run(fn, *args)
    except RuntimeError as exc:
        # the refusal to enter a context twice (CPython's and PyPy's words); ``fn`` is ours
        # and reports what its handlers raise, so it had not started
        if "already entered" not in str(exc):
            raise
        return context.copy().run(fn, *args)


class Finished:
    """What a finished hook learns about one response (``app.on_finished``)."""

    __slots__ = (
        "aborted",
        "body_bytes",
        "client",
        "duration",
        "http_version",
        "method",
        "started",
        "status",
        "target",
    )

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        client: str,
        started: float,
        status: int,
        body_bytes: int,
        duration: float,
        aborted: bool,
    ) -> None:
        self.method = method  # "GET"
        self.target = target  # path and query as sent
        self.http_version = http_version  # "1.1"
        self.client = (
            client  # the peer's address as text ("" when unknown; proxy_headers: the client)
        )
        self.started = started  # time.time() when the request head was dispatched
        self.status = status  # 101 for a WebSocket upgrade; what was sent when aborted
        self.body_bytes = body_bytes  # body bytes handed to the core
        self.duration = duration  # seconds from dispatch to the end
        self.aborted = aborted  # the client went away before the response ended

    def __repr__(self) -> str:
        state = " aborted" if self.aborted else ""
        return f"<Finished {self.method} {self.target} {self.status}{state}>"


_ADDRESS_SIZE = 64


class _ObservedResponse(AppResponse):
    """An AppResponse whose ending is reported once to the runtime's finished hooks.

    It records what the hooks need while the request view is valid (method, target, version,
    client, start time), counts the body bytes it hands to the core, and reports from every
    way a response ends: ``end``/``cork_end``/``send`` (through ``end``),
    ``end_without_body``, the last ``try_end``, ``send_fd`` (files: counted when queued),
    ``_finished``
    (the WebSocket upgrade) and ``_mark_aborted``.
    """

    __slots__ = ("_obs_client", "_obs_line", "_obs_perf", "_obs_wall", "_sent")

    def __init__(self, rt: Runtime, handle: int, request_flags: int = 0) -> None:
        super().__init__(rt, handle, request_flags)
        view = rt.view  # valid: responses are built inside the on_request callback
        method = _unpack(view.method, view.method_len).decode("latin-1")
        target = _unpack(view.target, view.target_len).decode("latin-1")
        self._obs_line = (method, target, f"1.{view.http_minor}")
        buf = ffi.new("char[]", _ADDRESS_SIZE)
        n = lib.sc_res_remote_address(rt.native, handle, buf, _ADDRESS_SIZE)
        self._obs_client = _unpack(buf, n).decode("ascii", "replace") if n > 0 else ""
        self._obs_wall = time.time()
        self._obs_perf = time.perf_counter()
        self._sent = 0

    def _report_finished(self, aborted: bool, status: Optional[int] = None) -> None:
        perf = self._obs_perf
        if not perf:
            return  # reported already
        self._obs_perf = 0.0
        if status is None:
            head = self._status
            status = int(head[:3]) if head else 200
        method, target, version = self._obs_line
        info = Finished(
            method,
            target,
            version,
            self._forwarded_client() or self._obs_client,  # proxy_headers: the client
            self._obs_wall,
            status,
            self._sent,
            time.perf_counter() - perf,
            aborted,
        )
        self._rt.finished(self, info)

    def _file_queued(self, count: int) -> None:
        self._sent += count

    def _count(self, message: Any) -> Any:
        # Serialize here, once, so the byte count is exact; AppResponse gets bytes.
        if message is None or type(message) is bytes:
            body = message
        else:
            body = self._body(message)
        if body is not None:
            self._sent += len(body)
        return body

    def end(self, message: Any = None, end_connection: bool = False) -> AppResponse:
        if self._state == DONE:
            return self
        sent = self._sent
        body = self._count(message)
        try:
            AppResponse.end(self, body, end_connection)
        except BaseException:
            self._sent = sent  # refused: nothing was sent (the error's 500 counts its own)
            raise
        self._report_finished(self.aborted)
        return self

    cork_end = end

    def end_without_body(self, end_connection: bool = False) -> AppResponse:
        if self._state == DONE:
            return self
        AppResponse.end_without_body(self, end_connection)
        self._report_finished(self.aborted)
        return self

    def write(self, message: Any) -> AppResponse:
        if self._state == DONE:
            return self
        return AppResponse.write(self, self._count(message))

    def try_end(
        self, message: Any, total_size: int, end_connection: bool = False
    ) -> tuple[bool, bool]:
        if self._state == DONE:
            return (False, True)
        sent, self._sent = self._sent, total_size  # what a finishing try_end reports
        ok, done = AppResponse.try_end(self, message, total_size, end_connection)
        if done:
            self._report_finished(self.aborted)
        else:
            self._sent = sent
        return (ok, done)

    def _finished(self, rc: int = 0) -> None:
        AppResponse._finished(self, rc)
        self._report_finished(self.aborted)

    def _mark_aborted(self) -> None:
        AppResponse._mark_aborted(self)
        self._report_finished(True)
