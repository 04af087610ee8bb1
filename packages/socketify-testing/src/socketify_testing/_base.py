"""What TestClient and AsyncTestClient share: everything but waiting.

Request lifecycle (both clients)::

    request(method, url, ...)
      └─ build():      URL + params -> target and Host; body args -> bytes or a stream;
                       headers = Host, defaults, client headers, body headers, Cookie,
                       then the call's headers (a header given by the test wins)
      └─ exchange():   connection() reuses the keep-alive memory connection or opens one;
                       Exchange.send() feeds the bytes; pump(); if the answer is not
                       complete, the loop runs (Exchange.wait) until it is
      └─ finish():     app exceptions re-raised (raise_server_exceptions); bytes after
                       the response are a ProtocolError; cookies stored; Response built;
                       the connection kept only if both sides keep it alive
      └─ redirect():   a 301/302/303/307/308 with Location becomes the next build(),
                       until max_redirects (TooManyRedirects)

Lifespan: ``with``/``async with`` runs the app's startup on enter and its
shutdown on exit (through its MemoryHost).  Without it, the first request runs startup and emits a
LifespanWarning; ``close()`` runs shutdown if startup ran.

WebSocket sessions (_websocket.py) build their upgrade request with ``build()`` and send
it with the client's exchange on a memory connection of their own; the client keeps them
in ``_sessions`` and drops them when it closes.

Only one client should drive an app at a time: each binds the app to its own loop and
installs itself as the app's exception sink (the previous sink is restored on close).
"""

from __future__ import annotations

import json as jsonlib
import warnings
from collections.abc import AsyncIterable, Mapping
from datetime import timedelta
from typing import Any, Optional

from socketify.memory import host_for
from socketify.tls import to_der

from ._cookies import CookieJar
from ._errors import InvalidRequest, LifespanWarning, TooManyRedirects
from ._models import Headers, Request, Response
from ._multipart import encode_form, encode_multipart
from ._transport import Exchange, is_stream_body
from ._urls import Target, location_url, resolve, split_base
from ._wire import render_head

__all__ = ["USER_AGENT", "BaseClient", "Prepared"]

USER_AGENT = "socketify-testclient/0.1.0"
REDIRECTS = frozenset((301, 302, 303, 307, 308))
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
_BUILT_MAX = 256
_NO_TRAILERS = Headers([])  # read-only: every response without trailers shares it
# The options of a plain request (what a redirect rebuilds it from); never changed in place.
_NO_OPTIONS: dict[str, Any] = dict.fromkeys(
    ("params", "headers", "cookies", "content", "data", "files", "json")
)
LIFESPAN_MESSAGE = (
    "{name} ran the app's startup (on_start) on its first request because it is not "
    "used as a context manager; on_shutdown runs only when client.close() is called. "
    "Use `with TestClient(app) as client:` (or `async with AsyncTestClient(app)`)."
)


class Prepared:
    """A request ready for the wire, plus what a redirect needs to rebuild it."""

    __slots__ = ("body", "chunked", "head", "options", "request", "target")

    def __init__(
        self,
        request: Request,
        target: Target,
        head: bytes,
        body: Any,
        chunked: bool,
        options: dict[str, Any],
    ) -> None:
        self.request = request
        self.target = target
        self.head = head
        self.body = body  # bytes, None, or an (async) iterable of chunks
        self.chunked = chunked
        self.options = options


def _header_pairs(headers: Any) -> list[tuple[str, Any]]:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return headers.multi_items()
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise InvalidRequest(f"headers must be (name, value) pairs, got {item!r}") from None
        pairs.append((name.decode("latin-1") if isinstance(name, bytes) else str(name), value))
    return pairs


