"""ASGI: an ASGI 3 application served by the native core.

``ASGI`` is an ``App`` whose dispatch is the application: the core parses the request and
calls ``_on_request``; the scope is built from the request view right there (the view dies
with the callback), and the application runs as a coroutine whose first step happens
inside the callback (a response sent before the first real suspension leaves in the same
batch, as for App handlers).  listen/run/close, settings, the memory transport the
TestClient drives, shutdown and the CLI all come from App unchanged.

Errors: an exception before ``http.response.start`` is a 500 (App's error path); after it
the connection is closed, so a keep-alive client never sees a half-framed response.
"""

from __future__ import annotations

import logging
import struct
from inspect import getattr_static
from types import CoroutineType, FunctionType, GeneratorType
from typing import Any, Callable, Optional
from urllib.parse import unquote_to_bytes

from .._native import ffi, lib
from ..adapter import AdapterRuntime, PerConnection, new_fields, pack_request
from ..app import App
from ..coroutines import (
    RETURNED,
    Failed,
    ResumeStepper,
    _get_running_loop,
    _set_running_loop,
    new_stepper,
)
from ..errors import ClientDisconnected
from ..proxy import forwarded
from ..response import DONE, AppResponse
from ..runtime import _METHOD_NAMES, Runtime
from ..tls import TLSFacts
from ..websocket import routes as _ws
from .http import HTTPCycle
from .lifespan import Lifespan
from .websocket import HANDLERS, WebSocketCycle

logger = logging.getLogger("socketify.asgi")

REQ_HAS_BODY = 2
REQ_UPGRADE = 32
SPEC_VERSION = "2.4"
_unpack = ffi.unpack
_remote_address = lib.sc_res_remote_address
_remote_port = lib.sc_res_remote_port
# sc_loop_pack_request's head: conn id, flags, method_id, http_minor, path_len, target_len
_unpack_head = struct.Struct("<QIBBxxII").unpack_from
_PACK_HEAD = lib.SC_REQUEST_PACK_HEAD
_ADDRESS = ffi.new("char[64]")  # PERF: one buffer, used on the loop thread only
_PERCENT = 0x25  # ord("%")
_NO_SERVER = object()
_NO_CLIENT = object()
_PEERS_MAX = 4096  # clients kept by connection id (ASGI._client)
# The extensions of every HTTP scope (each scope gets a copy of this dict; their values
# carry no settings).
# ASGI apps are written for uvicorn's WebSocket limits (16 MiB messages, ws_max_size), not
# the small defaults of app.ws(); a route's output still waits past the same 64 KiB.
ASGI_WS_DEFAULTS = {"max_payload_length": 16 * 1024 * 1024}


