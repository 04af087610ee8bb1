"""The WSGI worker pool and the hand-back to the loop thread.

``WorkerPool``: ``size`` daemon threads taking calls from one ``queue.SimpleQueue`` (no
Future per call, unlike ``ThreadPoolExecutor``), started on first use.

``LoopInbox``: what workers hand back to the loop thread (``post(fn, arg)``).  Posts are
appended to a deque and the loop is woken only when no drain is pending, so under load one
``call_soon_threadsafe`` (one wake-up of the loop) carries many finished responses.  The
drain clears the pending flag *before* taking the queue, and a worker appends *before*
looking at the flag, so a post is either taken by a drain already running or wakes a new one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from typing import Any, Callable, Optional

logger = logging.getLogger("socketify.wsgi")


class WorkerPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._threads:
            for index in range(self.size):
                thread = threading.Thread(target=self._work, name=f"wsgi-{index}", daemon=True)
                thread.start()
                self._threads.append(thread)
        self._jobs.put((fn, args))

    def _work(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # the call reports its own errors; never kill the worker
                logger.exception("a WSGI worker call raised")

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []


class LoopInbox:
    def __init__(self) -> None:
        self._posts: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._pending = False
        self.loop: Optional[Any] = None

    def post(self, fn: Callable[[Any], Any], arg: Any) -> None:
        """Run ``fn(arg)`` on the loop thread (called from a worker)."""
        self._posts.append((fn, arg))
        if not self._pending:
            self._pending = True
            self.loop.call_soon_threadsafe(self._drain)  # type: ignore[union-attr]

    def _drain(self) -> None:
        self._pending = False
        posts = self._posts
        while posts:
            fn, arg = posts.popleft()
            try:
                fn(arg)
            except Exception:
                logger.exception("handing a WSGI result to the loop failed")
