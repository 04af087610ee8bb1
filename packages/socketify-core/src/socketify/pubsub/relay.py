"""The embedded relay: pub/sub between the CLI's ``--workers`` with no external service.

Theory of operation
-------------------
The supervisor (which never runs the app) owns a ``RelayHub``.  Before it forks a worker it
makes a Unix socket pair: the worker keeps one end (``RelayBackend``, the app's pub/sub
backend), the hub the other, watched in the supervisor's one ``select`` loop.

* A worker sends SUB/UNSUB when a topic gains its first / loses its last local subscriber,
  and a frame for every publish (wire.py).  Frames leave in publish order, batched: all the
  publishes of one loop turn go in one ``send``.
* The hub forwards each published frame, unchanged, to every *other* worker that has
  interest in its topic (never back to its publisher), so order per publisher and topic is
  kept and each subscriber gets a message once.
* Bounded both ways: the hub holds at most ``max_buffer`` bytes for a worker that reads too
  slowly (past that, messages to it are dropped, counted, and logged at most every 10 s);
  a worker holds at most ``max_buffer`` bytes the supervisor has not taken yet.
* A worker that dies loses its pair; its replacement gets a new one and sends SUB for its
  own topics as clients subscribe: it rejoins with nothing to replay (at most once).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import selectors
import socket
import time
from typing import Any, Optional

from .backend import DEFAULT_MAX_BUFFER, WARN_INTERVAL, Backend, check_max_buffer
from .wire import COMPRESS, SUB, UNSUB, RelayProtocolError, encode, frames, messages

__all__ = ["RelayBackend", "RelayHub"]

logger = logging.getLogger("socketify")

_READ = 256 * 1024
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


# ---- the supervisor's side ----------------------------------------------------------------------
class RelayChannel:
    """The hub's end of one worker's pair."""

    __slots__ = ("dropped", "inbuf", "out", "pid", "sock", "topics", "writing")

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.topics: set[bytes] = set()
        self.inbuf = bytearray()
        self.out = bytearray()
        self.writing = False
        self.dropped = 0


class RelayHub:
    """Forwards published frames between the workers' pairs (in the supervisor)."""

    def __init__(self, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.max_buffer = check_max_buffer(max_buffer)
        self.channels: dict[int, RelayChannel] = {}  # pid -> channel
        self.forwarded = 0
        self.dropped = 0
        # PERF: one read buffer for every pair (recv_into): no allocation per read, which
        # also keeps PyPy's heap from growing with raw buffers between major collections
        self._rbuf = bytearray(_READ)
        self._rview = memoryview(self._rbuf)
        self._selector: Optional[selectors.BaseSelector] = None
        self._warned_at = 0.0
        self._warned_dropped = 0

    def bind(self, selector: selectors.BaseSelector) -> None:
        self._selector = selector

    @staticmethod
    def pair() -> tuple[socket.socket, socket.socket]:
        """(hub end, worker end) for a worker about to be forked."""
        hub_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        hub_end.setblocking(False)
        return hub_end, worker_end

    def add(self, pid: int, sock: socket.socket) -> None:
        channel = RelayChannel(pid, sock)
        self.channels[pid] = channel
        if self._selector is not None:
            self._selector.register(sock, selectors.EVENT_READ, channel)

    def remove(self, pid: int) -> None:
        channel = self.channels.pop(pid, None)
        if channel is None:
            return
        if self._selector is not None:
            try:
                self._selector.unregister(channel.sock)
            except (KeyError, ValueError):
                pass
        channel.sock.close()

    def forget(self) -> None:
        """In a forked worker: close the supervisor's ends without touching its selector."""
        for channel in self.channels.values():
            channel.sock.close()
        self.channels.clear()
        self._selector = None

    def close(self) -> None:
        for pid in list(self.channels):
            self.remove(pid)

    # ---- events ----------------------------------------------------------------------------
    def handle(self, channel: RelayChannel, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(channel)
        if mask & selectors.EVENT_READ and channel.pid in self.channels:
            self._read(channel)

    def _read(self, channel: RelayChannel) -> None:
        try:
            size = channel.sock.recv_into(self._rbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            size = 0
        if not size:
            self.remove(channel.pid)  # the worker is gone; its exit is reaped as usual
            return
        channel.inbuf += self._rview[:size]
        targets: set[RelayChannel] = set()
        try:
            for kind, topic, frame in frames(channel.inbuf):
                if kind == SUB:
                    channel.topics.add(topic)
                elif kind == UNSUB:
                    channel.topics.discard(topic)
                else:
                    self._forward(channel, topic, frame, targets)
        except RelayProtocolError as exc:
            logger.error("pubsub relay: worker %d: %s: closing its relay", channel.pid, exc)
            self.remove(channel.pid)
        for target in targets:
            self._flush(target)

    def _forward(
        self, origin: RelayChannel, topic: bytes, frame: bytes, targets: set[RelayChannel]
    ) -> None:
        limit = self.max_buffer
        for other in self.channels.values():
            if other is origin or topic not in other.topics:
                continue
            if len(other.out) + len(frame) > limit:
                other.dropped += 1
                self.dropped += 1
                self._warn(other)
                continue
            other.out += frame
            self.forwarded += 1
            targets.add(other)

    def _flush(self, channel: RelayChannel) -> None:
        out = channel.out
        if out:
            try:
                sent = channel.sock.send(out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.remove(channel.pid)
                return
            del out[:sent]
        want = bool(out)
        if want != channel.writing and self._selector is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self._selector.modify(channel.sock, events, channel)
            channel.writing = want

    def _warn(self, channel: RelayChannel) -> None:
        now = time.monotonic()
        if now - self._warned_at < WARN_INTERVAL:
            return
        logger.warning(
            "pubsub relay: worker %d reads too slowly: dropped %d message(s) (max_buffer %d bytes)",
            channel.pid,
            self.dropped - self._warned_dropped,
            self.max_buffer,
        )
        self._warned_at = now
        self._warned_dropped = self.dropped


# ---- the worker's side --------------------------------------------------------------------------
class RelayBackend(Backend):
    """A worker's end of the embedded relay (set up by the CLI's supervisor)."""

    name = "relay"

    def __init__(self, sock: socket.socket, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        super().__init__(max_buffer=max_buffer)
        sock.setblocking(False)
        self.sock = sock
        self._out = bytearray()
        self._in = bytearray()
        self._rbuf = bytearray(_READ)  # PERF: recv_into, as the hub
        self._rview = memoryview(self._rbuf)
        self._aio: Optional[asyncio.AbstractEventLoop] = None
        self._flush_due = False
        self._writing = False

    @classmethod
    def from_fd(cls, fd: int, **kw: Any) -> RelayBackend:
        return cls(socket.socket(fileno=fd), **kw)

    def __repr__(self) -> str:
        return f"<RelayBackend fd={self.sock.fileno()} connected={self.connected}>"

    # ---- from the App --------------------------------------------------------------------
    def _send(self, topic: bytes, data: bytes, opcode: int, compress: bool) -> None:
        self._out += encode(opcode | COMPRESS if compress else opcode, topic, data)
        self._schedule()

    def _interest_changed(self, topic: bytes, active: bool) -> None:
        if self.connected:  # before start(), start() sends the whole set
            self._out += encode(SUB if active else UNSUB, topic)
            self._schedule()

    def start(self) -> None:
        if self._aio is not None or self.sock.fileno() < 0:
            return
        self._aio = asyncio.get_running_loop()
        self._aio.add_reader(self.sock.fileno(), self._on_readable)
        self.connected = True
        for topic in self.topics:
            self._out += encode(SUB, topic)
        self._schedule()

    async def stop(self) -> None:
        if self._aio is None:
            return
        if self.connected and self._out:
            self._flush()  # one try: the supervisor is local and reading
        self._detach()
        self.sock.close()

    # ---- the socket ----------------------------------------------------------------------
    def _schedule(self) -> None:
        # PERF: every publish of one loop turn leaves in one send()
        if not self._flush_due and not self._writing and self._aio is not None:
            self._flush_due = True
            self._aio.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        out = self._out
        if not out or not self.connected:
            return
        try:
            sent = self.sock.send(out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(exc)
            return
        del out[:sent]
        self._handed_over(sent)
        want = bool(out)
        if want != self._writing and self._aio is not None:
            if want:
                self._aio.add_writer(self.sock.fileno(), self._flush)
            else:
                self._aio.remove_writer(self.sock.fileno())
            self._writing = want

    def _on_readable(self) -> None:
        try:
            size = self.sock.recv_into(self._rbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not size:
            self._lost(None)
            return
        buf = self._in
        buf += self._rview[:size]
        deliver = self._deliver
        try:
            received = messages(buf)
        except RelayProtocolError as exc:
            self._lost(exc)
            return
        batch = self._open_batch()
        try:
            for kind, topic, body in received:
                if kind < SUB:
                    deliver(topic, body, kind & 0x7F, bool(kind & COMPRESS))
        finally:
            self._close_batch(batch)

    def _lost(self, exc: Optional[BaseException]) -> None:
        if not self.connected:
            return
        why = "closed" if exc is None or isinstance(exc, _GONE) else str(exc)
        if isinstance(exc, OSError) and exc.errno not in (errno.EPIPE, errno.ECONNRESET, None):
            why = str(exc)
        logger.warning("pubsub relay: the supervisor's relay %s: local delivery only", why)
        self._drop_pending(0)
        self._out.clear()
        self._detach()

    def _detach(self) -> None:
        self.connected = False
        aio = self._aio
        if aio is not None and self.sock.fileno() >= 0:
            aio.remove_reader(self.sock.fileno())
            if self._writing:
                aio.remove_writer(self.sock.fileno())
        self._writing = False
