"""asyncio integration: the core's epoll fd is one more reader of the asyncio loop.

The core's reactor owns an epoll set (sockets, its timerfd, and an eventfd it signals when
work is queued from outside a poll).  An epoll fd is itself readable exactly when one of
its members has an event, so asyncio's selector (or uvloop) watches it with ``add_reader``
and calls ``sc_loop_poll(loop, 0)``, which handles everything ready, runs the Python
callbacks and flushes output before returning.

No timer polls and nothing spins: an idle server sleeps in the asyncio selector (the
core's timerfd only ticks while connections exist), so it uses no CPU.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._native import lib

logger = logging.getLogger("socketify")

# PERF: bound once; _poll runs for every ready batch of events.
_poll = lib.sc_loop_poll


class Reactor:
    """Watches one native loop's fd on one asyncio loop.  While it polls, ``owner.polling``
    is True: the callbacks of that poll run under a running asyncio loop (PERF: the ASGI
    dispatch need not ask ``_get_running_loop()``, which asks the OS for the pid)."""

    __slots__ = ("_aio", "_fd", "_native", "_owner")

    def __init__(self, native: Any, aio_loop: asyncio.AbstractEventLoop, owner: Any) -> None:
        self._native = native
        self._aio = aio_loop
        self._owner = owner
        self._fd = lib.sc_loop_fd(native)
        aio_loop.add_reader(self._fd, self.poll)

    def poll(self) -> None:
        owner = self._owner
        owner.polling = True
        try:
            rc = _poll(self._native, 0)
        finally:
            owner.polling = False
        if rc < 0:
            logger.error("sc_loop_poll failed with %d", rc)

    def detach(self) -> None:
        if self._fd >= 0:
            try:
                self._aio.remove_reader(self._fd)
            except (RuntimeError, ValueError, OSError):  # the asyncio loop is closed already
                pass
            self._fd = -1
