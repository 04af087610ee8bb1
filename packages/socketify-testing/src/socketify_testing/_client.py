"""TestClient: blocking requests against a socketify App, through the real C core.

The client owns an asyncio loop (``asyncio.new_event_loop()``) and binds the app to it
with the app's MemoryHost (``bind_loop``).  A request is fed to the core with that loop set as the running
loop (so sync handlers can ``asyncio.create_task`` exactly as under ``app.run()``), and
the loop itself only runs when the answer is not complete after the feed (an async
handler) or to let callbacks that were already scheduled run after a response (bounded
by SETTLE_TURNS).  See _base.py for the request lifecycle and _transport.py for waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable, Optional

from ._base import REDIRECTS, BaseClient, Prepared
from ._errors import InvalidRequest, ProtocolError, ResponseTimeout, StreamError, TestClientError
from ._models import Headers, Response
from ._transport import Exchange, shim_running_loop
from ._websocket import WebSocketTestSession

__all__ = ["TestClient"]

SETTLE_TURNS = 8  # loop turns after a response for callbacks the handler scheduled


class TestClient(BaseClient):
    """Send HTTP/1.1 requests to ``app`` through the core's memory transport.

    ``base_url`` sets the scheme and Host; ``client`` is the remote (host, port) the app
    sees; ``timeout`` bounds the wait for each response (ResponseTimeout);
    ``raise_server_exceptions`` re-raises exceptions of handlers in the test instead of
    returning their 500 response; ``follow_redirects`` (default True) follows up to
    ``max_redirects`` redirects (TooManyRedirects after that).
    """

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
        self._loop = asyncio.new_event_loop()
        self._host.bind_loop(self._loop)
        self._install_sink()

    # -- lifespan --

    def __enter__(self) -> TestClient:
        self._startup()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _startup(self) -> None:
        if self._closed:
            raise TestClientError("the TestClient is closed")
        if self._started:
            return
        self._started = True
        try:
            self._run(self._host.startup())
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
        self._close_loop()
        self._restore_sink()

    def close(self) -> None:
        """Drop the connection, run the app's shutdown if startup ran, close the loop."""
        if self._closed:
            return
        self._closed = True
        error = None
        try:
            self._close_connections()
            if self._started:
                self._run(self._host.shutdown())
                error = self._server_error()
        finally:
            self._close_loop()
            self._restore_sink()
        if error is not None:
            raise error

    def _close_loop(self) -> None:
        loop = self._loop
        if loop.is_closed():
            return
        if asyncio._get_running_loop() is None:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    # -- running the loop --

    def _run(self, coro: Any) -> Any:
        if asyncio._get_running_loop() is not None:
            coro.close()
            raise TestClientError(
                "the TestClient has to run the app's event loop, but it was called from "
                "inside a running event loop: use AsyncTestClient in async tests"
            )
        return self._loop.run_until_complete(coro)

    def _settle(self) -> None:
        if self._loop.is_closed():
            return
        ready = getattr(self._loop, "_ready", True)  # PERF: skip the turn when idle
        turns = 0
        while ready and turns < SETTLE_TURNS and asyncio._get_running_loop() is None:
            self._loop.stop()
            self._loop.run_forever()  # stop() first: exactly one loop iteration
            turns += 1

    def _await(self, exchange: Exchange, ready: Callable[[], bool]) -> None:
        failure: Optional[Exception] = None
        try:
            if not ready() and not self._pending_error():
                self._run(exchange.wait(ready, self._pending_error))
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

    def _exchange(
        self, prepared: Prepared, timeout: float, head_only: bool, conn: Any = None
    ) -> Exchange:
        if self.body_is_async(prepared):
            raise InvalidRequest("an async iterable body needs AsyncTestClient")
        exchange = Exchange(
            conn or self._connection(prepared.target.scheme),
            prepared.request.method,
            prepared.target.target,
            timeout,
        )
        parser = exchange.parser
        failure: Optional[Exception] = None
        previous = shim_running_loop(self._loop)
        try:
            exchange.send(prepared.head, prepared.body, prepared.chunked)
            exchange.pump()
        except ProtocolError as broken:
            self.discard(exchange)
            failure = broken
        except InvalidRequest:
            self.discard(exchange)  # a half-sent request must not reach the next one
            raise
        finally:
            asyncio._set_running_loop(previous)
        if failure is not None:
            raise self._server_error() or failure
        if parser.complete and not self._errors:
            return exchange  # PERF: answered inside the feed, nothing to wait for
        if head_only:
            self._await(exchange, lambda: parser.head is not None or parser.complete)
        else:
            self._await(exchange, lambda: parser.complete)
        return exchange

    # -- requests --

    def _ensure_started(self) -> None:
        if not self._started:
            if self._closed:
                raise TestClientError("the TestClient is closed")
            if self._implicit_startup():
                self._warn_implicit_startup(stacklevel=5)
                self._startup()

    def _send(
        self, prepared: Prepared, follow: Optional[bool], timeout: Optional[float], stream: bool
    ) -> Response:
        if self._closed:
            raise TestClientError("the TestClient is closed")
        if not self._started:
            self._ensure_started()
        if self._errors:
            earlier = self._server_error()  # raised by a task after an earlier response
            if earlier is not None:
                raise earlier
        follow = self.follow_redirects if follow is None else follow
        wait = self.timeout if timeout is None else float(timeout)
        history: list[Response] = []
        while True:
            exchange = self._exchange(prepared, wait, head_only=stream)
            parser = exchange.parser
            if not parser.complete:
                redirecting = follow and parser.head is not None and parser.head.status in REDIRECTS
                if not redirecting:
                    self.lend(exchange)
                    source = _SyncBody(self, exchange)
                    response = source.response = self.finish(prepared, exchange, source)
                    response.history = history
                    return response
                self._await(exchange, lambda p=parser: p.complete)  # type: ignore[misc]
            self.release(exchange)
            response = self.finish(prepared, exchange)
            self._settle()
            following = (
                self.redirect(prepared, response, history)
                if follow and response.status_code in REDIRECTS
                else None
            )
            if following is None:
                response.history = history
                return response
            prepared = following

    def request(
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
        return self._send(prepared, follow_redirects, timeout, stream=False)

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[Response]:
        """``with client.stream("GET", url) as r:`` read the body with r.iter_bytes()."""
        follow = kwargs.pop("follow_redirects", None)
        timeout = kwargs.pop("timeout", None)
        prepared = self.build(method, url, **kwargs)
        response = self._send(prepared, follow, timeout, stream=True)
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
    ) -> WebSocketTestSession:
        """Upgrade ``url`` to a WebSocket on a memory connection of its own.

        ``with client.websocket_connect("/ws") as ws: ws.send_text("hi")``.  Raises
        WebSocketRejected when the server does not answer 101; ``timeout`` (default: the
        client's) bounds the handshake and is the default of every ``receive_*()``.
        """
        if self._closed:
            raise TestClientError("the TestClient is closed")
        session = WebSocketTestSession(self, url, subprotocols, headers, params, cookies, timeout)
        self._ensure_started()
        earlier = self._server_error()
        if earlier is not None:
            raise earlier
        return session._connect()

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)


