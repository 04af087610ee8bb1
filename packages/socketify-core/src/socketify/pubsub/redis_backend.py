"""RedisBackend: pub/sub across machines through a Redis server (the ``redis`` client).

Theory of operation
-------------------
One asyncio task owns a *session*: a client for PUBLISH and a PubSub connection for
SUBSCRIBE, both from ``redis.asyncio`` (hiredis parses replies when it is installed).  A
session runs two loops until either fails:

* the reader waits for messages (no polling: an idle server sleeps) and delivers each one
  into C (``Backend._deliver``), unless it carries this process's own origin;
* the writer wakes when something is queued: first the interest changes (SUBSCRIBE and
  UNSUBSCRIBE of ``prefix + topic``), then every queued message in one pipeline (one
  round trip for a burst), in order.

Wire: channel ``prefix + topic``; payload ``origin (8 random bytes per backend) +
flags (opcode | 0x80 when compressed) + message``.

Faults: when the session fails (Redis stopped, network gone) the backend logs once, counts
what was queued as dropped, and retries with exponential backoff (jittered, capped at
``max_backoff``); while it is down ``publish`` drops and counts at once.  A new session
subscribes again to every topic that has local subscribers at that moment.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import time
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from .backend import DEFAULT_MAX_BUFFER, Backend

__all__ = ["DEFAULT_PREFIX", "RedisBackend"]

logger = logging.getLogger("socketify")

DEFAULT_PREFIX = "socketify:"
SCHEMES = ("redis", "rediss", "unix")
_ORIGIN = 8
_BATCH = 1024  # messages per pipeline
_STOP_FLUSH = 1.0  # seconds stop() waits for the queue to leave


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _import_redis() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise ImportError(
            "the Redis pub/sub backend needs the redis package: pip install 'socketify-core[redis]'"
        ) from None
    return aioredis


class RedisBackend(Backend):
    """Pub/sub across processes and machines through Redis.

    ``url``: ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS; redis-py's
    ``ssl_*`` query parameters apply) or ``unix:///path/redis.sock?db=0``.  ``prefix`` is put
    before every topic to name its Redis channel.  ``max_buffer``: bytes of messages queued
    for Redis at most (more are dropped and counted).  ``connect_timeout`` and
    ``max_backoff`` in seconds.
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: Any = DEFAULT_PREFIX,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        connect_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__(max_buffer=max_buffer)
        if not isinstance(url, str):
            raise TypeError(f"the Redis URL must be a str, not {type(url).__name__}")
        scheme = urlsplit(url).scheme
        if scheme not in SCHEMES:
            raise ValueError(
                f"unsupported pub/sub URL {redacted(url)!r}: use redis://, rediss:// or unix://"
            )
        if isinstance(prefix, str):
            prefix = prefix.encode("utf-8")
        if not isinstance(prefix, bytes):
            raise TypeError(f"prefix must be str or bytes, not {type(prefix).__name__}")
        for what, value in (("connect_timeout", connect_timeout), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
        self._aioredis = _import_redis()
        self.url = url
        self.prefix = prefix
        self.connect_timeout = float(connect_timeout)
        self.max_backoff = float(max_backoff)
        self.origin = os.urandom(_ORIGIN)
        self._queue: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._changes: dict[bytes, bool] = {}
        self._subscribed: set[bytes] = set()
        self._wake: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._stopping = False
        self._inflight = 0  # messages in the pipeline being sent
        self._down_since: Optional[float] = None
        self._dropped_at_down = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<RedisBackend {redacted(self.url)} prefix={self.prefix!r} {state}>"

    # ---- from the App --------------------------------------------------------------------
    def _send(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        flags = opcode | 0x80 if compress else opcode
        self._queue.append((self.prefix + topic, self.origin + bytes((flags,)) + data))
        wake = self._wake
        if wake is not None:
            wake.set()

    def _interest_changed(self, topic: bytes, active: bool) -> None:
        if self._wake is None:
            return
        self._changes[self.prefix + topic] = active
        self._wake.set()

    def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        self._stopping = True
        deadline = time.monotonic() + _STOP_FLUSH
        while self.connected and self._queue and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._task = None
        self._wake = None
        self.connected = False

    # ---- the session ---------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._went_down(exc)
            if self._stopping:
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(self.max_backoff, backoff * 2)
            if self.connected:  # a session that worked resets the backoff
                backoff = 0.05

    def _went_down(self, exc: BaseException) -> None:
        was_up = self.connected
        self.connected = False
        self.stats.failures += 1
        self._drop_pending(len(self._queue) + self._inflight)
        self._queue.clear()
        self._inflight = 0
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._dropped_at_down = self.stats.dropped
            what = "lost the connection to" if was_up else "cannot connect to"
            logger.warning(
                "pubsub redis: %s %s (%s): local delivery only, reconnecting",
                what,
                redacted(self.url),
                exc or type(exc).__name__,
            )

    def _came_up(self) -> None:
        self.connected = True
        if self._down_since is not None:
            self.stats.reconnects += 1
            logger.warning(
                "pubsub redis: connected to %s again after %.1f s; %d message(s) dropped meanwhile",
                redacted(self.url),
                time.monotonic() - self._down_since,
                self.stats.dropped - self._dropped_at_down,
            )
            self._down_since = None
        else:
            logger.info("pubsub redis: connected to %s", redacted(self.url))

    async def _session(self) -> None:
        aioredis = self._aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = aioredis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 0),  # failures come to us: we back off and resubscribe
        )
        pubsub = client.pubsub()
        try:
            await asyncio.wait_for(client.ping(), self.connect_timeout)
            # A channel of our own keeps the subscriber connection open with no topic.
            own = self.prefix + b"\x00" + self.origin.hex().encode()
            channels = [self.prefix + t for t in self.topics]
            self._changes.clear()
            await asyncio.wait_for(pubsub.subscribe(own, *channels), self.connect_timeout)
            self._subscribed = set(channels)
            self._came_up()
            assert self._wake is not None
            self._wake.set()  # interest that changed meanwhile
            reader = asyncio.ensure_future(self._read(pubsub))
            writer = asyncio.ensure_future(self._write(client, pubsub))
            try:
                done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                reader.cancel()
                writer.cancel()
                for task in (reader, writer):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            for task in done:
                task.result()  # raises what ended the session
            raise ConnectionError("the Redis session ended")
        finally:
            self._subscribed = set()
            for closing in (pubsub, client):
                close = getattr(closing, "aclose", None) or closing.close
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(close(), 1.0)

    async def _read(self, pubsub: Any) -> None:
        origin = self.origin
        skip = len(self.prefix)
        deliver = self._deliver
        get = pubsub.get_message
        while True:
            msgs = [await get(ignore_subscribe_messages=True, timeout=None)]
            while len(msgs) < _BATCH:  # what is already read, without waiting
                msg = await get(ignore_subscribe_messages=True, timeout=0.0)
                if msg is None:
                    break
                msgs.append(msg)
            # PERF: delivered in one batch, one write per connection (nothing awaits inside)
            batch = self._open_batch()
            try:
                for msg in msgs:
                    if msg is None or msg["type"] != "message":
                        continue
                    payload = msg["data"]
                    if len(payload) <= _ORIGIN or payload[:_ORIGIN] == origin:
                        continue  # our own message back from Redis (delivered locally already)
                    flags = payload[_ORIGIN]
                    opcode = flags & 0x7F
                    if opcode in (1, 2):
                        body = payload[_ORIGIN + 1 :]
                        deliver(msg["channel"][skip:], body, opcode, bool(flags & 0x80))
            finally:
                self._close_batch(batch)

    async def _write(self, client: Any, pubsub: Any) -> None:
        wake = self._wake
        assert wake is not None
        queue = self._queue
        while True:
            await wake.wait()
            wake.clear()
            if self._changes:
                changes, self._changes = self._changes, {}
                on = [ch for ch, active in changes.items() if active and ch not in self._subscribed]
                off = [
                    ch for ch, active in changes.items() if not active and ch in self._subscribed
                ]
                if on:
                    await pubsub.subscribe(*on)
                    self._subscribed.update(on)
                if off:
                    await pubsub.unsubscribe(*off)
                    self._subscribed.difference_update(off)
            while queue:
                pipe = client.pipeline(transaction=False)
                size = 0
                for _ in range(min(_BATCH, len(queue))):
                    channel, payload = queue.popleft()
                    size += len(channel) + len(payload) - _ORIGIN - 1 - len(self.prefix)
                    pipe.publish(channel, payload)
                self._handed_over(size)
                self._inflight = len(pipe)  # lost (and counted) if the session breaks now
                await pipe.execute()
                self._inflight = 0
