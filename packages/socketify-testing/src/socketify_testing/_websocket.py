"""WebSocket sessions of the TestClient: a real RFC 6455 upgrade, then frames both ways.

Session lifecycle::

    client.websocket_connect(url, subprotocols, headers=...)
      └─ prepare():  GET with Upgrade, Connection, Sec-WebSocket-Key/-Version (and
                     -Protocol), built by the client like any request (base_url, params,
                     cookies); a header the test passes replaces ours (odd handshakes)
      └─ the client's exchange on a *fresh* memory connection: one per session, so
         several sessions (pub/sub between them) live side by side
      └─ accept():   not 101 -> WebSocketRejected(response); a 101 must carry Upgrade,
                     Connection and the right Sec-WebSocket-Accept, and only a subprotocol
                     or extension that was offered (ProtocolError otherwise); the bytes
                     after the head are the first frames
    OPEN     send_*: masked frames fed to the core (a sync message handler runs inside
             the feed).  receive_*: pump() what the core wrote into the FrameReader;
             if nothing is queued, wait (the app's loop runs) until a message is, the
             session closed, the app raised, or the timeout (WebSocketTimeout).
             pump() answers pings with pongs; pongs go to their own queue.
    CLOSING  close() sent our close frame and waits for the server's
    CLOSED   the server's close frame arrived (echoed if the server started), or the
             connection dropped (1006).  Messages that came before are still delivered;
             then every receive raises WebSocketDisconnect(code, reason), every send too.

An exception raised by an app handler is raised by the next send or receive (with
``raise_server_exceptions``), as for HTTP requests.  WebSocketTestSession (sync) and
AsyncWebSocketTestSession share everything but how they wait.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from ._base import _header_pairs
from ._errors import (
    InvalidRequest,
    ProtocolError,
    TestClientError,
    UnexpectedMessage,
    WebSocketDisconnect,
    WebSocketRejected,
    WebSocketTimeout,
)
from ._frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    Event,
    FrameReader,
    accept_for,
    close_payload,
    encode_frame,
    new_key,
    valid_close_code,
)
from ._models import Headers, Response
from ._transport import BACKOFF_FIRST, BACKOFF_MAX, SPIN_TURNS, Exchange, shim_running_loop

if TYPE_CHECKING:
    from ._async_client import AsyncTestClient
    from ._base import BaseClient, Prepared
    from ._client import TestClient

__all__ = ["AsyncWebSocketTestSession", "WebSocketMessage", "WebSocketTestSession"]

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
JSON_MODES = {"text": TEXT, "binary": BINARY}


class WebSocketMessage(NamedTuple):
    """One whole message: ``type`` is ``"text"`` (``data`` a str) or ``"bytes"``."""

    type: str
    data: Union[str, bytes]


def _extension_names(value: Optional[str]) -> list[str]:
    if not value:
        return []
    return [part.split(";", 1)[0].strip().lower() for part in value.split(",") if part.strip()]


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


class _Session:
    """State, frames and checks shared by the sync and async sessions."""

    __slots__ = (
        "_client",
        "_conn",
        "_cookies",
        "_headers",
        "_key",
        "_messages",
        "_offered_extensions",
        "_params",
        "_pongs",
        "_prepared",
        "_reader",
        "_state",
        "close_code",
        "close_reason",
        "extensions",
        "path",
        "response",
        "response_headers",
        "subprotocol",
        "subprotocols",
        "timeout",
        "url",
    )

    def __init__(
        self,
        client: BaseClient,
        url: str,
        subprotocols: Any,
        headers: Any,
        params: Any,
        cookies: Any,
        timeout: Optional[float],
    ) -> None:
        if isinstance(subprotocols, str):
            subprotocols = [subprotocols]
        offered = [str(p) for p in subprotocols or ()]
        for protocol in offered:
            if not protocol or "," in protocol or protocol != protocol.strip():
                raise InvalidRequest(f"invalid WebSocket subprotocol {protocol!r}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidRequest(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._client = client
        self.url = url
        self.path = url
        self.subprotocols = offered
        self._headers = _header_pairs(headers)
        self._params = params
        self._cookies = cookies
        self.timeout = client.timeout if timeout is None else float(timeout)
        self._state: Optional[str] = None  # not connected yet
        self._conn: Any = None
        self._prepared: Optional[Prepared] = None
        self._reader = FrameReader()
        self._messages: deque[WebSocketMessage] = deque()
        self._pongs: deque[bytes] = deque()
        self._key = ""
        self._offered_extensions: list[str] = []
        self.subprotocol: Optional[str] = None
        self.extensions: list[str] = []
        self.response: Optional[Response] = None
        self.response_headers = Headers()
        self.close_code: Optional[int] = None
        self.close_reason = ""

    # -- the handshake --

    def _prepare(self) -> Prepared:
        key = new_key()
        ours = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if self.subprotocols:
            ours.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        given = {name.lower(): value for name, value in self._headers}
        fields = [(n, v) for n, v in ours if n.lower() not in given] + self._headers
        self._key = str(given.get("sec-websocket-key", key))
        self._offered_extensions = _extension_names(given.get("sec-websocket-extensions"))
        prepared = self._client.build(
            "GET", self.url, params=self._params, headers=fields, cookies=self._cookies
        )
        self._prepared = prepared
        self.path = prepared.target.target
        return prepared

    def _new_connection(self) -> Any:
        client = self._client
        scheme = self._prepared.target.scheme if self._prepared is not None else ""
        return client.open_connection(scheme or client._base.scheme)

    def _accept(self, exchange: Exchange) -> None:
        """Check the server's answer; on a 101 the session is open."""
        client = self._client
        assert self._prepared is not None
        response = client.finish(self._prepared, exchange)
        status = response.status_code
        if status != 101:
            client.discard(exchange)
            body = response.content
            raise WebSocketRejected(
                f"the WebSocket upgrade GET {self.path} was rejected with {status} "
                f"{response.reason}" + (f": {body[:200]!r}" if body else ""),
                response,
            )
        try:
            self._check_101(response.headers)
        except ProtocolError:
            client.discard(exchange)
            raise
        self.response = response
        self.response_headers = response.headers
        self._conn = exchange.conn
        self._state = OPEN
        self._reader.deflate = "permessage-deflate" in _extension_names(
            response.headers.get("sec-websocket-extensions")
        )
        client._sessions.add(self)
        leftover = exchange.parser.leftover
        if leftover:
            self._take_frames(leftover)

    def _check_101(self, headers: Headers) -> None:
        where = f" in the 101 answer to GET {self.path}"
        upgrade = headers.get("upgrade", "")
        if upgrade.lower() != "websocket":
            raise ProtocolError(f"Upgrade is {upgrade!r}, not 'websocket'{where}")
        if "upgrade" not in _tokens(headers.get("connection", "")):
            raise ProtocolError(f"Connection does not say 'Upgrade'{where}")
        accept = headers.get("sec-websocket-accept")
        if accept != accept_for(self._key):
            raise ProtocolError(
                f"Sec-WebSocket-Accept is {accept!r}, expected {accept_for(self._key)!r}{where}"
            )
        protocol = headers.get("sec-websocket-protocol")
        if protocol is not None and protocol not in self.subprotocols:
            raise ProtocolError(
                f"the server chose subprotocol {protocol!r}, not one of those offered "
                f"({self.subprotocols}){where}"
            )
        self.subprotocol = protocol
        extensions = headers.get_list("sec-websocket-extensions")
        extensions = [e.strip() for value in extensions for e in value.split(",") if e.strip()]
        for name in _extension_names(", ".join(extensions)):
            if name not in self._offered_extensions:
                raise ProtocolError(f"the server accepted extension {name!r}, never offered{where}")
        self.extensions = extensions

    # -- reading --

    def _feed(self, data: bytes) -> None:
        self._conn.feed(data)

    def _take_frames(self, data: bytes) -> None:
        try:
            events = self._reader.feed(data)
        except ProtocolError as error:
            self._abort()
            raise ProtocolError(f"{error} [WebSocket {self.path}]", error.data) from None
        self._on_events(events)

    def _on_events(self, events: list[Event]) -> None:
        for kind, value in events:
            if kind == "text" or kind == "bytes":
                self._messages.append(WebSocketMessage(kind, value))
            elif kind == "ping":
                if self._state == OPEN:
                    self._quiet_feed(encode_frame(PONG, value))
            elif kind == "pong":
                self._pongs.append(value)
            else:  # close
                code, reason = value
                if self._state == OPEN:  # the server started: echo its code
                    echo = None if code == 1005 else code
                    self._quiet_feed(encode_frame(CLOSE, close_payload(echo)))
                self._finish(code, reason)

    def _quiet_feed(self, frame: bytes) -> None:
        try:
            self._feed(frame)
        except ConnectionError:
            pass  # the server is gone; pump() sees it

    def _pump(self) -> bool:
        """Take what the core wrote; True when there were new bytes."""
        conn = self._conn
        if self._state == CLOSED or conn is None:
            return False
        data = conn.read()
        if data:
            self._take_frames(data)
        if self._state != CLOSED and not conn.open:
            rest = conn.read()
            if rest:
                self._take_frames(rest)
            if self._state != CLOSED:
                self._finish(1006, "")
        return bool(data)

    def _finish(self, code: int, reason: str) -> None:
        self._state = CLOSED
        self.close_code = code
        self.close_reason = reason
        self._drop()

    def _abort(self) -> None:
        """Leave without a closing handshake (the app's close handler gets 1006)."""
        if self._state != CLOSED:
            self._state = CLOSED
            self.close_code = 1006
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._client._sessions.discard(self)

    # -- waiting --

    def _timeout_for(self, timeout: Optional[float]) -> float:
        if timeout is None:
            return self.timeout
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidRequest(f"timeout must be a positive number of seconds, got {timeout!r}")
        return float(timeout)

    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Run the loop until ``ready()``, the session closed, the app raised, or timeout."""
        deadline = time.monotonic() + timeout
        pending = self._client._pending_error
        sleep = asyncio.sleep
        idle = 0
        delay = BACKOFF_FIRST
        while not ready() and self._state != CLOSED:
            if pending():
                return
            if time.monotonic() >= deadline:
                raise self._timed_out(what, timeout)
            if idle < SPIN_TURNS:
                await sleep(0)
            else:
                await sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            if self._pump():
                idle, delay = 0, BACKOFF_FIRST
            else:
                idle += 1

    def _timed_out(self, what: str, timeout: float) -> WebSocketTimeout:
        partial = self._reader.buffered
        detail = f" ({partial} bytes of an incomplete frame arrived)" if partial else ""
        return WebSocketTimeout(
            f"{what} on WebSocket {self.path}: nothing from the server within "
            f"{timeout:g} s{detail}",
            self.path,
            timeout,
        )

    def _raise_app_error(self) -> None:
        error = self._client._server_error()
        if error is not None:
            raise error

    # -- taking and sending --

    def _check_connected(self) -> None:
        if self._state is None:
            raise TestClientError(
                f"the WebSocket session {self.url} is not connected: use "
                "`async with client.websocket_connect(...) as ws`"
            )

    def _pop(self, queue: deque, what: str) -> Any:  # type: ignore[type-arg]
        self._raise_app_error()
        if queue:
            return queue.popleft()
        raise self._disconnected(what)

    def _disconnected(self, what: str) -> WebSocketDisconnect:
        code = self.close_code if self.close_code is not None else 1006
        reason = self.close_reason
        return WebSocketDisconnect(
            f"{what} on WebSocket {self.path}: the WebSocket is closed (code {code}"
            + (f", reason {reason!r})" if reason else ")"),
            code,
            reason,
        )

    def _send_frame(
        self,
        opcode: int,
        payload: bytes,
        what: str,
        fin: bool = True,
        rsv: int = 0,
        mask: bool = True,
    ) -> None:
        self._check_connected()
        self._raise_app_error()
        if self._state == OPEN:
            self._pump()  # the server may have closed meanwhile
        if self._state != OPEN:
            raise self._disconnected(what)
        try:
            self._feed(encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))
        except ConnectionError:
            self._pump()
            if self._state != CLOSED:
                self._finish(1006, "")
            raise self._disconnected(what) from None
        self._raise_app_error()

    def _start_close(self, code: int, reason: Any) -> bool:
        """Send our close frame; False when the session is already closed."""
        self._check_connected()
        if isinstance(code, bool) or not isinstance(code, int) or not valid_close_code(code):
            raise InvalidRequest(f"{code!r} is not a close code a client may send")
        raw = reason.encode("utf-8") if isinstance(reason, str) else bytes(reason or b"")
        if len(raw) > 123:
            raise InvalidRequest(f"a close reason is at most 123 bytes, got {len(raw)}")
        if self._state == OPEN:
            self._pump()
        if self._state != OPEN:
            return False
        self._state = CLOSING
        self._quiet_feed(encode_frame(CLOSE, close_payload(code, raw)))
        self._pump()
        return self._state != CLOSED

    @property
    def closed(self) -> bool:
        return self._state == CLOSED

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} {self._state or 'not connected'}>"


# ---- payload helpers shared by both sessions ------------------------------------------------


def _text(data: Any) -> bytes:
    if not isinstance(data, str):
        raise InvalidRequest(f"send_text() takes a str, not {type(data).__name__}")
    return data.encode("utf-8")


def _bytes(data: Any) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidRequest(f"send_bytes() takes bytes, not {type(data).__name__}")
    return bytes(data)


def _json(data: Any, mode: str) -> tuple[int, bytes]:
    opcode = JSON_MODES.get(mode)
    if opcode is None:
        raise InvalidRequest(f"send_json() mode must be 'text' or 'binary', not {mode!r}")
    encoded = jsonlib.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return opcode, encoded.encode("utf-8")


def _ping(data: Any) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > 125:
        raise InvalidRequest(f"a ping carries at most 125 bytes, got {len(raw)}")
    return raw


def _expect(message: WebSocketMessage, kind: str, path: str) -> Any:
    if message.type != kind:
        wanted = "text" if kind == "text" else "binary"
        got = "text" if message.type == "text" else "binary"
        raise UnexpectedMessage(
            f"expected a {wanted} message on WebSocket {path}, got a {got} one: "
            f"{message.data[:100]!r}",
            message,
        )
    return message.data


# ---- the sync session -------------------------------------------------------------------------


class WebSocketTestSession(_Session):
    """A WebSocket opened by ``TestClient.websocket_connect()``; use it with ``with``."""

    __slots__ = ()

    _client: TestClient

    def _connect(self) -> WebSocketTestSession:
        client = self._client
        prepared = self._prepare()
        exchange = client._exchange(prepared, self.timeout, False, self._new_connection())
        self._accept(exchange)
        return self

    def __enter__(self) -> WebSocketTestSession:
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()  # a failing test does not wait for a closing handshake

    def _feed(self, data: bytes) -> None:
        loop = self._client._loop
        previous = shim_running_loop(loop)
        try:
            self._conn.feed(data)
        finally:
            asyncio._set_running_loop(previous)

    def _pump(self) -> bool:
        previous = shim_running_loop(self._client._loop)
        try:
            return super()._pump()
        finally:
            asyncio._set_running_loop(previous)

    def _next(self, queue: deque, timeout: Optional[float], what: str) -> Any:  # type: ignore[type-arg]
        self._raise_app_error()
        if not queue and self._state != CLOSED:
            self._pump()
            if not queue and self._state != CLOSED:
                wait = self._timeout_for(timeout)
                self._client._run(self._wait(lambda: bool(queue), wait, what))
        return self._pop(queue, what)

    # -- receiving --

    def receive(self, timeout: Optional[float] = None) -> WebSocketMessage:
        """The next message: ``WebSocketMessage(type, data)``, also a ``(type, data)`` tuple."""
        return self._next(self._messages, timeout, "receive()")  # type: ignore[no-any-return]

    def receive_text(self, timeout: Optional[float] = None) -> str:
        message = self._next(self._messages, timeout, "receive_text()")
        return _expect(message, "text", self.path)  # type: ignore[no-any-return]

    def receive_bytes(self, timeout: Optional[float] = None) -> bytes:
        message = self._next(self._messages, timeout, "receive_bytes()")
        return _expect(message, "bytes", self.path)  # type: ignore[no-any-return]

    def receive_json(self, timeout: Optional[float] = None) -> Any:
        """The next message (text or binary) decoded as JSON."""
        return jsonlib.loads(self._next(self._messages, timeout, "receive_json()").data)

    def receive_pong(self, timeout: Optional[float] = None) -> bytes:
        """The payload of the next pong (pongs are queued apart from messages)."""
        return self._next(self._pongs, timeout, "receive_pong()")  # type: ignore[no-any-return]

    # -- sending --

    def send_text(self, data: str) -> None:
        self._send_frame(TEXT, _text(data), "send_text()")

    def send_bytes(self, data: bytes) -> None:
        self._send_frame(BINARY, _bytes(data), "send_bytes()")

    def send_json(self, data: Any, mode: str = "text") -> None:
        opcode, payload = _json(data, mode)
        self._send_frame(opcode, payload, "send_json()")

    def send_ping(self, data: Union[bytes, str] = b"") -> None:
        self._send_frame(PING, _ping(data), "send_ping()")

    def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bool = True,
    ) -> None:
        """One raw frame, as given (fragments, or deliberately broken frames)."""
        self._send_frame(opcode, _bytes(payload), "send_frame()", fin, rsv, mask)

    # -- closing --

    def close(self, code: int = 1000, reason: Union[str, bytes] = "") -> None:
        """The closing handshake: send a close frame, wait for the server's."""
        if not self._start_close(code, reason):
            self._raise_app_error()
            return
        try:
            self._client._run(self._wait(lambda: False, self.timeout, "close()"))
        except WebSocketTimeout:
            self._abort()
            raise
        self._raise_app_error()