class _SyncBody:
    """Pulls a streamed response's body for TestClient (see Response.iter_bytes)."""

    __slots__ = ("client", "exchange", "released", "response")

    def __init__(self, client: TestClient, exchange: Exchange) -> None:
        self.client = client
        self.exchange = exchange
        self.released = False
        self.response: Optional[Response] = None

    def next_chunk(self) -> Optional[bytes]:
        exchange = self.exchange
        parser = exchange.parser
        data = parser.take_body()
        if data:
            return data
        if not parser.complete:
            exchange.deadline = exchange.timeout + time.monotonic()  # the timeout is per chunk here
            self.client._await(exchange, lambda: bool(parser.chunks) or parser.complete)
            data = parser.take_body()
            if data:
                return data
        self._finish()
        return None

    async def anext_chunk(self) -> Optional[bytes]:
        raise StreamError("a TestClient response is read with iter_bytes(), not aiter_bytes()")

    def _finish(self) -> None:
        if not self.released:
            self.released = True
            if self.response is not None:
                self.response.trailers = Headers(self.exchange.parser.trailers)
            self.client.release(self.exchange)
            self.client._settle()

    def close(self) -> None:
        if self.released:
            return
        if self.exchange.parser.complete:
            self._finish()
            return
        self.released = True  # stopped early: the app sees an abort
        self.client.discard(self.exchange)
        self.client._settle()
