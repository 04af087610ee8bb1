"""Bounded waits for tests that drive the core's memory transport from their own asyncio
loop: they run the loop in short turns until what they wait for is there, and give up after
a bound.  Never a fixed sleep before an assert: a slow machine (or PyPy warming up) may
need more turns than a quick one, and a wait that is only a bound costs nothing when the
answer is early.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

TURNS = 500  # of 10 ms each at least: a bound, never a measure


def settle(loop: Any, reads: Callable[[], None], done: Callable[[], bool]) -> None:
    """Run ``loop`` in short turns, calling ``reads()`` after each, until ``done()``
    (bounded: ``TURNS`` turns).  The caller asserts what it waited for."""
    for _ in range(TURNS):
        if done():
            return
        loop.run_until_complete(asyncio.sleep(0.01))
        reads()


def exchange_end(loop: Any, conn: Any, body: bytes) -> bytes:
    """What ``conn`` got once its answer ends with ``body`` (running ``loop``, bounded)."""
    got = [conn.read()]

    def reads() -> None:
        got[0] += conn.read()

    settle(loop, reads, lambda: got[0].endswith(b"\r\n\r\n" + body))
    assert got[0].endswith(b"\r\n\r\n" + body), got[0]
    return got[0]
