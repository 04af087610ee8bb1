"""App: routes, configuration, listen/run/close and lifespan.

What runs per request -- dispatch, live responses, tasks, error reporting -- is the
``Runtime`` (runtime.py) each App holds; its opening comment is the request lifecycle.

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
from .enums import OpCode
from .errors import TLSConfigError, core_error
from .memory import ExceptionSink, MemoryConnection
from .options import AppListenOptions, AppOptions
from .response import AppResponse
from .runtime import Finished, Runtime
from .tls import ServerTLS

logger = logging.getLogger("socketify")

Handler = Callable[..., Any]


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

    def __init__(self, options: Optional[AppOptions] = None, **settings: Any) -> None:
        if options is not None:
            if not isinstance(options, AppOptions):
                raise TypeError(f"options must be an AppOptions or None, not {options!r}")
        pubsub = settings.pop("pubsub", None)
        self._settings = limits.validate(settings)
        self._options = options
        self._router = Router()
        self._rt = Runtime(self, self._router, lambda: self._settings)
        if pubsub is not None:
            self.set_pubsub(pubsub)
        self._start_handlers: list[Handler] = []
        self._shutdown_handlers: list[Handler] = []
        self._listeners: list[AppListenOptions] = []
        self._stop: Optional[asyncio.Event] = None
        self._stop_requested = False
        self._running = False
        self._memory_host: Optional[AppMemoryHost] = None
        self._tls: Optional[ServerTLS] = None  # built from options at the first listen()
        self._sni: list[tuple[str, Optional[AppOptions]]] = []  # add/remove before listen
        self._missing_server_name: Optional[Handler] = None

    @property
    def settings(self) -> dict[str, Any]:
        """The validated settings (a copy)."""
        return dict(self._settings)

    def configure(self, **settings: Any) -> App:
        """Replace some settings (validated) before the app listens (the CLI's flags)."""
        if self._rt.native is not None:
            raise RuntimeError("settings can only change before the app listens")
        self._settings = limits.validate({**self._settings, **settings})
        return self

    @property
    def loop(self) -> Optional[asyncio.AbstractEventLoop]:
        """The asyncio loop the app runs on (None before it is bound to one)."""
        return self._rt.aio_loop

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

    # ---- WebSockets (websocket/) ------------------------------------------------------------
    def ws(self, pattern: str, behavior: Any = None) -> App:
        """Route WebSocket upgrades on ``pattern``; ``behavior`` holds the handlers
        (upgrade/open/message/drain/ping/pong/close/subscription) and options."""
        _ws.register_ws(self._rt, pattern, behavior)
        return self

    def set_ws_defaults(self, **defaults: Any) -> App:
        """Defaults for the options of every ``ws()`` route that does not set them."""
        _ws.set_ws_defaults(self._rt, defaults)
        return self

    def static(self, route: str, directory: str, dotfiles: bool = False) -> App:
        """Serve the files under ``directory`` at ``route`` (GET/HEAD, ranges, caching).

        Names starting with a dot (``.env``, ``.git/``) are 404 unless ``dotfiles=True``."""
        from .static import static

        static(self, route, directory, dotfiles=dotfiles)
        return self

    # ---- configuration ----------------------------------------------------------------------
    def json_serializer(self, module: Any) -> App:
        """Use ``module`` (anything with ``dumps``/``loads``) for JSON bodies."""
        from socketify_json import resolve

        self._rt.json = resolve(module)
        return self

    def template(self, engine: Any) -> App:
        """An object with ``render(*args, **kwargs) -> str`` for ``res.render``."""
        if not callable(getattr(engine, "render", None)):
            raise TypeError("a template engine needs a render(*args, **kwargs) method")
        self._rt.template = engine
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
        self._rt.error_handler = handler
        return handler

    def set_error_handler(self, handler: Optional[Handler]) -> App:
        if handler is not None and not callable(handler):
            raise TypeError(f"error handler is not callable: {handler!r}")
        self._rt.error_handler = handler
        return self

    def on_finished(self, hook: Callable[[Any, Finished], Any]) -> Callable[[Any, Finished], Any]:
        """``hook(res, info)`` runs once when each response ends, however it ends (end,
        send, try_end, sendfile, a WebSocket upgrade, the error fallback) or is aborted;
        ``info`` is a :class:`Finished`.  Usable as a decorator; the access log is one."""
        self._rt.on_finished(hook)
        return hook

    # ---- metrics (metrics.py) ---------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The core's counters: connections, requests by status class, bytes, WebSockets,
        backpressure drops, pub/sub deliveries, handler errors and a latency histogram."""
        from .metrics import stats_of

        return stats_of(self._rt)

    def metrics_route(self, path: str = "/metrics", registry: Any = None) -> App:
        """Serve the counters in the Prometheus text format at ``GET path``: through
        ``prometheus_client``'s registry when it is installed (``registry``, default its
        ``REGISTRY``: the app's own metrics share the endpoint), else written directly."""
        from .metrics import metrics_handler

        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"metrics_route path must start with '/', not {path!r}")
        self.get(path, metrics_handler(self, registry))
        self._rt.metrics_path = path.encode("latin-1")
        return self

    # ---- pub/sub (websocket/) -----------------------------------------------------------------
    def publish(
        self, topic: Any, message: Any, opcode: Optional[OpCode] = None, compress: bool = False
    ) -> bool:
        """Send to every WebSocket subscribed to ``topic`` (str: TEXT, bytes: BINARY unless
        ``opcode`` says otherwise); True when anyone got it."""
        return _ws.publish(self._rt, topic, message, opcode, compress)

    def num_subscribers(self, topic: Any) -> int:
        """Subscribers of ``topic`` in this process (a pub/sub backend does not add others)."""
        return _ws.num_subscribers(self._rt, topic)

    @property
    def pubsub(self) -> Any:
        """The pub/sub backend (socketify.pubsub) carrying publishes to other processes, or
        None (local delivery only).  Its ``stats`` count what was sent, received, dropped."""
        return self._rt.pubsub

    def set_pubsub(self, spec: Any) -> App:
        """Carry publishes to other processes through ``spec``: a Redis URL (redis://,
        rediss://, unix://), a socketify.pubsub Backend, or None (local only).  Same as
        ``App(pubsub=spec)``; only before the app listens."""
        from . import pubsub

        if self._rt.native is not None:
            raise RuntimeError("set the pub/sub backend before the app listens or serves")
        backend = pubsub.resolve(spec)
        if backend is not None:
            backend.attach(self)
        self._rt.pubsub = backend
        return self

    # ---- the native loop ------------------------------------------------------------------------
    def get_native_handle(self) -> Any:
        """The core's ``sc_loop *`` (a cffi pointer)."""
        return self._rt.native_loop()

    @property
    def serving(self) -> bool:
        """True once the native loop exists (the app listened or served a connection)."""
        return self._rt.native is not None

    def memory_host(self) -> AppMemoryHost:
        """The in-memory transport seam (see memory.py): what a TestClient drives."""
        host = self._memory_host
        if host is None:
            host = self._memory_host = AppMemoryHost(self)
        return host

    def run_async(self, coro: Any, response: Optional[AppResponse] = None) -> Any:
        """Run a coroutine now up to its first await, the rest as a task; returns an
        awaitable.  Its exceptions go to the error handler (with ``response``)."""
        return self._rt.run_async(coro, response)

    def _release(self) -> None:
        """Free the native loop: every connection closes, tracked responses abort."""
        self._rt.release()
        self._listeners.clear()
        if self._tls is not None:
            self._tls.free()  # after the loop: listeners and connections dropped theirs
            self._tls = None

    # ---- TLS -------------------------------------------------------------------------------
    @property
    def is_ssl(self) -> bool:
        """True when the App serves HTTPS (AppOptions with TLS files)."""
        return self._options is not None and self._options.wants_tls()

    def _server_tls(self) -> ServerTLS:
        """The core's TLS setup, built (and every file checked) on first use."""
        tls = self._tls
        if tls is None:
            assert self._options is not None
            tls = ServerTLS(self._options, self._settings["tls_handshake_timeout"])
            try:
                for hostname, options in self._sni:
                    if options is None:
                        tls.remove_server_name(hostname)
                    else:
                        tls.add_server_name(hostname, options)
            except BaseException:
                tls.free()
                raise
            if self._missing_server_name is not None:
                tls.watch_server_names(True)
            self._rt.native_loop()
            _bridge.register_tls(self._rt.owner, self._on_missing_server_name)
            self._tls = tls
        return tls

    def configure_tls(self, options: Optional[AppOptions]) -> App:
        """Replace the App's AppOptions (the CLI's --ssl-* flags) before it listens;
        None serves plain HTTP."""
        if options is not None and not isinstance(options, AppOptions):
            raise TypeError(f"options must be an AppOptions or None, not {options!r}")
        if self._listeners or self._tls is not None:
            raise RuntimeError("TLS options can only change before the app listens")
        self._options = options
        return self

    @property
    def app_options(self) -> Optional[AppOptions]:
        """The AppOptions the App was made with (or configure_tls set), or None."""
        return self._options

    def add_server_name(self, hostname: str, options: AppOptions) -> App:
        """Serve ``options``' certificate to clients asking for ``hostname`` (SNI);
        ``"*.example.com"`` matches one label.  Raises TLSConfigError for a bad file."""
        if not isinstance(options, AppOptions):
            raise TypeError(f"options must be an AppOptions, not {options!r}")
        if not self.is_ssl:
            raise TLSConfigError(
                "add_server_name needs an App serving TLS: App(AppOptions(key_file_name=..., "
                "cert_file_name=...))"
            )
        if self._tls is not None:
            self._tls.add_server_name(hostname, options)
        else:  # check the name and files now, not at listen()
            try:
                probe = ServerTLS(options, 0)
            except TLSConfigError as exc:
                raise TLSConfigError(f"server name {hostname!r}: {exc}") from None
            try:
                probe.add_server_name(hostname, options)
            finally:
                probe.free()
        self._sni.append((hostname, options))
        return self

    def remove_server_name(self, hostname: str) -> App:
        """Forget an SNI name: its clients get the default certificate again."""
        if self._tls is not None:
            self._tls.remove_server_name(hostname)
        self._sni.append((hostname, None))
        return self

    def missing_server_name(self, handler: Callable[[str], Any]) -> Callable[[str], Any]:
        """``handler(hostname)`` runs during a handshake whose server name is unknown; it
        may ``add_server_name`` it (used at once).  Without it, the default certificate."""
        if not callable(handler):
            raise TypeError(f"missing_server_name handler is not callable: {handler!r}")
        self._missing_server_name = handler
        if self._tls is not None:
            self._tls.watch_server_names(True)
        return handler

    def _on_missing_server_name(self) -> None:
        handler = self._missing_server_name
        event = self._rt.event
        if handler is None or event is None:
            return
        hostname = ffi.unpack(event.data, event.len).decode("latin-1")
        try:
            result = handler(hostname)
            if result is not None and hasattr(result, "__await__"):
                raise TypeError("missing_server_name handlers must be plain functions")
        except Exception as exc:
            self._rt.report(exc, None, None)

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
                followup = self._rt.report(exc, None, None)
                if followup is not None:
                    await followup

    async def startup(self) -> None:
        """Run the on_start handlers (errors go to the error handler; startup goes on)."""
        await self._run_hooks(self._start_handlers)

    async def shutdown(self) -> None:
        """Run the on_shutdown handlers."""
        await self._run_hooks(self._shutdown_handlers)

    # ---- listening ---------------------------------------------------------------------------------
    def listen(self, port_or_options: Any = None, handler: Optional[Handler] = None) -> App:
        """Listen on a port (0 picks one), a dict ``{port, host, options, domain}`` or
        AppListenOptions (``domain`` = Unix socket path); ``handler(config)`` gets the bound
        address.  A failure raises OSError."""
        config = AppListenOptions.coerce(port_or_options)
        native = self._rt.native_loop()
        tls = self._server_tls() if self.is_ssl else None  # TLSConfigError before binding
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
            raise core_error(rc, f"cannot listen on {where}")
        if tls is not None:
            tls.attach(native, rc)
        self._listeners.append(bound)
        if handler is not None:
            _call_listen_handler(handler, bound)
        return self

    def adopt_listener(self, fd: int) -> App:
        """Accept on an already listening descriptor (the CLI's workers share one); the
        core owns ``fd`` from now on.  TLS applies as to ``listen()``."""
        native = self._rt.native_loop()
        tls = self._server_tls() if self.is_ssl else None
        rc = lib.sc_listen_fd(native, fd)
        if rc < 0:
            raise core_error(rc, f"cannot adopt listening descriptor {fd}")
        if tls is not None:
            tls.attach(native, rc)
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
        rt = self._rt
        rt.unbind_loop()  # not watched until on_start has finished
        rt.aio_loop = aio
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
            await self.startup()
            rt.bind_loop(aio)
            rt.native_loop()
            if rt.pubsub is not None:
                rt.pubsub.start()
            await self._stop.wait()
            await self._drain()
            await self.shutdown()
        finally:
            if rt.pubsub is not None:
                await rt.pubsub.stop()
            for signum in signals:
                aio.remove_signal_handler(signum)
            self._stop = None

    async def _drain(self) -> None:
        rt = self._rt
        native = rt.native
        if native is None:
            return
        lib.sc_loop_close_listeners(native)
        lib.sc_loop_drain(native)
        aio = asyncio.get_running_loop()
        deadline = aio.time() + self._settings["shutdown_timeout"]
        # Bounded wait, only while shutting down: in-flight responses and tasks finish.
        while aio.time() < deadline and (
            rt.live or rt.tasks or lib.sc_loop_num_connections(native)
        ):
            await asyncio.sleep(0.01)
        for res in list(rt.live.values()):
            res.close()
        for task in list(rt.tasks):
            task.cancel()

    def close(self) -> App:
        """Stop: inside ``run()`` a graceful shutdown; otherwise free everything now."""
        if self._running:
            self._stop_requested = True
        stop = self._stop
        aio = self._rt.aio_loop
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


class AppMemoryHost:
    """``App.memory_host()``: the MemoryHost (socketify.memory) of a socketify App."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._rt = app._rt

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._rt.bind_loop(loop)

    async def startup(self) -> None:
        await self._app.startup()

    async def shutdown(self) -> None:
        await self._app.shutdown()

    def set_exception_sink(self, sink: ExceptionSink) -> ExceptionSink:
        previous = self._rt.exception_sink
        self._rt.exception_sink = sink
        return previous

    def open_connection(self, remote: tuple[str, int] = ("127.0.0.1", 50000)) -> MemoryConnection:
        return MemoryConnection(self._rt, remote)


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
