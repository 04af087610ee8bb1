"""One ASGI WebSocket connection over the core's WebSocket implementation.

States::

    CONNECTING --websocket.accept--> OPEN --websocket.close / client close--> CLOSED
        |--websocket.close--> HTTP 403, CLOSED
        `--websocket.http.response.start/body--> the app's own HTTP answer, CLOSED

Before ``accept`` the connection is still an HTTP request (the response handle is alive);
``accept`` performs the core's upgrade (101, permessage-deflate, the subprotocol and the
application's extra headers).  Messages, the peer's close and drain arrive through the
behavior's handlers, which find this cycle as the WebSocket's user data.  ``send()`` waits
for ``drain`` when the core reports backpressure.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

from ..enums import SendStatus
from ..errors import ASGIProtocolError, ClientDisconnected
from ..response import DONE
from ..websocket import WebSocket, upgrade
from .http import HTTPCycle, message_type, wait

if TYPE_CHECKING:
    from ..response import AppResponse

CONNECTING, OPEN, CLOSED, RESPONSE = 0, 1, 2, 3


class WebSocketCycle:
    __slots__ = (
        "close_code",
        "close_reason",
        "connect_sent",
        "drain_waiter",
        "extensions",
        "http",
        "key",
        "messages",
        "res",
        "spec",
        "state",
        "waiter",
        "ws",
    )

    def __init__(self, res: AppResponse, spec: Any, key: bytes, extensions: bytes) -> None:
        self.res = res
        self.spec = spec
        self.key = key
        self.extensions = extensions
        self.state = CONNECTING
        self.connect_sent = False
        self.messages: deque[dict[str, Any]] = deque()
        self.waiter: Optional[asyncio.Future[Any]] = None
        self.drain_waiter: Optional[asyncio.Future[Any]] = None
        self.ws: Optional[WebSocket] = None
        self.close_code = 1006
        self.close_reason = ""
        self.http: Optional[HTTPCycle] = None

    # ---- events from the core (the behavior's handlers) ----------------------------------
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def on_message(self, message: Any) -> None:
        if type(message) is str:
            self.messages.append({"type": "websocket.receive", "text": message})
        else:
            self.messages.append({"type": "websocket.receive", "bytes": message})
        self._wake()

    def on_close(self, code: int, reason: Optional[bytes]) -> None:
        self.state = CLOSED
        self.ws = None
        self.close_code = code
        self.close_reason = reason.decode("utf-8", "replace") if reason else ""
        self._wake()
        self.on_drain()

    def on_drain(self) -> None:
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ---- receive -------------------------------------------------------------------------
    def _disconnect(self) -> dict[str, Any]:
        return {
            "type": "websocket.disconnect",
            "code": self.close_code,
            "reason": self.close_reason,
        }

    async def receive(self) -> dict[str, Any]:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            if self.messages:
                return self.messages.popleft()
            if self.state == CLOSED or self.state == RESPONSE:
                return self._disconnect()
            res = self.res
            if self.state == CONNECTING and res.aborted:
                self.state = CLOSED
                return self._disconnect()
            await wait(self, res, track=self.state == CONNECTING and res._state != DONE)

    # ---- send ----------------------------------------------------------------------------
    async def send(self, message: Any) -> None:
        kind = message_type(message)
        state = self.state
        if kind == "websocket.send":
            if state == CONNECTING:
                raise ASGIProtocolError("websocket.send before websocket.accept")
            ws = self.ws
            if state != OPEN or ws is None:
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                if type(text) is not str:
                    raise ASGIProtocolError(f"websocket.send 'text' must be str, not {text!r}")
                status = ws.send(text, 1)
            else:
                data = message.get("bytes")
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise ASGIProtocolError("websocket.send needs 'text' (str) or 'bytes' (bytes)")
                status = ws.send(bytes(data), 2)
            if status == SendStatus.BACKPRESSURE:
                await self._drained()
            elif status == SendStatus.DROPPED and self.state != OPEN:
                raise ClientDisconnected("the WebSocket is closed")
            return
        if kind == "websocket.accept":
            if state != CONNECTING:
                raise ASGIProtocolError("websocket.accept sent twice or after close")
            self._accept(message)
            return
        if kind == "websocket.close":
            if state == CONNECTING:
                self.state = CLOSED
                res = self.res
                res.write_status(403).write_header(b"Content-Type", b"text/plain")
                res.end(b"Forbidden")
                return
            if state == OPEN and self.ws is not None:
                code = message.get("code", 1000)
                reason = message.get("reason") or None
                self.ws.end(code if code is not None else 1000, reason)
                return
            if state == RESPONSE:
                raise ASGIProtocolError("websocket.close after an HTTP response was sent")
            return  # already closed by the peer: nothing to do
        if kind == "websocket.http.response.start":
            if state != CONNECTING:
                raise ASGIProtocolError(f"{kind} is only allowed before websocket.accept")
            self.state = RESPONSE
            self.http = HTTPCycle(self.res, False)
            await self.http.send({**message, "type": "http.response.start"})
            return
        if kind == "websocket.http.response.body":
            if state != RESPONSE or self.http is None:
                raise ASGIProtocolError(f"{kind} before websocket.http.response.start")
            await self.http.send({**message, "type": "http.response.body"})
            return
        raise ASGIProtocolError(f"unexpected ASGI message type {kind!r} for a WebSocket")

    def _accept(self, message: Any) -> None:
        res = self.res
        if res.aborted:
            self.state = CLOSED
            raise ClientDisconnected("the client went away before accept")
        for name, value in message.get("headers", ()) or ():
            res.write_header(name, value)
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise ASGIProtocolError(
                f"websocket.accept subprotocol must be str, not {subprotocol!r}"
            )
        self.state = OPEN
        if not upgrade(res, self.key, subprotocol, self.extensions, self.spec, self):
            self.state = CLOSED
            raise ClientDisconnected("the client went away before accept")

    async def _drained(self) -> None:
        if self.state != OPEN:
            return
        future = self.res._rt.aio().create_future()
        self.drain_waiter = future
        await future

    # ---- the end of the application -----------------------------------------------------
    def finish(self, failed: bool) -> None:
        """The application returned (or raised): close what it left open."""
        state = self.state
        if state == CONNECTING:
            self.state = CLOSED
            res = self.res
            if not res.aborted:
                if failed:
                    res.write_status(500).write_header(b"Content-Type", b"text/plain")
                    res.end(b"Internal Server Error")
                else:
                    res.write_status(403).write_header(b"Content-Type", b"text/plain")
                    res.end(b"Forbidden")
        elif state == OPEN and self.ws is not None:
            self.ws.end(1011 if failed else 1000)
        elif state == RESPONSE and self.http is not None and not self.http.complete:
            self.res.close()


# ---- the behavior handlers: the cycle is the WebSocket's user data ----------------------------
def _open(ws: WebSocket) -> None:
    ws._user_data.ws = ws


def _message(ws: WebSocket, message: Any, opcode: Any) -> None:
    ws._user_data.on_message(message)


def _close(ws: WebSocket, code: int, reason: Optional[bytes]) -> None:
    ws._user_data.on_close(code, reason)


def _drain(ws: WebSocket) -> None:
    ws._user_data.on_drain()


HANDLERS = {"open": _open, "message": _message, "close": _close, "drain": _drain}