# ---- the async session ------------------------------------------------------------------------


class AsyncWebSocketTestSession(_Session):
    """``async with client.websocket_connect(...) as ws``: the same API, awaitable."""

    __slots__ = ()

    _client: AsyncTestClient

    async def _connect(self) -> AsyncWebSocketTestSession:
        client = self._client
        await client._prepare_websocket()
        prepared = self._prepare()
        exchange = await client._exchange(prepared, self.timeout, False, self._new_connection())
        self._accept(exchange)
        return self

    async def __aenter__(self) -> AsyncWebSocketTestSession:
        if self._state is None:
            await self._connect()
        return self

    async def __aexit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is None:
            await self.close()
        else:
            self._abort()

    def __await__(self) -> Any:
        return self.__aenter__().__await__()

    async def _next(self, queue: deque, timeout: Optional[float], what: str) -> Any:  # type: ignore[type-arg]
        self._check_connected()
        self._raise_app_error()
        if not queue and self._state != CLOSED:
            self._pump()
            if not queue and self._state != CLOSED:
                await self._wait(lambda: bool(queue), self._timeout_for(timeout), what)
        return self._pop(queue, what)

    async def receive(self, timeout: Optional[float] = None) -> WebSocketMessage:
        return await self._next(self._messages, timeout, "receive()")  # type: ignore[no-any-return]

    async def receive_text(self, timeout: Optional[float] = None) -> str:
        message = await self._next(self._messages, timeout, "receive_text()")
        return _expect(message, "text", self.path)  # type: ignore[no-any-return]

    async def receive_bytes(self, timeout: Optional[float] = None) -> bytes:
        message = await self._next(self._messages, timeout, "receive_bytes()")
        return _expect(message, "bytes", self.path)  # type: ignore[no-any-return]

    async def receive_json(self, timeout: Optional[float] = None) -> Any:
        return jsonlib.loads((await self._next(self._messages, timeout, "receive_json()")).data)

    async def receive_pong(self, timeout: Optional[float] = None) -> bytes:
        return await self._next(self._pongs, timeout, "receive_pong()")  # type: ignore[no-any-return]

    async def send_text(self, data: str) -> None:
        self._send_frame(TEXT, _text(data), "send_text()")

    async def send_bytes(self, data: bytes) -> None:
        self._send_frame(BINARY, _bytes(data), "send_bytes()")

    async def send_json(self, data: Any, mode: str = "text") -> None:
        opcode, payload = _json(data, mode)
        self._send_frame(opcode, payload, "send_json()")

    async def send_ping(self, data: Union[bytes, str] = b"") -> None:
        self._send_frame(PING, _ping(data), "send_ping()")

    async def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        mask: bool = True,
    ) -> None:
        self._send_frame(opcode, _bytes(payload), "send_frame()", fin, rsv, mask)

    async def close(self, code: int = 1000, reason: Union[str, bytes] = "") -> None:
        if not self._start_close(code, reason):
            self._raise_app_error()
            return
        try:
            await self._wait(lambda: False, self.timeout, "close()")
        except WebSocketTimeout:
            self._abort()
            raise
        self._raise_app_error()