class ASGI(App):
    """Serve an ASGI 3 application: ``ASGI(app).listen(8000, handler).run()``.

    ``lifespan``: ``"auto"`` (use it when the app speaks it), ``"on"`` (a startup failure
    stops ``run()`` with LifespanFailure) or ``"off"``.  ``root_path``: the mount point the
    app is served under (``scope["root_path"]``).  ``websocket``: options of the WebSocket
    connections (as for ``app.ws()``: ``max_payload_length``, ``compression``,
    ``idle_timeout``, ``max_backpressure``...).  Other keywords are the App settings.
    """

    # The TestClient runs lifespan only inside `with` (as Starlette's does), never on the
    # first request.
    _lifespan_on_first_request = False

    def __init__(
        self,
        app: Callable[..., Any],
        lifespan: str = "auto",
        root_path: str = "",
        websocket: Optional[dict[str, Any]] = None,
        **settings: Any,
    ) -> None:
        if not callable(app):
            raise TypeError(f"ASGI() needs an ASGI application (a callable), not {app!r}")
        if not isinstance(root_path, str) or (root_path and not root_path.startswith("/")):
            raise ValueError(f"root_path must be empty or start with '/', not {root_path!r}")
        super().__init__(None, **settings)
        self._rt = AdapterRuntime(self, self._router, lambda: self._settings)
        self._fields = new_fields()
        self.application = app
        self._asgi = {"version": "3.0", "spec_version": SPEC_VERSION}
        self.root_path = root_path  # (a property: it renders the scope templates)
        self._lifespan = Lifespan(app, lifespan, self._asgi)
        options = dict(websocket or {})
        _ws.validate_ws_options(options)
        self._ws_spec = _ws._Behavior("/*", {**HANDLERS, **options})
        for name, value in ASGI_WS_DEFAULTS.items():
            if name not in options:  # still below the CLI's --ws-* flags (apply_defaults)
                self._ws_spec.options[name] = value
        hub = _ws._hub(self._rt)
        self._ws_spec.apply_defaults(hub.defaults)
        hub.specs.append(self._ws_spec)  # the CLI's --ws-* defaults reach it
        self._server_address: Any = _NO_SERVER
        self._peers = PerConnection(_PEERS_MAX)  # connection id -> client
        self._stepper: Any = None  # runs first steps (coroutines.new_stepper)
        self._last_block = b"\0"  # the previous request's packed header fields (_scope)
        self._last_headers: list[tuple[bytes, bytes]] = []

    @property
    def application(self) -> Callable[..., Any]:
        """The ASGI application served."""
        return self._application

    @application.setter
    def application(self, app: Callable[..., Any]) -> None:
        self._application = app
        # PERF: an app that is an instance of a class with a Python __call__ (Starlette,
        # FastAPI, most middleware) is called as that function with the instance: calling
        # the instance goes through the type's call slot, which looks __call__ up and
        # enters it from C (about 650 instructions more a request on CPython 3.11).
        # A class whose __call__ is replaced later is not followed: set application again.
        # (One attribute for the pair: an ASGI instance has about 30, the most CPython 3.11
        # keeps in the shared-key form its fast attribute reads need.)
        call = getattr_static(type(app), "__call__", None)  # as stored: a staticmethod stays one
        if type(call) is FunctionType and not isinstance(app, type):
            self._app_call: tuple[Callable[..., Any], Any] = (call, app)
        else:
            self._app_call = (app, None)

    # ---- lifespan (App calls these around serving; the TestClient on `with`) ------------
    async def startup(self) -> None:
        await self._lifespan.startup()

    async def shutdown(self) -> None:
        await self._lifespan.shutdown()

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan state; every request scope gets a shallow copy."""
        return self._lifespan.state

    @property
    def root_path(self) -> str:
        """The mount point the app is served under (``scope["root_path"]``)."""
        return self._root

    @root_path.setter
    def root_path(self, value: str) -> None:
        root = value.rstrip("/")
        self._root = root
        self._raw_root = root.encode("utf-8")
        # PERF: a scope is a copy of one of these dicts with its per-request keys stored
        # over the placeholders (a dict copy clones the key table; a literal inserts 13 keys)
        common = {
            "type": "http",
            "asgi": self._asgi,
            "http_version": "1.1",
            "scheme": "http",
            "path": "",
            "raw_path": b"",
            "query_string": b"",
            "root_path": root,
            "headers": None,
            "client": None,
            "server": None,
            "state": None,
        }
        self._http_scope = {**common, "method": "GET", "extensions": None}
        self._ws_scope = {**common, "type": "websocket", "scheme": "ws"}

    # ---- scope ----------------------------------------------------------------------------
    def _server(self) -> Any:
        server = self._server_address
        if server is _NO_SERVER:
            server = None
            if self._listeners:
                first = self._listeners[0]
                if first.domain is not None:
                    server = (first.domain, None)
                else:
                    server = (first.host or "0.0.0.0", first.port)
            self._server_address = server
        return server

    def listen(self, port_or_options: Any = None, handler: Any = None) -> App:
        self._server_address = _NO_SERVER
        return super().listen(port_or_options, handler)

    def _client(self, handle: int, conn: int) -> Any:
        """The peer of ``handle``, whose connection is ``conn`` (``sc_res_conn_id``).

        PERF: the requests of a keep-alive connection ask for the same peer: it is kept
        by connection id (adapter.PerConnection)."""
        native = self._rt.native
        size = _remote_address(native, handle, _ADDRESS, 64)
        if size <= 0:
            peer = None  # a Unix socket peer has no address
        else:
            peer = (_unpack(_ADDRESS, size).decode("ascii"), _remote_port(native, handle))
        self._peers.keep(native, conn, peer)
        return peer

    def _scope(
        self,
        packed: bytes,
        head: tuple[int, int, int, int, int, int],
        handle: int,
        template: dict[str, Any],
        scheme: str,
        fwd: Any,
    ) -> dict[str, Any]:
        """A copy of ``template`` (``_http_scope`` or ``_ws_scope``) with this request's
        values, from what ``sc_loop_pack_request`` packed (``packed``, its head unpacked
        as ``head``); the caller adds ``method``/``extensions``."""
        conn, _, _, minor, size, target_len = head
        end = _PACK_HEAD + target_len
        if size == target_len:  # PERF: no query, one slice
            raw_path = packed[_PACK_HEAD:end]
            query = b""
        else:
            raw_path = packed[_PACK_HEAD : _PACK_HEAD + size]
            query = packed[_PACK_HEAD + size + 1 : end]
        # PERF: `_PERCENT in raw_path` (an int), not `b"%" in raw_path`: bytes.__contains__
        # tries its argument as an int first, and for bytes that raises and formats a
        # TypeError it then clears (about 2,400 instructions a request).
        path = (unquote_to_bytes(raw_path) if _PERCENT in raw_path else raw_path).decode(
            "utf-8", "replace"
        )
        # PERF: the pairs of the previous request's header block are copied when this block
        # is the same bytes (a client's keep-alive requests, or alike clients, mostly send
        # the same headers): one bytes compare instead of a split and a tuple per field.
        # The list is a copy (an app may change its scope's list); the pairs are tuples of
        # bytes, immutable.
        block = packed[end + 1 : -1]  # "name\0value\0..." without its last NUL
        if block == self._last_block:
            headers = self._last_headers.copy()
        else:
            fields = iter(block.split(b"\0"))
            headers = list(zip(fields, fields))
            self._last_block = block
            self._last_headers = headers.copy()
        scope = template.copy()
        if minor != 1:
            scope["http_version"] = "1.0"
        if scheme != "http":
            scope["scheme"] = scheme
        if self._root:
            scope["path"] = self._root + path
            scope["raw_path"] = self._raw_root + raw_path
        else:
            scope["path"] = path
            scope["raw_path"] = raw_path
        if query:
            scope["query_string"] = query
        scope["headers"] = headers
        if fwd is not None and fwd[0]:
            scope["client"] = (fwd[0], 0)
        else:
            # PERF: _client()'s lookup inlined (None is a Unix socket's client)
            peers = self._peers
            client = peers.values.get(conn, _NO_CLIENT)
            if client is _NO_CLIENT or self._rt.native is not peers.loop:
                client = self._client(handle, conn)
            scope["client"] = client
        server = self._server_address
        scope["server"] = server if server is not _NO_SERVER else self._server()
        state = self._lifespan.state
        scope["state"] = state.copy() if state else {}
        return scope

    # ---- dispatch (called by the bridge, in the request's own context) --------------------
    def _dispatch(self, handle: int) -> None:
        rt = self._rt
        view = rt.view
        # PERF: what the scope needs from the view in one crossing (sc_loop_pack_request)
        packed = pack_request(rt.native, self._fields)
        head = _unpack_head(packed)
        conn, flags, method_id = head[:3]
        method = _METHOD_NAMES[method_id] or _unpack(view.method, view.method_len).decode("latin-1")
        res = rt.response_type(rt, handle, flags)
        try:
            if flags & REQ_UPGRADE and method == "GET" and _wants_websocket(view):
                self._websocket(res, view, packed, head)
            else:
                secure = conn & 1  # the connection speaks TLS (sc_res_conn_id)
                scheme = "https" if secure else "http"
                fwd = res._fwd = forwarded(rt.proxy, rt.native, view) if rt.proxy else None
                if fwd is not None and fwd[1]:
                    scheme = fwd[1]
                scope = self._scope(packed, head, handle, self._http_scope, scheme, fwd)
                scope["method"] = method
                # a fresh dict per scope, values included: middleware may write into them
                scope["extensions"] = {
                    "http.response.pathsend": {},
                    "http.response.zerocopysend": {},
                    "http.response.trailers": {},
                }
                if secure:  # the ASGI TLS extension
                    facts = TLSFacts.read(lib.sc_res_tls_info, rt.native, handle)
                    scope["extensions"]["tls"] = facts.asgi_extension()
                cycle = HTTPCycle(res, flags & REQ_HAS_BODY)
                if flags & REQ_HAS_BODY:
                    rt.track(res).data_handler = cycle._on_body  # ours: run in no context
                    res._collect_small_body(view)
                self._start_http(scope, cycle)
        except Exception as exc:
            rt.report(exc, res, None)
        if res._state != DONE and res._ext is None:
            rt.track(res)

    def _start_http(self, scope: dict[str, Any], cycle: HTTPCycle) -> None:
        """Run the application's first step here, inside the core's callback.

        PERF: most requests are answered in that step; then no wrapper coroutine and no
        Task are made.  An app that suspends goes on in a Task (``_run_http``)."""
        fn, target = self._app_call
        if target is None:
            call = fn(scope, cycle.receive, cycle.send)
        else:  # PERF: the class's __call__ itself (see the application setter)
            call = fn(target, scope, cycle.receive, cycle.send)
        kind = type(call)
        if kind is not CoroutineType and kind is not GeneratorType:
            # any other awaitable (a Future, a coroutine not made by `async def` such as
            # Cython's, with __await__ but no __iter__): awaited by a wrapper, as the
            # stepper's `yield from` takes only native coroutines and generators
            self._rt.handler_result(self._run_http(call, cycle), cycle.res, None)
            return
        # PERF: coroutines.start() inlined, through the app's stepper (no StopIteration when
        # the app returns); under a running loop (serving: the reactor's poll) there is no
        # loop to lend
        stepper = self._stepper
        self._stepper = None  # taken: a first step that dispatches again makes its own
        if stepper is None:
            stepper = new_stepper()
        borrowed = not self._rt.polling and _get_running_loop() is None
        if borrowed:
            _set_running_loop(self._rt.aio())
        try:
            out = stepper.send(call)
        except BaseException as exc:  # not an Exception (those come back as Failed)
            if borrowed:
                _set_running_loop(None)
            if _http_failed(cycle, exc, self._rt):
                return
            raise
        if borrowed:
            _set_running_loop(None)
        if out is RETURNED:
            self._stepper = stepper
            if not cycle.complete:
                self._http_returned(cycle)
            return
        if type(out) is Failed:
            self._stepper = stepper
            failure = out.exc
            if _http_failed(cycle, failure, self._rt):
                return
            raise failure
        # suspended: the stepper is the app's until it finishes, in a Task
        self._rt.spawn(self._run_http(ResumeStepper(stepper, out), cycle), cycle.res, None)

    async def _run_http(self, call: Any, cycle: HTTPCycle) -> None:
        try:
            await call
        except BaseException as exc:
            if _http_failed(cycle, exc, self._rt):
                return
            raise
        self._http_returned(cycle)

    def _http_returned(self, cycle: HTTPCycle) -> None:
        if not cycle.complete:
            res = cycle.res
            if res.aborted:
                return
            if not cycle.started:
                logger.error("the ASGI app returned without sending a response: 500")
                res._status = None
                res._headers = None
                res._hflags = 0
                res.write_status(500).write_header(b"Content-Type", b"text/plain")
                res.end(b"Internal Server Error")
            else:
                logger.error("the ASGI app returned before completing its response: closed")
                res.close()

    def _websocket(self, res: AppResponse, view: Any, packed: bytes, head: Any) -> None:
        status = lib.sc_ws_check_request(self._rt.native)
        if status:
            code, headers, body = _ws._REFUSALS.get(status, _ws._REFUSALS[400])
            res.write_status(code)
            for name, value in headers:
                res.write_header(name, value)
            res.write_header(b"Content-Type", b"text/plain").end(body)
            return
        rt = self._rt
        tls_on = secure = lib.sc_res_tls_info(rt.native, view.res, 1, ffi.NULL, 0) > 0
        fwd = res._fwd = forwarded(rt.proxy, rt.native, view) if rt.proxy else None
        if fwd is not None and fwd[1]:
            secure = fwd[1] == "https"
        scheme = "wss" if secure else "ws"
        scope = self._scope(packed, head, view.res, self._ws_scope, scheme, fwd)
        key = extensions = b""
        protocols: list[str] = []
        for name, value in scope["headers"]:
            if name == b"sec-websocket-key":
                key = value
            elif name == b"sec-websocket-extensions":
                extensions = value
            elif name == b"sec-websocket-protocol":
                protocols.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
        scope["subprotocols"] = protocols
        scope["extensions"] = {"websocket.http.response": {}}
        if tls_on:  # the ASGI TLS extension
            facts = TLSFacts.read(lib.sc_res_tls_info, rt.native, view.res)
            scope["extensions"]["tls"] = facts.asgi_extension()
        cycle = WebSocketCycle(res, self._ws_spec, key, extensions)
        self._rt.track(res)
        self._rt.handler_result(self._run_websocket(scope, cycle), res, None)

    async def _run_websocket(self, scope: dict[str, Any], cycle: WebSocketCycle) -> None:
        try:
            await self.application(scope, cycle.receive, cycle.send)
        except ClientDisconnected:
            cycle.finish(False)
            return
        except BaseException:
            cycle.finish(True)
            raise
        cycle.finish(False)

    def __repr__(self) -> str:
        return f"<ASGI {self.application!r}>"


def _http_failed(cycle: HTTPCycle, exc: BaseException, rt: Runtime) -> bool:
    """The app raised: True when that ends the cycle quietly (the client went away);
    otherwise a response whose head was written is closed, never left half-framed on a
    keep-alive connection, and the caller re-raises for the 500 or the error log.  What is
    not an Exception (a CancelledError, SystemExit) passes the error handler by, so its
    client gets the 500 here, as uvicorn gives it, instead of waiting for the idle timeout."""
    if isinstance(exc, ClientDisconnected):
        return True
    if cycle.started:
        if not cycle.complete:
            cycle.res.close()
    elif not isinstance(exc, Exception) and not cycle.res.aborted:
        rt.fallback(cycle.res, None)
    return False


def _wants_websocket(view: Any) -> bool:
    items = view.headers
    for index in range(view.num_headers):
        item = items[index]
        if item.name_len == 7 and _unpack(item.name, 7) == b"upgrade":
            return bool(_unpack(item.value, item.value_len).lower() == b"websocket")
    return False
