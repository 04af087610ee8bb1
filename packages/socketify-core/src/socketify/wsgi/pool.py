"""The WSGI worker pool and the hand-back to the loop thread.

``WorkerPool``: at most ``size`` daemon threads, started as they are first needed, taking
calls from one deque (no Future per call, unlike ``ThreadPoolExecutor``).

Waking a worker is what costs here, not the queue: a wake-up is a futex call and, on a busy
core, two context switches, and a woken thread can do nothing but wait while another holds
the GIL.  So a worker is woken only when the work would otherwise wait:

- ``submit`` (loop thread) wakes one only when no worker is *free* (awake and outside a
  job): a free worker takes the job without sleeping.  Under load the loop hands a whole
  poll's requests to one worker, which runs them back to back while the loop sleeps in
  epoll: two switches per poll instead of some per request.
- A worker that starts a job while others are still queued and no other worker is free
  asks the loop to *look* (``LoopInbox.post``): the loop runs the look when it next holds
  the GIL, which is when that job blocks (or the switch interval passes), and wakes one
  more worker if jobs are still waiting.  So an app that blocks holds up the queue for one
  loop turn at most, and an app that does not never wakes a thread it does not need.

The states of a worker: free (in ``_free``), busy (in a job) or sleeping (its lock in
``_sleeping``).  A worker leaves ``_free`` *before* it checks the queue, and ``submit``
appends *before* it checks ``_free``: a job is either seen by a worker that is still free
or ``submit`` sees no free worker and wakes one.  Sleeping and waking happen under
``_mutex``; the waker marks the worker free before it releases its lock.  The checks of
``_free`` and ``_jobs`` outside ``_mutex`` (``submit``, a worker between jobs) are single
reads and single set/deque operations, each atomic under the GIL (PyPy's too); the order
above is what makes them safe, not a lock.

``LoopInbox``: what workers hand back to the loop thread (``post(fn, arg)``).  Posts are
appended to a deque and the loop is woken only when no drain is pending, so under load one
``call_soon_threadsafe`` (one wake-up of the loop) carries many finished responses.  The
drain clears the pending flag *before* taking the queue, and a worker appends *before*
looking at the flag, so a post is either taken by a drain already running or wakes a new one.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Callable, Optional

logger = logging.getLogger("socketify.wsgi")


class _Unbound:
    """The loop of an inbox that no loop took yet: neither an event loop nor None, so one
    identity test against the runtime's loop (which may be None) sees both cases."""

    def call_soon_threadsafe(self, *_args: Any) -> None:
        raise RuntimeError("this WSGI inbox has no event loop yet")


UNBOUND: Any = _Unbound()


class LoopInbox:
    def __init__(self) -> None:
        self._posts: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._pending = False
        self.loop: Any = UNBOUND

    def post(self, fn: Callable[[Any], Any], arg: Any) -> None:
        """Run ``fn(arg)`` on the loop thread (called from a worker)."""
        self._posts.append((fn, arg))
        if not self._pending:
            self._pending = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._pending = False
        posts = self._posts
        while posts:
            fn, arg = posts.popleft()
            try:
                fn(arg)
            except Exception:
                logger.exception("handing a WSGI result to the loop failed")


class WorkerPool:
    def __init__(self, size: int, inbox: LoopInbox) -> None:
        self.size = size
        self._inbox = inbox
        self._jobs: deque[Optional[tuple[Callable[..., Any], tuple[Any, ...]]]] = deque()
        self._mutex = threading.Lock()
        self._free: set[threading.Lock] = set()  # the wake locks of free workers
        self._sleeping: list[threading.Lock] = []  # ... of sleeping ones (released to wake)
        self._started = 0  # threads started (each gets a stop marker at shutdown)
        self._look_asked = False
        self._closed = False

    # ---- loop thread --------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._closed:
            raise RuntimeError("this WSGI worker pool is shut down: it runs no more jobs")
        self._jobs.append((fn, args))
        if not self._free:
            self._wake()

    def _wake(self) -> None:
        """Wake (or start) one worker unless one is free."""
        with self._mutex:
            if self._free or self._closed:  # closed: a look the loop ran after shutdown
                return
            if self._sleeping:
                wake = self._sleeping.pop()
                self._free.add(wake)
                wake.release()
            elif self._started < self.size:
                wake = threading.Lock()
                wake.acquire()
                self._free.add(wake)
                thread = threading.Thread(
                    target=self._work, args=(wake,), name=f"wsgi-{self._started}", daemon=True
                )
                self._started += 1
                thread.start()
            # else every worker is busy: the first to finish takes the job

    def _look(self, _arg: Any) -> None:
        self._look_asked = False
        if self._jobs and not self._free:
            self._wake()

    def rebind(self, inbox: LoopInbox) -> None:
        """Ask the looks of a new loop (``WSGI._bind_inbox``); a look the old loop never
        ran does not stop the next one being asked."""
        self._inbox = inbox
        self._look_asked = False

    def shutdown(self) -> int:
        """Stop each worker once it is done with what it runs.  Jobs not started by now
        (the server's shutdown_timeout passed) are dropped, not run after the server: their
        connections close with it.  Returns how many (also logged).  The pool takes no
        job after this (a server makes a new pool when it serves again)."""
        dropped = 0
        with self._mutex:
            if self._closed:
                return 0
            self._closed = True
            jobs = self._jobs
            while jobs:
                try:
                    jobs.popleft()
                except IndexError:  # a worker took the last one meanwhile
                    break
                dropped += 1
            jobs.extend([None] * self._started)
            for wake in self._sleeping:
                wake.release()
            self._sleeping.clear()
        if dropped:
            logger.warning(
                "%d queued WSGI request(s) not started before the server closed: not run",
                dropped,
            )
        return dropped

    # ---- workers ------------------------------------------------------------------------
    def _work(self, wake: threading.Lock) -> None:
        jobs = self._jobs
        free = self._free
        while True:
            try:
                job = jobs.popleft()
            except IndexError:
                with self._mutex:
                    free.discard(wake)  # before the check: see the module doc
                    if jobs:
                        free.add(wake)
                        continue
                    self._sleeping.append(wake)
                wake.acquire()  # released by _wake, which made this worker free again
                continue
            if job is None:
                return
            free.discard(wake)
            if jobs and not free and not self._look_asked:
                self._ask_look()
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # the call reports its own errors; never kill the worker
                logger.exception("a WSGI worker call raised")
            free.add(wake)

    def _ask_look(self) -> None:
        self._look_asked = True
        try:
            self._inbox.post(self._look, None)
        except Exception:  # the loop is closed: nothing will look, the job still runs
            self._look_asked = False
            logger.exception("asking the loop to wake another WSGI worker failed")
