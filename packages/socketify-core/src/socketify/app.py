"""App: routes, the request dispatch, listen/run/close, lifespan and errors.

Request lifecycle (theory of operation)
---------------------------------------
1. The core parses a request head and calls ``sc_py_on_request(owner, handle)``; the bridge
   finds this App by owner id and calls ``App._on_request(handle)``.  Inside that call the
   loop's one request view is valid and all output is corked into the current batch.
2. Dispatch decodes only the method and the path (needed to route), bumps the app's request
   token, and builds an AppResponse (handle) and an AppRequest (view + token).
3. ``router.match(method, path)`` picks the handler.  No match: ``allowed_methods(path)``
   tells 405 (with ``Allow``) from 404.  HEAD falls back to GET in the router; the core
   suppresses the body.
4. The handler runs.  A coroutine handler runs up to its first ``await`` right here
   (coroutines.start), then continues as an asyncio Task; ``req.set_yield(True)`` passes
   the request to ``match.next()`` (404 when none is left).
5. When the callback returns, the token is cleared: the request view is dead and a request
   that was not ``preserve()``-d refuses to be read.  A response that did not end is
   *tracked* (handle -> response) so on_data / on_aborted / on_writable find it; one that
   ended is forgotten (PERF: nothing to undo on the common path).
6. The core flushes the batch: one write per connection.  Later writes (from tasks) are
   their own small batches; the core wakes its epoll fd to parse any pipelined request.

Errors: anything a handler, middleware, abort/data/writable callback or task raises goes to
``_report``: the user's error handler (sync or async) or the default (log with traceback);
then, if nothing was sent, 500 ``Internal Server Error``; if the head was already sent, the
connection is closed (the response cannot be repaired).  ``_exception_sink`` (used by the
TestClient) sees every exception after that.

Shutdown (``close()`` while ``run()`` runs, or SIGINT/SIGTERM): stop listening, drain idle
keep-alive connections, wait up to ``shutdown_timeout`` for in-flight responses and tasks,
close what is left, run on_shutdown handlers, free the native loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import threading
from typing import Any, Callable, Optional

from socketify_router import RouteGroup, Router

from . import _bridge, limits
from . import websocket as _ws
from ._native import ffi, lib
from .coroutines import Resume, awaiting, is_coroutine, start
from .enums import OpCode
from .errors import SocketifyError
from .loop import Reactor
from .memory import MemoryConnection
from .options import AppListenOptions, AppOptions
from .request import AppRequest
from .response import DONE, FRESH, AppResponse, _Extras
from .status import REASONS

logger = logging.getLogger("socketify")

Handler = Callable[..., Any]
_unpack = ffi.unpack
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


def _route_method(method: str) -> Callable[..., Any]:
    def register(self: App, pattern: str, handler: Optional[Handler] = None) -> Any:
        if handler is None:

            def decorator(function: Handler) -> Handler:
                self.add(method, pattern, function)
                return function

            return decorator
        return self.add(method, pattern, handler)

    register.__name__ = register.__qualname__ = method.lower()
    register.__doc__ = (
        f"Route {method} requests for ``pattern`` to ``handler(res, req)``; returns the app."
    )
    return register


class App:
    """A socketify application: routes, settings, listeners and the native loop."""

    # ---- CLI hook (issue 9): accesslog.enable() swaps in a logging subclass per app ----------
    _response_type: type[AppResponse] = AppResponse
    # ---- end CLI hook ------------------------------------------------------------------------

    def __init__(self, options: Optional[AppOptions] = None, **settings: Any) -> None:
        if options is not None:
            if not isinstance(options, AppOptions):
                raise TypeError(f"options must be an AppOptions or None, not {options!r}")
            if options.wants_tls():
                raise NotImplementedError("TLS is not built yet: serve plain HTTP behind a proxy")
        self._pubsub: Any = None
        pubsub = settings.pop("pubsub", None)
        self._settings = limits.validate(settings)
        self._options = options
        self._router = Router()
        self._match_route = self._router.match  # PERF: one bound method, not two lookups
        self._native: Any = None
        self._owner = 0
        self._view: Any = None
        self._event: Any = None
        self._aio_loop: Optional[asyncio.AbstractEventLoop] = None
        self._reactor: Optional[Reactor] = None
        self._token = 0
        self._seq = 0
        self._live: dict[int, AppResponse] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._error_handler: Optional[Handler] = None
        self._exception_sink: Optional[Callable[[BaseException], Any]] = None
        self._start_handlers: list[Handler] = []
        self._shutdown_handlers: list[Handler] = []
        self._json: Any = None
        self._template: Any = None
        self._listeners: list[AppListenOptions] = []
        self._stop: Optional[asyncio.Event] = None
        self._stop_requested = False
        self._running = False
        self._ws_hub: Any = None  # websocket._Hub once a ws route exists
        if pubsub is not None:
            self._use_pubsub(pubsub)

    @property
    def settings(self) -> dict[str, Any]:
        """The validated settings (a copy)."""
        return dict(self._settings)

    # ---- CLI hook (issue 9): command-line settings override the app's own -------------------
    def _override_settings(self, settings: dict[str, Any]) -> None:
        """Replace some settings (validated) before the native loop exists."""
        if self._native is not None:
            raise RuntimeError("settings can only change before the app listens")
        self._settings = limits.validate({**self._settings, **settings})

    # ---- end CLI hook ------------------------------------------------------------------------

    # ---- routes -------------------------------------------------------------------------
    def add(self, method: str, pattern: str, handler: Handler, name: Optional[str] = None) -> App:
        """Register ``handler`` for ``method`` (``"GET"``, ..., ``"ANY"``) and ``pattern``."""
        if not callable(handler):
            raise TypeError(f"handler for {method} {pattern!r} is not callable: {handler!r}")
        if not isinstance(method, str):
            raise TypeError(f"method must be a str, not {type(method).__name__}")
        self._router.add(method.upper(), pattern, handler, name=name)
        return self

    get = _route_method("GET")
    post = _route_method("POST")
    put = _route_method("PUT")
    delete = _route_method("DELETE")
    patch = _route_method("PATCH")
    options = _route_method("OPTIONS")
    head = _route_method("HEAD")
    connect = _route_method("CONNECT")
    trace = _route_method("TRACE")
    any = _route_method("ANY")

    def router(self, prefix: str = "", *middlewares: Handler) -> RouteGroup:
        """A route group: ``@group.get(path)`` registers ``prefix + path`` behind
        ``middlewares`` and returns the function."""
        return RouteGroup(self, prefix, *middlewares)

    def url_for(self, name: str, **params: Any) -> str:
        """The path of the route registered with ``name``."""
        return self._router.url_for(name, **params)

    # ---- WebSockets (websocket.py) ----------------------------------------------------------
    def ws(self, pattern: str, behavior: Any = None) -> App:
        """Route WebSocket upgrades on ``pattern``; ``behavior`` holds the handlers
        (upgrade/open/message/drain/ping/pong/close/subscription) and options."""
        _ws.register_ws(self, pattern, behavior)
        return self

    def static(self, route: str, directory: str) -> App:
        """Serve the files under ``directory`` at ``route`` (GET/HEAD, ranges, caching)."""
        from .static import static

        static(self, route, directory)
        return self

    # ---- configuration ----------------------------------------------------------------------
    def json_serializer(self, module: Any) -> App:
        """Use ``module`` (anything with ``dumps``/``loads``) for JSON bodies."""
        from socketify_json import resolve

        self._json = resolve(module)
        return self

    def _serializer(self) -> Any:
        serializer = self._json
        if serializer is None:
            from socketify_json import resolve

            serializer = self._json = resolve(None)
        return serializer

    def template(self, engine: Any) -> App:
        """An object with ``render(*args, **kwargs) -> str`` for ``res.render``."""
        if not callable(getattr(engine, "render", None)):
            raise TypeError("a template engine needs a render(*args, **kwargs) method")
        self._template = engine
        return self

    def on_start(self, handler: Handler) -> Handler:
        """Run ``handler()`` (sync or async) when the app starts; usable as a decorator."""
        if not callable(handler):
            raise TypeError(f"on_start handler is not callable: {handler!r}")
        self._start_handlers.append(handler)
        return handler

    def on_shutdown(self, handler: Handler) -> Handler:
        """Run ``handler()`` (sync or async) after the app stopped serving."""
        if not callable(handler):
            raise TypeError(f"on_shutdown handler is not callable: {handler!r}")
        self._shutdown_handlers.append(handler)
        return handler

    def on_error(self, handler: Handler) -> Handler:
        """``handler(error, res, req)`` (sync or async) for exceptions; a decorator."""
        if not callable(handler):
            raise TypeError(f"error handler is not callable: {handler!r}")
        self._error_handler = handler
        return handler

    def set_error_handler(self, handler: Optional[Handler]) -> App:
        if handler is not None and not callable(handler):
            raise TypeError(f"error handler is not callable: {handler!r}")
        self._error_handler = handler
        return self

    # ---- pub/sub (websocket.py) -----------------------------------------------------------------
    def publish(
        self, topic: Any, message: Any, opcode: Optional[OpCode] = None, compress: bool = False
    ) -> bool:
        """Send to every WebSocket subscribed to ``topic`` (str: TEXT, bytes: BINARY unless
        ``opcode`` says otherwise); True when anyone got it."""
        return _ws.publish(self, topic, message, opcode, compress)

    def num_subscribers(self, topic: Any) -> int:
        """Subscribers of ``topic`` in this process (a pub/sub backend does not add others)."""
        return _ws.num_subscribers(self, topic)

    @property
    def pubsub(self) -> Any:
        """The pub/sub backend (socketify.pubsub) carrying publishes to other processes, or
        None (local delivery only).  Its ``stats`` count what was sent, received, dropped."""
        return self._pubsub

    def _use_pubsub(self, spec: Any) -> None:
        """Set the backend: a URL (redis://, rediss://, unix://) or a pubsub.Backend."""
        from . import pubsub

        if self._native is not None:
            raise RuntimeError("set the pub/sub backend before the app listens or serves")
        backend = pubsub.resolve(spec)
        if backend is not None:
            backend.attach(self)
        self._pubsub = backend

    # ---- the native loop ------------------------------------------------------------------------
    def _native_loop(self) -> Any:
        native = self._native
        if native is None:
            c_settings = ffi.new("sc_settings *")
            lib.sc_settings_default(c_settings)
            limits.apply(self._settings, c_settings)
            owner = _bridge.register(self)
            native = lib.sc_loop_new(c_settings, owner)
            if native == ffi.NULL:
                _bridge.unregister(owner)
                raise OSError("the socketify core could not create its loop (out of fds?)")
            self._owner = owner
            self._native = native
            # PERF: the loop's request/event views are fixed structs: fetch them once.
            self._view = lib.sc_loop_request_view(native)
            self._event = lib.sc_loop_event_view(native)
            if self._aio_loop is not None:
                self._reactor = Reactor(native, self._aio_loop)
            if self._pubsub is not None:
                self._pubsub.bind_loop(native, owner)
        return native

    def get_native_handle(self) -> Any:
        """The core's ``sc_loop *`` (a cffi pointer)."""
        return self._native_loop()

    def _bind_loop(self, aio_loop: asyncio.AbstractEventLoop) -> None:
        """Run tasks on ``aio_loop`` and watch the core's fd there."""
        if self._reactor is not None:
            self._reactor.detach()
            self._reactor = None
        self._aio_loop = aio_loop
        if self._native is not None:
            self._reactor = Reactor(self._native, aio_loop)

    def _aio(self) -> asyncio.AbstractEventLoop:
        aio = self._aio_loop
        if aio is None or aio.is_closed():
            try:
                aio = asyncio.get_running_loop()
            except RuntimeError:
                aio = asyncio.new_event_loop()
            self._bind_loop(aio)
        return aio

    def _memory_connection(
        self, remote: tuple[str, int] = ("127.0.0.1", 50000)
    ) -> MemoryConnection:
        """A client connection on the in-memory transport (the TestClient's)."""
        return MemoryConnection(self, remote)

    def _release(self) -> None:
        """Free the native loop: every connection closes, tracked responses abort."""
        for res in list(self._live.values()):
            res._mark_aborted()
        self._live.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._reactor is not None:
            self._reactor.detach()
            self._reactor = None
        native = self._native
        if self._ws_hub is not None:
            self._ws_hub.release()  # every WebSocket turns stale before the loop is freed
        if native is not None:
            if self._pubsub is not None:
                self._pubsub.unbind_loop()
            self._native = None
            self._view = self._event = None
            lib.sc_loop_free(native)
            _bridge.unregister(self._owner)
            self._owner = 0
        self._listeners.clear()

    # ---- dispatch (called by the bridge) ----------------------------------------------------------
    def _on_request(self, handle: int) -> None:
        view = self._view
        # PERF: the parser numbers the standard methods; only others are read as bytes.
        method = _METHOD_NAMES[view.method_id] or _unpack(view.method, view.method_len).decode(
            "latin-1"
        )
        path = _unpack(view.target, view.path_len).decode("latin-1")
        match = self._match_route(method, path)
        # PERF: one attribute lookup; the access log's subclass costs nothing when it is off.
        res = self._response_type(self, handle, view.flags)
        self._seq = token = self._seq + 1
        self._token = token
        req = AppRequest(self, token, view, method, path, match)
        try:
            if match is None:
                self._no_route(res, path)
            else:
                result = match.handler(res, req)
                # PERF: a sync handler returns None (or res): one identity test.
                if result is not None and result is not res:
                    self._handler_result(result, res, req)
                if req._yield:
                    self._yield_next(res, req)
        except Exception as exc:
            self._report(exc, res, req)
        finally:
            self._token = 0
        if res._state != DONE and res._ext is None:
            self._track(res)

    def _handler_result(self, result: Any, res: AppResponse, req: AppRequest) -> None:
        if is_coroutine(result):
            self._spawn(result, res, req)
        elif hasattr(result, "__await__"):
            self._spawn(awaiting(result), res, req)

    def _yield_next(self, res: AppResponse, req: AppRequest) -> None:
        match = req._match
        while req._yield and res._state != DONE:
            req._yield = False
            match = match.next()
            if match is None:
                self._no_route(res, None)
                return
            req._match = match
            result = match.handler(res, req)
            if result is not None and result is not res:
                self._handler_result(result, res, req)

    def _no_route(self, res: AppResponse, path: Optional[str]) -> None:
        allowed = self._router.allowed_methods(path) if path is not None else []
        if allowed:
            res.write_status(405).write_header(b"Allow", ", ".join(allowed))
            res.write_header(b"Content-Type", b"text/plain").end(b"Method Not Allowed")
        else:
            res.write_status(404).write_header(b"Content-Type", b"text/plain").end(b"Not Found")

    def _track(self, res: AppResponse) -> _Extras:
        ext = res._ext
        if ext is None:
            ext = res._ext = _Extras()
        if res._state != DONE:
            self._live[res._h] = res
        return ext

    def _untrack(self, res: AppResponse) -> None:
        self._live.pop(res._h, None)

    def _on_data(self, handle: int) -> None:
        res = self._live.get(handle)
        if res is None:
            return
        event = self._event
        chunk = _unpack(event.data, event.len)
        try:
            res._receive(chunk, bool(event.is_end))
        except Exception as exc:
            self._report(exc, res, None)

    def _on_aborted(self, handle: int) -> None:
        res = self._live.pop(handle, None)
        if res is not None:
            res._mark_aborted()

    def _on_writable(self, handle: int, offset: int) -> bool:
        res = self._live.get(handle)
        ext = res._ext if res is not None else None
        handler = ext.writable_handler if ext is not None else None
        if handler is None:
            return True
        try:
            done = bool(handler(res, offset))
        except Exception as exc:
            self._report(exc, res, None)
            return True
        if done and ext is not None:
            ext.writable_handler = None
        return done

    # ---- coroutines --------------------------------------------------------------------------------
    def _spawn(self, coro: Any, res: Optional[AppResponse], req: Optional[AppRequest]) -> Any:
        """First step now, the rest as a Task whose exceptions go to ``_report``."""
        aio = self._aio()
        finished, pending = start(coro, aio)
        if finished:
            return None
        if res is not None and res._state != DONE:
            self._track(res)  # async handlers always get the abort handler
        task = aio.create_task(self._resume(coro, pending, res, req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _resume(self, coro: Any, pending: Any, res: Any, req: Any) -> None:
        try:
            await Resume(coro, pending)
        except Exception as exc:
            followup = self._report(exc, res, req)
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
        aio = self._aio()
        try:
            task = self._spawn(coro, response, None)
        except Exception as exc:
            self._report(exc, response, None)
            task = None
        if task is None:
            done = aio.create_future()
            done.set_result(None)
            return done
        return task

    # ---- errors ------------------------------------------------------------------------------------
    def _sink(self, exc: BaseException) -> None:
        sink = self._exception_sink
        if sink is not None:
            try:
                sink(exc)
            except Exception:
                logger.exception("the exception sink raised")

    def _fallback(self, res: Optional[AppResponse], exc: Optional[BaseException] = None) -> None:
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

    def _report(self, exc: BaseException, res: Optional[AppResponse], req: Any) -> Any:
        """Route an exception; returns a Task when an async error handler is still running."""
        handler = self._error_handler
        if handler is None:
            logger.error("unhandled exception in a socketify handler", exc_info=exc)
            self._fallback(res, exc)
            self._sink(exc)
            return None
        try:
            result = handler(exc, res, req)
            if result is not None and hasattr(result, "__await__"):
                coro = result if is_coroutine(result) else awaiting(result)
                finished, pending = start(coro, self._aio())
                if not finished:
                    task = self._aio().create_task(self._finish_report(coro, pending, exc, res))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    return task
        except Exception as handler_exc:
            self._handler_failed(exc, handler_exc, res)
            return None
        self._fallback(res, exc)
        self._sink(exc)
        return None

    async def _finish_report(self, coro: Any, pending: Any, exc: BaseException, res: Any) -> None:
        try:
            await Resume(coro, pending)
        except Exception as handler_exc:
            self._handler_failed(exc, handler_exc, res)
            return
        self._fallback(res, exc)
        self._sink(exc)

    def _handler_failed(self, exc: BaseException, handler_exc: BaseException, res: Any) -> None:
        logger.error("unhandled exception in a socketify handler", exc_info=exc)
        logger.error("the error handler raised too", exc_info=handler_exc)
        self._fallback(res, exc)
        self._sink(exc)
        self._sink(handler_exc)

    # ---- lifespan ----------------------------------------------------------------------------------
    async def _run_hooks(self, hooks: list[Handler]) -> None:
        if not self._settings["lifespan"]:
            return
        for hook in list(hooks):
            try:
                result = hook()
                if result is not None and hasattr(result, "__await__"):
                    await result
            except Exception as exc:
                followup = self._report(exc, None, None)
                if followup is not None:
                    await followup

    async def _startup(self) -> None:
        """Run the on_start handlers (errors go to the error handler; startup goes on)."""
        await self._run_hooks(self._start_handlers)

    async def _shutdown(self) -> None:
        """Run the on_shutdown handlers."""
        await self._run_hooks(self._shutdown_handlers)

    # ---- listening ---------------------------------------------------------------------------------
    def listen(self, port_or_options: Any = None, handler: Optional[Handler] = None) -> App:
        """Listen on a port (0 picks one), a dict ``{port, host, options, domain}`` or
        AppListenOptions (``domain`` = Unix socket path); ``handler(config)`` gets the bound
        address.  A failure raises OSError."""
        config = AppListenOptions.coerce(port_or_options)
        native = self._native_loop()
        if config.domain is not None:
            rc = lib.sc_listen_unix(native, os.fsencode(config.domain), config.options)
            where = config.domain
            bound = config
        else:
            out_port = ffi.new("uint16_t *")
            host = config.host.encode("idna") if config.host else ffi.NULL
            rc = lib.sc_listen_tcp(native, host, config.port, config.options, out_port)
            where = f"{config.host or '*'}:{config.port}"
            bound = AppListenOptions(int(out_port[0]), config.host, config.options)
        if rc < 0:
            raise OSError(-rc, f"cannot listen on {where}: {os.strerror(-rc)}")
        self._listeners.append(bound)
        if handler is not None:
            _call_listen_handler(handler, bound)
        return self

    # ---- running -----------------------------------------------------------------------------------
    def _new_event_loop(self) -> asyncio.AbstractEventLoop:
        if self._settings["use_uvloop"]:
            try:
                import uvloop  # type: ignore[import-not-found]
            except ImportError:
                pass
            else:
                return uvloop.new_event_loop()  # type: ignore[no-any-return]
        return asyncio.new_event_loop()

    def run(self) -> App:
        """Serve until ``close()``, SIGINT or SIGTERM, then shut down gracefully."""
        if self._running:
            raise RuntimeError("this App is already running")
        self._running = True
        self._stop_requested = False
        try:
            aio = self._new_event_loop()
        except BaseException:
            self._running = False
            raise
        try:
            aio.run_until_complete(self._serve())
        finally:
            self._running = False
            self._release()
            aio.run_until_complete(aio.shutdown_asyncgens())
            aio.close()
        return self

    async def _serve(self) -> None:
        aio = asyncio.get_running_loop()
        if self._reactor is not None:  # not watched until on_start has finished
            self._reactor.detach()
            self._reactor = None
        self._aio_loop = aio
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        signals = []
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    aio.add_signal_handler(signum, self._stop.set)
                    signals.append(signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        try:
            # Connections wait in the listen backlog until on_start has finished, so every
            # request sees what startup made (an async on_start may take a while).
            await self._startup()
            self._bind_loop(aio)
            self._native_loop()
            if self._pubsub is not None:
                self._pubsub.start()
            await self._stop.wait()
            await self._drain()
            await self._shutdown()
        finally:
            if self._pubsub is not None:
                await self._pubsub.stop()
            for signum in signals:
                aio.remove_signal_handler(signum)
            self._stop = None

    async def _drain(self) -> None:
        native = self._native
        if native is None:
            return
        lib.sc_loop_close_listeners(native)
        lib.sc_loop_drain(native)
        aio = asyncio.get_running_loop()
        deadline = aio.time() + self._settings["shutdown_timeout"]
        # Bounded wait, only while shutting down: in-flight responses and tasks finish.
        while aio.time() < deadline and (
            self._live or self._tasks or lib.sc_loop_num_connections(native)
        ):
            await asyncio.sleep(0.01)
        for res in list(self._live.values()):
            res.close()
        for task in list(self._tasks):
            task.cancel()

    def close(self) -> App:
        """Stop: inside ``run()`` a graceful shutdown; otherwise free everything now."""
        if self._running:
            self._stop_requested = True
        stop = self._stop
        aio = self._aio_loop
        if self._running and stop is None:
            return self  # run() is starting: _serve sees the request and stops at once
        if self._running and stop is not None and aio is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is aio:
                stop.set()
            else:
                aio.call_soon_threadsafe(stop.set)
            return self
        self._release()
        return self

    def __repr__(self) -> str:
        where = ", ".join(opt.domain or f"{opt.host or '*'}:{opt.port}" for opt in self._listeners)
        return f"<App routes={len(self._router)} listening=[{where}]>"


def _call_listen_handler(handler: Handler, config: AppListenOptions) -> None:
    try:
        parameters = inspect.signature(handler).parameters.values()
        takes_config = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            for p in parameters
        )
    except (TypeError, ValueError):
        takes_config = True
    if takes_config:
        handler(config)
    else:
        handler()
