"""``wsgi.input``: the request body, fed by the loop thread, read by the worker.

The loop thread appends what the core delivers (``feed``); past ``INPUT_HIGH`` buffered
bytes it pauses the connection (the core stops reading the socket).  The worker's reads
take from the buffer and, once it is below ``INPUT_LOW``, ask the loop to resume.  A
client that goes away wakes a waiting reader, which then sees the body end early
(``read()`` returns what there is; the response is aborted anyway).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ..response import AppResponse

INPUT_HIGH = 256 * 1024
INPUT_LOW = 64 * 1024
_ENDED = threading.Condition()  # the lock of every body-less input (never waited on)


class RequestInput:
    def __init__(self, res: Optional[AppResponse], loop: Optional[asyncio.AbstractEventLoop]):
        self._res = res
        self._loop = loop
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = res is None
        self._paused = False
        self._asked = False
        self._cond = threading.Condition()

    @classmethod
    def empty(cls) -> RequestInput:
        return _EndedInput()

    # ---- loop thread ------------------------------------------------------------------
    def feed(self, res: AppResponse, chunk: bytes, is_end: bool) -> None:
        with self._cond:
            if chunk:
                self._chunks.append(chunk)
                self._size += len(chunk)
            if is_end:
                self._done = True
            elif self._size > INPUT_HIGH and not self._paused:
                self._paused = True
                res.pause()
            self._cond.notify_all()

    def _resume(self) -> None:
        res = self._res
        if res is not None and self._paused:
            self._paused = False
            res.resume()

    def _continue(self) -> None:
        res = self._res
        if res is not None:
            res._continue_if_expected()

    def abort(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    # ---- worker thread ----------------------------------------------------------------
    def _fill(self, want: int) -> None:
        """Wait until ``want`` bytes (-1: all) are buffered or the body ended."""
        if not self._asked and self._loop is not None:
            self._asked = True
            self._loop.call_soon_threadsafe(self._continue)
        while not self._done and (want < 0 or self._size < want):
            res = self._res
            if res is not None and res.aborted:
                self._done = True
                break
            if self._paused and self._loop is not None:
                self._loop.call_soon_threadsafe(self._resume)
            self._cond.wait(0.5)

    def _take(self, size: int) -> bytes:
        chunks = self._chunks
        if size < 0 or size >= self._size:
            data = b"".join(chunks)
            chunks.clear()
        else:
            parts = []
            left = size
            while left:
                chunk = chunks[0]
                if len(chunk) <= left:
                    parts.append(chunks.popleft())
                    left -= len(chunk)
                else:
                    parts.append(chunk[:left])
                    chunks[0] = chunk[left:]
                    left = 0
            data = b"".join(parts)
        self._size -= len(data)
        if self._paused and self._size < INPUT_LOW and self._loop is not None:
            self._loop.call_soon_threadsafe(self._resume)
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None:
            size = -1
        if not isinstance(size, int):
            raise TypeError(f"read() size must be an int, not {type(size).__name__}")
        if size == 0:
            return b""
        with self._cond:
            self._fill(size)
            return self._take(size)

    def readline(self, size: Optional[int] = -1) -> bytes:
        if size is None:
            size = -1
        with self._cond:
            while True:
                buffered = b"".join(self._chunks)
                index = buffered.find(b"\n")
                if index >= 0 and (size < 0 or index < size):
                    return self._take(index + 1)
                if size >= 0 and len(buffered) >= size:
                    return self._take(size)
                if self._done:
                    return self._take(-1)
                self._fill(self._size + 1)

    def readlines(self, hint: Any = None) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and hint > 0 and total >= hint:
                return lines

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _EndedInput(RequestInput):
    """The input of a request without a body: ended from the start, so a read never waits
    and nothing is ever fed.  PERF: its state is class attributes (one shared Condition and
    empty deque, never waited on or appended to): making one per request is an allocation
    (a Condition is an RLock and two methods' worth of setup: 5% of a WSGI GET's CPU)."""

    _res = None
    _loop = None
    _chunks: deque[bytes] = deque()
    _size = 0
    _done = True
    _paused = False
    _asked = False
    _cond = _ENDED

    def __init__(self) -> None:
        pass
