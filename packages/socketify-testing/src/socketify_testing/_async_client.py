"""AsyncTestClient: the TestClient API as awaitables, for tests that run their own loop.

It binds the app to the *running* loop (``host.bind_loop(asyncio.get_running_loop())``)
on first use, so the app's tasks run on the test's loop and ``await client.get(...)``
simply yields to them while it waits.  ``async with AsyncTestClient(app) as client``
runs startup and shutdown; ``await client.aclose()`` does what the ``async with`` exit
does.  Request building, cookies and redirects are shared with TestClient (_base.py).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional

from ._base import REDIRECTS, BaseClient, Prepared
from ._errors import (
    InvalidRequest,
    LifespanWarning,
    ProtocolError,
    ResponseTimeout,
    StreamError,
    TestClientError,
)
from ._models import Headers, Response
from ._transport import Exchange
from ._websocket import AsyncWebSocketTestSession

__all__ = ["AsyncTestClient"]


class AsyncTestClient(BaseClient):
    """Like TestClient, with awaitable methods: ``r = await client.get("/")``."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        timeout: float = 5.0,
        **options: Any,
    ) -> None:
        super().__init__(app, base_url, raise_server_exceptions, client, timeout, **options)
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                self._close_connections()  # its tasks belong to the previous loop
            self._loop = loop
            self._host.bind_loop(loop)
        self._install_sink()

    # -- lifespan --

    async def __aenter__(self) -> AsyncTestClient:
        await self._startup()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def _startup(self) -> None:
        if self._closed:
            raise TestClientError("the AsyncTestClient is closed")
        self._bind()
        if self._started:
            return
        self._started = True
        try:
            await self._host.startup()
            error = self._server_error()
        except BaseException:
            self._abandon()
            raise
        if error is not None:
            self._abandon()
            raise error

    def _abandon(self) -> None:
        """Startup failed: release everything without running shutdown."""
        self._started = False
        self._closed = True
        self._close_connections()
        self._restore_sink()

    async def aclose(self) -> None:
        """Drop the connection and run the app's shutdown if startup ran."""
        if self._closed:
            return
        self._closed = True
        error = None
        try:
            self._close_connections()
            if self._started:
                await self._host.shutdown()
                error = self._server_error()
        finally:
            self._restore_sink()
        if error is not None:
            raise error

    def close(self) -> None:
        """Synchronous part of aclose(); warns if shutdown is left unrun (use aclose())."""
        if self._closed:
            return
        self._closed = True
        self._close_connections()
        self._restore_sink()
        if self._started:
            warnings.warn(
                "AsyncTestClient.close() cannot await the app's shutdown: use "
                "`await client.aclose()` or `async with AsyncTestClient(app)`",
                LifespanWarning,
                stacklevel=2,
            )

    # -- waiting --

    async def _await(self, exchange: Exchange, ready: Callable[[], bool]) -> None:
        failure: Optional[Exception] = None
        try:
            if not ready() and not self._pending_error():
                await exchange.wait(ready, self._pending_error)
        except (ProtocolError, ResponseTimeout) as broken:
            self.discard(exchange)
            failure = broken
        if failure is not None:
            # the app's own exception, when there is one, explains the broken answer
            raise self._server_error() or failure
        error = self._server_error()
        if error is not None:
            if exchange.parser.complete:
                self.release(exchange)
            else:
                self.discard(exchange)
            raise error

    async def _exchange(
        self, prepared: Prepared, timeout: float, head_only: bool, conn: Any = None
    ) -> Exchange:
        exchange = Exchange(
            conn or self._connection(prepared.target.scheme),
            prepared.request.method,
            prepared.target.target,
            timeout,
        )
        parser = exchange.parser
        failure: Optional[Exception] = None
        try:
            if self.body_is_async(prepared):
                await exchange.asend(prepared.head, prepared.body, prepared.chunked)
            else:
                exchange.send(prepared.head, prepared.body, prepared.chunked)
            exchange.pump()
        except ProtocolError as broken:
            self.discard(exchange)
            failure = broken
        except InvalidRequest:
            self.discard(exchange)  # a half-sent request must not reach the next one
            raise
        if failure is not None:
            raise self._server_error() or failure
        if head_only:
            await self._await(exchange, lambda: parser.head is not None or parser.complete)
        else:
            await self._await(exchange, lambda: parser.complete)
        return exchange

    # -- requests --

    async def _send(
        self, prepared: Prepared, follow: Optional[bool], timeout: Optional[float], stream: bool
    ) -> Response:
        if self._closed:
            raise TestClientError("the AsyncTestClient is closed")
        self._bind()
        if not self._started and self._implicit_startup():
            self._warn_implicit_startup(stacklevel=4)
            await self._startup()
        earlier = self._server_error()  # raised by a task after an earlier response
        if earlier is not None:
            raise earlier
        follow = self.follow_redirects if follow is None else follow
        wait = self.timeout if timeout is None else float(timeout)
        history: list[Response] = []
        while True:
            exchange = await self._exchange(prepared, wait, head_only=stream)
            parser = exchange.parser
            if not parser.complete:
                redirecting = follow and parser.head is not None and parser.head.status in REDIRECTS
                if not redirecting:
                    self.lend(exchange)
                    source = _AsyncBody(self, exchange)
                    response = source.response = self.finish(prepared, exchange, source)
                    response.history = history
                    return response
                await self._await(exchange, lambda p=parser: p.complete)  # type: ignore[misc]
            self.release(exchange)
            response = self.finish(prepared, exchange)
            following = self.redirect(prepared, response, history) if follow else None
            if following is None:
                response.history = history
                return response
            prepared = following

    async def request(
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
        follow_redirects: Optional[bool] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Send one request (following redirects) and return the complete Response."""
        prepared = self.build(
            method,
            url,
            params=params,
            headers=headers,
            cookies=cookies,
            content=content,
            data=data,
            files=files,
            json=json,
        )
        return await self._send(prepared, follow_redirects, timeout, stream=False)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Response]:
        """``async with client.stream("GET", url) as r:`` then ``async for c in r.aiter_bytes()``."""
        follow = kwargs.pop("follow_redirects", None)
        timeout = kwargs.pop("timeout", None)
        prepared = self.build(method, url, **kwargs)
        response = await self._send(prepared, follow, timeout, stream=True)
        try:
            yield response
        finally:
            response.close()

    def websocket_connect(
        self,
        url: str,
        subprotocols: Optional[Sequence[str]] = None,
        *,
        headers: Any = None,
        params: Any = None,
        cookies: Any = None,
        timeout: Optional[float] = None,
    ) -> AsyncWebSocketTestSession:
        """``async with client.websocket_connect("/ws") as ws:`` (or ``await`` it).

        The handshake runs on enter; see ``TestClient.websocket_connect``.
        """
        if self._closed:
            raise TestClientError("the AsyncTestClient is closed")
        return AsyncWebSocketTestSession(self, url, subprotocols, headers, params, cookies, timeout)

    async def _prepare_websocket(self) -> None:
        if self._closed:
            raise TestClientError("the AsyncTestClient is closed")
        self._bind()
        if not self._started and self._implicit_startup():
            self._warn_implicit_startup(stacklevel=5)
            await self._startup()
        earlier = self._server_error()
        if earlier is not None:
            raise earlier

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> Response:
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> Response:
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> Response:
        return await self.request("PATCH", url, **kwargs)


class _AsyncBody:
    """Pulls a streamed response's body for AsyncTestClient (Response.aiter_bytes)."""

    __slots__ = ("client", "exchange", "released", "response")

    def __init__(self, client: AsyncTestClient, exchange: Exchange) -> None:
        self.client = client
        self.exchange = exchange
        self.released = False
        self.response: Optional[Response] = None

    def next_chunk(self) -> Optional[bytes]:
        raise StreamError(
            "an AsyncTestClient response is read with aiter_bytes(), not iter_bytes()"
        )

    async def anext_chunk(self) -> Optional[bytes]:
        exchange = self.exchange
        parser = exchange.parser
        data = parser.take_body()
        if data:
            return data
        if not parser.complete:
            exchange.deadline = time.monotonic() + exchange.timeout  # per chunk when streaming
            await self.client._await(exchange, lambda: bool(parser.chunks) or parser.complete)
            data = parser.take_body()
            if data:
                return data
        self._finish()
        return None

    def _finish(self) -> None:
        if not self.released:
            self.released = True
            if self.response is not None:
                self.response.trailers = Headers(self.exchange.parser.trailers)
            self.client.release(self.exchange)

    def close(self) -> None:
        if self.released:
            return
        if self.exchange.parser.complete:
            self._finish()
            return
        self.released = True  # stopped early: the app sees an abort
        self.client.discard(self.exchange)