def _text_value(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def as_app(app: Any) -> Any:
    """Anything with a ``memory_host()`` (a socketify App, an adapter) as it is; an ASGI or
    WSGI application wrapped in the core's adapter (``socketify.ASGI``/``socketify.WSGI``,
    told apart by ``socketify.interface.detect``)."""
    if callable(getattr(app, "memory_host", None)):
        return app
    from socketify.interface import serve

    return serve(app)


class BaseClient:
    """Request building, redirects, cookies and lifespan bookkeeping (no waiting)."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        timeout: float = 5.0,
        *,
        follow_redirects: bool = True,
        max_redirects: int = 20,
        headers: Any = None,
        cookies: Any = None,
        client_cert: Any = None,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidRequest(f"timeout must be a positive number of seconds, got {timeout!r}")
        if (
            not isinstance(client, tuple)
            or len(client) != 2
            or not isinstance(client[0], str)
            or not isinstance(client[1], int)
        ):
            raise InvalidRequest(f"client must be a (host, port) tuple, got {client!r}")
        if not isinstance(max_redirects, int) or max_redirects < 0:
            raise InvalidRequest(f"max_redirects must be an int >= 0, got {max_redirects!r}")
        self._client_cert: Optional[bytes] = None
        if client_cert is not None:
            try:
                self._client_cert = to_der(client_cert)
            except (ValueError, OSError) as exc:
                raise InvalidRequest(f"client_cert: {exc}") from None
        self.app = as_app(app)
        self._host = host_for(self.app)  # the in-memory transport seam (socketify.memory)
        self.base_url = base_url
        self._base = split_base(base_url)
        self.raise_server_exceptions = raise_server_exceptions
        self.client = client
        self.timeout = float(timeout)
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.headers = Headers(_header_pairs(headers))
        self.cookies = CookieJar(self._base.host)
        for name, value in _header_pairs(cookies):
            self.cookies.set(name, _text_value(value))
        self._conn: Any = None  # the keep-alive connection for the next request
        self._conn_secure = False  # it plays TLS (https)
        self._lent: set[Any] = set()  # connections of streamed responses still being read
        self._sessions: set[Any] = set()  # open WebSocket sessions (each its own connection)
        self._errors: list[BaseException] = []
        self._previous_sink: Any = None
        self._sink_installed = False
        self._started = False
        self._closed = False
        self._built: dict[tuple[str, str, str], tuple[bytes, list[tuple[str, str]]]] = {}
        self._built_for: Any = None  # the self.headers the heads in _built were made with

    # -- app hooks --

    def _install_sink(self) -> None:
        if not self._sink_installed:
            self._previous_sink = self._host.set_exception_sink(self._errors.append)
            self._sink_installed = True

    def _restore_sink(self) -> None:
        if self._sink_installed:
            self._host.set_exception_sink(self._previous_sink)
            self._sink_installed = False

    def _server_error(self) -> Optional[BaseException]:
        """The first exception the app raised since the last check, if it should surface."""
        errors = self._errors
        if not errors:
            return None
        first = errors[0]
        errors.clear()
        return first if self.raise_server_exceptions else None

    def _pending_error(self) -> bool:
        return bool(self._errors) and self.raise_server_exceptions

    def _implicit_startup(self) -> bool:
        # ASGI/WSGI adapters follow Starlette's TestClient: lifespan only inside `with`.
        return bool(getattr(self.app, "_lifespan_on_first_request", True))

    def _warn_implicit_startup(self, stacklevel: int) -> None:
        warnings.warn(
            LIFESPAN_MESSAGE.format(name=type(self).__name__),
            LifespanWarning,
            stacklevel=stacklevel + 1,
        )

    def open_connection(self, scheme: str) -> Any:
        """A new memory connection; for https/wss it plays TLS (socketify.memory
        MemoryConnection.set_tls): the app sees https, the server name and ``client_cert``."""
        conn = self._host.open_connection(self.client)
        if scheme in ("https", "wss"):
            conn.set_tls(server_name=self._base.host or None, peer_cert=self._client_cert)
        return conn

    def _connection(self, scheme: str = "") -> Any:
        conn = self._conn
        secure = (scheme or self._base.scheme) in ("https", "wss")
        if conn is None or not conn.open or secure != self._conn_secure:
            if conn is not None:
                conn.close()
            conn = self._conn = self.open_connection("https" if secure else "http")
            self._conn_secure = secure
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _close_connections(self) -> None:
        self._drop_connection()
        for session in list(self._sessions):
            session._abort()
        for conn in list(self._lent):
            conn.close()
        self._lent.clear()

    def discard(self, exchange: Exchange) -> None:
        """Close the connection of a broken or abandoned exchange (the app sees an abort)."""
        conn = exchange.conn
        if conn is self._conn:
            self._conn = None
        self._lent.discard(conn)
        conn.close()

    def lend(self, exchange: Exchange) -> None:
        """A streamed response keeps its connection; other requests meanwhile use another."""
        if exchange.conn is self._conn:
            self._conn = None
        self._lent.add(exchange.conn)

    # -- building --

    def build(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: Any = None,
        cookies: Any = None,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
    ) -> Prepared:
        if (
            params is None
            and headers is None
            and cookies is None
            and content is None
            and data is None
            and files is None
            and json is None
            and type(url) is str
            and type(method) is str
        ):
            # PERF: a plain request (no per-call headers, params, cookies or body) renders
            # the same head as the last time for the same method, URL, client headers and
            # Cookie value: kept, so only the objects a response hands out are made anew.
            target = resolve(self._base, url)
            cookie = self.cookies.header_for(target.host, target.path, target.scheme == "https")
            built = self._built
            if self._built_for is not self.headers:
                built.clear()
                self._built_for = self.headers
            known = built.get((method, url, cookie))
            if known is None:
                prepared = self._build(method, url, None, None, None, None, None, None, None)
                if len(built) >= _BUILT_MAX:
                    built.clear()
                built[method, url, cookie] = (prepared.head, prepared.request.headers._raw)
                return prepared
            head, fields = known
            method = method.upper()
            request = Request(method, target.url, target.target, Headers._of(fields), None)
            return Prepared(request, target, head, None, False, _NO_OPTIONS)
        return self._build(method, url, params, headers, cookies, content, data, files, json)

    def _build(
        self,
        method: str,
        url: str,
        params: Any,
        headers: Any,
        cookies: Any,
        content: Any,
        data: Any,
        files: Any,
        json: Any,
    ) -> Prepared:
        options = {
            "params": params,
            "headers": headers,
            "cookies": cookies,
            "content": content,
            "data": data,
            "files": files,
            "json": json,
        }
        method = method.upper()
        target = resolve(self._base, url, params)
        body, content_type = self._body(content, data, files, json)
        user = _header_pairs(headers)
        given = {name.lower() for name, _ in user}
        fields: list[tuple[str, Any]] = [("Host", target.host_header)]
        if "user-agent" not in given:
            fields.append(("User-Agent", USER_AGENT))
        if "accept" not in given:
            fields.append(("Accept", "*/*"))
        for name, value in self.headers.multi_items():
            if name.lower() not in given:
                fields.append((name, value))
        chunked = False
        if "content-length" not in given and "transfer-encoding" not in given:
            if is_stream_body(body):
                fields.append(("Transfer-Encoding", "chunked"))
                chunked = True
            elif body or method in BODY_METHODS:
                fields.append(("Content-Length", str(len(body or b""))))
        if content_type and "content-type" not in given:
            fields.append(("Content-Type", content_type))
        if "cookie" not in given:
            cookie = self._cookie_header(target, cookies)
            if cookie:
                fields.append(("Cookie", cookie))
        if "host" in given:
            fields.pop(0)
        fields.extend(user)
        head = render_head(method, target.target, fields)
        text_fields = [(name, _text_value(value)) for name, value in fields]
        request = Request(
            method, target.url, target.target, Headers(text_fields), None if chunked else body
        )
        return Prepared(request, target, head, body, chunked, options)

    def _body(self, content: Any, data: Any, files: Any, json: Any) -> tuple[Any, Optional[str]]:
        if content is None and data is None and files is None and json is None:
            return None, None  # PERF: most requests have no body
        given = [
            n for n, v in (("content", content), ("data", data), ("json", json)) if v is not None
        ]
        if files is not None:
            if content is not None or json is not None:
                raise InvalidRequest("files= cannot be combined with content= or json=")
            return encode_multipart(data, files)
        if len(given) > 1:
            raise InvalidRequest(f"pass only one of content=, data= and json=, got {given}")
        if json is not None:
            encoded = jsonlib.dumps(json, separators=(",", ":"), ensure_ascii=False)
            return encoded.encode("utf-8"), "application/json"
        if data is not None and isinstance(data, (Mapping, list, tuple)):
            return encode_form(data), "application/x-www-form-urlencoded"
        raw = content if content is not None else data
        if raw is None:
            return None, None
        if isinstance(raw, bytes):
            return raw, None
        if isinstance(raw, (bytearray, memoryview)):
            return bytes(raw), None
        if isinstance(raw, str):
            return raw.encode("utf-8"), None
        if is_stream_body(raw):
            return raw, None
        raise InvalidRequest(
            f"unsupported body type {type(raw).__name__}: use bytes, str, an iterable of "
            "bytes, data= with a dict, json= or files="
        )

    def _cookie_header(self, target: Target, extra: Any) -> str:
        jar_value = self.cookies.header_for(target.host, target.path, target.scheme == "https")
        if extra is None:
            return jar_value
        merged: dict[str, str] = {}
        for pair in jar_value.split("; ") if jar_value else ():
            name, _, value = pair.partition("=")
            merged.setdefault(name, value)
        for name, value in _header_pairs(extra):
            merged[name] = _text_value(value)
        return "; ".join(f"{name}={value}" for name, value in merged.items())

    # -- finishing --

    def finish(self, prepared: Prepared, exchange: Exchange, source: Any = None) -> Response:
        """Turn a parsed answer into a Response (complete, or head-only when streaming)."""
        parser = exchange.parser
        head = parser.head
        assert head is not None
        target = prepared.target
        stored = (
            self.cookies.extract(parser.set_cookies, target.host, target.path)
            if parser.set_cookies
            else {}
        )
        if source is None:
            response = Response._read(
                head.status,
                head.reason,
                Headers._of(head.fields),  # PERF: a parsed head's fields are never changed
                parser.take_body(),
                head.http_version,
                prepared.request,
                timedelta(seconds=exchange.elapsed()),
                stored,
                Headers(parser.trailers) if parser.trailers else _NO_TRAILERS,
            )
        else:
            response = Response(
                head.status,
                head.reason,
                Headers._of(head.fields),
                None,
                http_version=head.http_version,
                request=prepared.request,
                elapsed=timedelta(seconds=exchange.elapsed()),
                cookies=stored,
                trailers=parser.trailers,
                source=source,
            )
        if parser.interim:
            response.interim = [(h.status, h.reason) for h in parser.interim]
        return response

    def release(self, exchange: Exchange) -> None:
        """After a complete answer: keep the connection for the next request or close it."""
        conn = exchange.conn
        conn_open = conn.open  # PERF: asked once for both questions
        leftover = exchange.check_leftover(conn_open)
        if leftover is not None or not exchange.reusable_if(conn_open):
            self.discard(exchange)
        elif conn in self._lent:
            self._lent.discard(conn)
            if self._conn is None:
                self._conn = conn
            else:
                conn.close()
        if leftover is not None:
            raise leftover

    def redirect(
        self, prepared: Prepared, response: Response, history: list[Response]
    ) -> Optional[Prepared]:
        """The request that follows a redirect response, or None to stop here."""
        if response.status_code not in REDIRECTS:
            return None
        if "location" not in response.headers:
            return None
        history.append(response)
        if len(history) > self.max_redirects:
            chain = " -> ".join(
                f"{r.request.method if r.request else '?'} {r.url} ({r.status_code})"
                for r in history
            )
            raise TooManyRedirects(
                f"exceeded max_redirects={self.max_redirects}: {chain}", list(history)
            )
        url = location_url(prepared.target.url, response.headers["location"])
        method = prepared.request.method
        options = dict(prepared.options)
        options["params"] = None
        status = response.status_code
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
            for key in ("content", "data", "files", "json"):
                options[key] = None
            options["headers"] = [
                (name, value)
                for name, value in _header_pairs(options["headers"])
                if name.lower() not in ("content-type", "content-length", "transfer-encoding")
            ]
        elif prepared.chunked or (prepared.body is not None and is_stream_body(prepared.body)):
            raise InvalidRequest(
                f"cannot follow the {status} redirect of {method} {prepared.target.target}: "
                "its streamed body was already sent (pass bytes to make it replayable)"
            )
        next_host = resolve(self._base, url).host
        if next_host != prepared.target.host:
            options["headers"] = [
                (name, value)
                for name, value in _header_pairs(options["headers"])
                if name.lower() != "authorization"
            ]
        return self.build(method, url, **options)

    @staticmethod
    def body_is_async(prepared: Prepared) -> bool:
        return isinstance(prepared.body, AsyncIterable)
