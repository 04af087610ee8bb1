"""One request and its response on a core memory connection.

The memory connection (``host.open_connection(remote)``, socketify.memory.MemoryHost) runs
the core's parser and the synchronous part of the handler inside ``feed()``.  So a sync
handler has usually answered when ``send()`` returns, and ``pump()`` finds the whole
response in ``conn.read()``: no event loop turn at all (the fast path).  An async
handler's answer is written by a task; then ``wait()`` lets the app's asyncio loop run,
reading after every turn, until the response (or its head, or the next body chunk of a
streamed response) is there, the app raised, or the deadline passed.

``wait()`` is a coroutine: the sync client runs it with ``run_until_complete`` on its own
loop, the async client awaits it on the running loop.  It yields with ``sleep(0)`` for a
few turns (tasks that only await other tasks finish there) and then backs off to short
sleeps, so handlers that ``await asyncio.sleep(...)`` do not make it spin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Iterable
from typing import Any, Callable, Optional

from ._errors import InvalidRequest, ProtocolError, ResponseTimeout
from ._wire import LAST_CHUNK, ResponseParser, encode_chunk

__all__ = ["Exchange", "shim_running_loop"]

SPIN_TURNS = 4  # loop turns with sleep(0) before backing off
BACKOFF_FIRST = 0.0002
BACKOFF_MAX = 0.005


def shim_running_loop(loop: asyncio.AbstractEventLoop) -> Any:
    """Make ``loop`` the running loop (for a feed) without a loop turn; returns the
    previous one to restore with ``asyncio._set_running_loop``."""
    # PERF: run_until_complete per request costs more than the whole request.
    previous = asyncio._get_running_loop()
    asyncio._set_running_loop(loop)
    return previous


def _chunk_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    raise InvalidRequest(f"a streamed body must yield bytes or str, got {type(chunk).__name__}")


class Exchange:
    """Send one request on ``conn`` and parse what the core answers."""

    __slots__ = ("conn", "deadline", "method", "parser", "sent_all", "started", "target", "timeout")

    def __init__(self, conn: Any, method: str, target: str, timeout: float) -> None:
        self.conn = conn
        self.method = method
        self.target = target
        self.timeout = timeout
        self.started = started = time.monotonic()  # PERF: one clock read for both
        self.deadline = started + timeout
        self.parser = ResponseParser(method == "HEAD")
        self.sent_all = False

    # -- sending --

    def send(self, head: bytes, body: Any, chunked: bool) -> None:
        """Feed the request; a server that closes early stops the send, not the test."""
        conn = self.conn
        try:
            if body is None or isinstance(body, bytes):
                conn.feed(head + body if body else head)  # PERF: one feed, one parser run
            else:
                conn.feed(head)
                for chunk in body:
                    data = _chunk_bytes(chunk)
                    conn.feed(encode_chunk(data) if chunked else data)
                if chunked:
                    conn.feed(LAST_CHUNK)
            self.sent_all = True
        except ConnectionError:
            pass  # the server closed mid-request (413, 400...): its answer is read next

    async def asend(self, head: bytes, body: AsyncIterable[Any], chunked: bool) -> None:
        conn = self.conn
        try:
            conn.feed(head)
            async for chunk in body:
                data = _chunk_bytes(chunk)
                conn.feed(encode_chunk(data) if chunked else data)
            if chunked:
                conn.feed(LAST_CHUNK)
            self.sent_all = True
        except ConnectionError:
            pass

    # -- receiving --

    def pump(self) -> bool:
        """Parse what the core wrote so far; True when there were new bytes."""
        conn, parser = self.conn, self.parser
        data = conn.read()
        if data:
            parser.feed(data)
        if not parser.complete and not conn.open:
            parser.feed(conn.read())
            if not parser.complete:
                self._feed_eof()
        return bool(data)

    def _feed_eof(self) -> None:
        try:
            self.parser.feed_eof()
        except ProtocolError as error:
            if self.parser.head is None and not self.sent_all:
                raise ProtocolError(
                    f"the server closed the connection while {self.method} {self.target} "
                    "was being sent, without a response"
                ) from error
            raise ProtocolError(f"{error} [{self.method} {self.target}]", error.data) from None

    async def wait(self, ready: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """Run the loop until ``ready()`` (or ``stop()``: the app raised) or the deadline."""
        sleep = asyncio.sleep
        idle = 0
        delay = BACKOFF_FIRST
        while not ready():
            if stop():
                return
            if time.monotonic() >= self.deadline:
                raise self.timed_out()
            if idle < SPIN_TURNS:
                await sleep(0)
            else:
                await sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            if self.pump():
                idle, delay = 0, BACKOFF_FIRST
            else:
                idle += 1

    def timed_out(self) -> ResponseTimeout:
        parser = self.parser
        if parser.head is None:
            detail = "no response head was written"
        else:
            detail = (
                f"the head ({parser.head.status}) and {parser.body_size} body bytes were "
                "written, the body never ended"
            )
        return ResponseTimeout(
            f"{self.method} {self.target} did not respond within {self.timeout:g} s: {detail}",
            self.method,
            self.target,
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def reusable(self) -> bool:
        """The connection may carry the next request."""
        return self.reusable_if(self.conn.open)

    def reusable_if(self, conn_open: bool) -> bool:
        parser = self.parser
        return parser.complete and parser.keep_alive and not parser.upgraded and conn_open

    def check_leftover(self, conn_open: Optional[bool] = None) -> Optional[ProtocolError]:
        """Bytes the core wrote after the complete response, as the error they are
        (``conn_open``: what ``conn.open`` says, when the caller asked already)."""
        parser = self.parser
        if parser.complete and not parser.upgraded:
            if conn_open is None:
                conn_open = self.conn.open
            extra = parser.leftover or (self.conn.read() if conn_open else b"")
            if extra:
                return ProtocolError(
                    f"the core wrote {len(extra)} bytes after the end of the response to "
                    f"{self.method} {self.target}",
                    extra,
                )
        return None


def is_stream_body(body: Any) -> bool:
    if body is None or type(body) is bytes:  # PERF: no ABC check for the common bodies
        return False
    return isinstance(body, (Iterable, AsyncIterable)) and not isinstance(
        body, (bytes, bytearray, memoryview, str, dict)
    )
