"""Running a coroutine's first step *now*, and the rest as an asyncio Task.

A coroutine handler must run up to its first ``await`` inside the core's callback: that is
where the request view is valid and where output is corked into the batch.  asyncio Tasks
(before 3.12's eager tasks) always start on the next loop turn, so ``start()`` sends the
first ``None`` itself and ``Resume`` hands the rest to a Task: it re-yields the awaitable
the coroutine stopped on (the Task waits for it exactly as if the coroutine yielded it
directly) and then relays every send/throw, as ``yield from`` would.

When the core calls back while no asyncio loop is running (a test feeding a memory
connection from plain code), the app's bound loop is made the running loop for the first
step, so ``asyncio.sleep()``/``create_future()`` in that step work.
"""

from __future__ import annotations

import asyncio
import types
from asyncio.events import _get_running_loop, _set_running_loop  # type: ignore[attr-defined]
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any


def start(coro: Coroutine[Any, Any, Any], aio_loop: asyncio.AbstractEventLoop) -> tuple[bool, Any]:
    """Run ``coro`` to its first suspension: ``(True, result)`` if it finished, else
    ``(False, what_it_yielded)``.  Its exceptions propagate."""
    borrowed = _get_running_loop() is None
    if borrowed:
        _set_running_loop(aio_loop)
    try:
        return (False, coro.send(None))
    except StopIteration as stop:
        return (True, stop.value)
    finally:
        if borrowed:
            _set_running_loop(None)


class Resume:
    """``await Resume(coro, pending)`` continues a coroutine ``start()`` began."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        pending = self._pending
        self._pending = None
        while True:
            try:
                value = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # relayed: the coroutine decides (cancellation too)
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = coro.send(value)
            except StopIteration as stop:
                return stop.value


async def awaiting(awaitable: Awaitable[Any]) -> Any:
    """A coroutine around any awaitable (a Future, an object with ``__await__``)."""
    return await awaitable


def is_coroutine(value: Any) -> bool:
    return hasattr(value, "send") and hasattr(value, "throw")


# ---- first steps without a StopIteration -----------------------------------------------------
# PERF: ``coro.send(None)`` on a coroutine that returns raises StopIteration: an exception made
# and caught for every request whose handler finishes in its first step (about 100 ns on
# CPython 3.11).  A generator delegating with ``yield from`` takes the return without one, so
# a long-lived *stepper* runs first steps: ``stepper.send(coro)`` gives RETURNED, a Failed,
# or -- the coroutine suspended -- what it yielded; that stepper then belongs to the
# coroutine (``ResumeStepper`` finishes it in a Task) and the caller makes a new one.
RETURNED: Any = object()


class Failed:
    """What a stepper gives for a coroutine that raised an Exception (others propagate
    from ``send``, and the stepper is then finished)."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


@types.coroutine
def _stepper() -> Generator[Any, Any, None]:
    # Between two first steps the frame holds nothing of the last one: not its coroutine,
    # not its exception (whose traceback would keep the request's objects alive).
    failures: list[Exception] = []
    call = yield
    while True:
        try:
            yield from call
        except Exception as exc:
            failures.append(exc)
        call = None
        if failures:
            call = yield Failed(failures.pop())
        else:
            call = yield RETURNED


def new_stepper() -> Generator[Any, Any, None]:
    """A stepper ready for ``send(coro)``."""
    stepper = _stepper()
    stepper.send(None)
    return stepper


class ResumeStepper:
    """``await ResumeStepper(stepper, pending)`` finishes the coroutine a stepper suspended
    in (``pending`` is what it yielded): returns None, or raises what the coroutine raised."""

    __slots__ = ("_pending", "_stepper")

    def __init__(self, stepper: Generator[Any, Any, None], pending: Any) -> None:
        self._stepper = stepper
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        stepper = self._stepper
        pending = self._pending
        self._pending = None
        while True:
            try:
                value = yield pending
            except GeneratorExit:
                stepper.close()
                raise
            except BaseException as exc:  # relayed: the coroutine decides (cancellation too)
                pending = stepper.throw(exc)
            else:
                pending = stepper.send(value)
            if pending is RETURNED:
                return
            if type(pending) is Failed:
                raise pending.exc
