"""The pub/sub seam: what carries a published message to the other processes.

Theory of operation
-------------------
Local delivery never leaves C: ``app.publish`` / ``ws.publish`` call ``sc_loop_publish``,
which encodes the frame once and queues it on every local subscriber, exactly as without a
backend.  A backend only adds two things:

* **out**: after the local delivery, ``Backend.publish(topic, data, opcode, compress)``
  hands the same message to the backend, which queues it (bounded, see ``max_buffer``) and
  returns at once: publishing never waits for the network.  One queue per process, drained
  in order by one writer, so order is kept per publisher and topic.
* **in**: a message from another process goes to ``Backend._deliver``, which calls the same
  ``sc_loop_publish`` with no sender: every local subscriber gets it once.  A process never
  delivers its own message a second time: messages carry their origin (or the relay does
  not send them back).

Interest: the core calls ``sc_py_topic_interest`` when a topic gains its first local
subscriber or loses its last one (``sc_loop_watch_topics``); the backend follows it, so a
process only receives what it can deliver (Redis SUBSCRIBE/UNSUBSCRIBE, relay SUB/UNSUB).

Faults: a backend that cannot reach its peers degrades to local delivery.  Messages it
cannot carry (disconnected, or its buffer is full because the other side reads too slowly)
are dropped and counted in ``stats``: delivery across processes is at most once.  Nothing
waits without bound and nothing grows without bound.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Optional

from .._native import ffi, lib

if TYPE_CHECKING:
    from ..app import App

__all__ = ["DEFAULT_MAX_BUFFER", "MIN_MAX_BUFFER", "Backend", "PubSubStats"]

logger = logging.getLogger("socketify")

DEFAULT_MAX_BUFFER = 8 * 1024 * 1024  # bytes of messages not yet handed to the peer
MIN_MAX_BUFFER = 1024
WARN_INTERVAL = 10.0  # seconds between two warnings about drops
_COMPRESS = 1  # SC_WS_SEND_COMPRESS
_publish = lib.sc_loop_publish
_batch = lib.sc_loop_batch


class PubSubStats:
    """Counters of one backend: ``sent`` and ``received`` messages, ``dropped`` ones
    (``dropped_disconnected`` + ``dropped_overflow``), ``failures`` (connections that broke
    or could not be made) and ``reconnects``."""

    __slots__ = (
        "dropped_disconnected",
        "dropped_overflow",
        "failures",
        "received",
        "reconnects",
        "sent",
    )

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.dropped_disconnected = 0
        self.dropped_overflow = 0
        self.failures = 0
        self.reconnects = 0

    @property
    def dropped(self) -> int:
        return self.dropped_disconnected + self.dropped_overflow

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in (*self.__slots__, "dropped")}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.as_dict().items())
        return f"PubSubStats({inner})"


def check_max_buffer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"pubsub max_buffer must be an int (bytes), not {type(value).__name__}")
    if value < MIN_MAX_BUFFER:
        raise ValueError(f"pubsub max_buffer must be at least {MIN_MAX_BUFFER} bytes, not {value}")
    return value


class Backend:
    """Base of the pub/sub backends (RedisBackend, RelayBackend).

    Subclasses implement ``_send(topic, data, opcode, compress)`` (queue one message; the
    base class has counted it and checked the buffer), ``_interest_changed(topic, active)``,
    ``start()`` and ``async stop()``.
    """

    name = "backend"

    def __init__(self, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.max_buffer = check_max_buffer(max_buffer)
        self.stats = PubSubStats()
        self.topics: set[bytes] = set()  # topics with local subscribers
        self.connected = False
        self._app: Optional[App] = None
        self._native: Any = None
        self._pending = 0  # bytes queued, not yet handed over
        self._warned_at = 0.0
        self._warned_dropped = 0

    # ---- the App's side --------------------------------------------------------------------
    def attach(self, app: App) -> None:
        """Bind to one App (once)."""
        if self._app is not None and self._app is not app:
            raise RuntimeError(f"this {type(self).__name__} is used by another App already")
        self._app = app

    def bind_loop(self, native: Any, owner: int) -> None:
        """The App created its native loop: follow its topics, deliver into it."""
        from .. import _bridge

        self._native = native
        self.topics.clear()
        _bridge.register_topics(owner, self._on_interest)
        lib.sc_loop_watch_topics(native, 1)

    def unbind_loop(self) -> None:
        self._native = None
        self.topics.clear()

    def publish(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        """Carry one message to the other processes; never blocks, never raises for the
        network (a message that cannot be carried is counted as dropped)."""
        if not self.connected:
            self.stats.dropped_disconnected += 1
            return
        size = len(topic) + len(data)
        if self._pending + size > self.max_buffer:
            self.stats.dropped_overflow += 1
            self._warn_drops(f"its buffer is full (max_buffer {self.max_buffer} bytes)")
            return
        self._pending += size
        self.stats.sent += 1
        self._send(topic, data, opcode, compress)

    def _on_interest(self, active: int) -> None:
        event = lib.sc_loop_event_view(self._native)
        topic = bytes(ffi.buffer(event.data, event.len)) if event.len else b""
        if active:
            self.topics.add(topic)
        else:
            self.topics.discard(topic)
        self._interest_changed(topic, bool(active))

    # ---- the subclasses' side --------------------------------------------------------------
    def _deliver(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        """A message from another process: to every local subscriber, once."""
        native = self._native
        if native is None:
            return
        self.stats.received += 1
        _publish(
            native, 0, topic, len(topic), data, len(data), opcode, _COMPRESS if compress else 0
        )

    def _open_batch(self) -> Any:
        """Deliver the messages of one read in one batch: the core writes once per
        connection when it closes (PERF: without it, every delivery outside a poll is a
        write per subscriber).  Returns the token for ``_close_batch``."""
        native = self._native
        if native is not None:
            _batch(native, 1)
        return native

    def _close_batch(self, native: Any) -> None:
        if native is not None and native is self._native:  # not freed meanwhile
            _batch(native, 0)

    def _handed_over(self, size: int) -> None:
        self._pending = max(0, self._pending - size)

    def _drop_pending(self, count: int) -> None:
        """Queued messages that will never leave (the connection broke)."""
        self.stats.dropped_disconnected += count
        self.stats.sent -= count
        self._pending = 0

    def _warn_drops(self, why: str) -> None:
        now = time.monotonic()
        if now - self._warned_at < WARN_INTERVAL:
            return
        dropped = self.stats.dropped - self._warned_dropped
        self._warned_at = now
        self._warned_dropped = self.stats.dropped
        logger.warning("pubsub %s: dropped %d message(s): %s", self.name, dropped, why)

    def _send(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        raise NotImplementedError

    def _interest_changed(self, topic: bytes, active: bool) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Called in the running asyncio loop when the App starts serving."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Called when the App stops: hand over what is queued (briefly), disconnect."""
        raise NotImplementedError
