from __future__ import annotations

import asyncio

import pytest

from socketify.coroutines import Resume, awaiting, is_coroutine, start


def test_start_runs_until_the_first_await_without_a_running_loop():
    loop = asyncio.new_event_loop()
    log = []

    async def job():
        log.append("sync part")
        await asyncio.sleep(0)
        log.append("rest")
        return 7

    try:
        coro = job()
        finished, pending = start(coro, loop)
        assert (finished, log) == (False, ["sync part"])

        async def rest():
            return await Resume(coro, pending)

        assert loop.run_until_complete(rest()) == 7
        assert log == ["sync part", "rest"]
    finally:
        loop.close()


def test_start_reports_a_coroutine_that_finished_at_once():
    async def quick():
        return "done"

    loop = asyncio.new_event_loop()
    try:
        assert start(quick(), loop) == (True, "done")
    finally:
        loop.close()


def test_start_propagates_the_first_steps_exception():
    async def bad():
        raise KeyError("x")

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyError):
            start(bad(), loop)
    finally:
        loop.close()


def test_resume_relays_cancellation_into_the_coroutine():
    loop = asyncio.new_event_loop()
    log = []

    async def job():
        await asyncio.sleep(0)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append("cancelled inside")
            raise

    try:
        coro = job()
        _, pending = start(coro, loop)

        async def rest():
            return await Resume(coro, pending)

        task = loop.create_task(rest())
        loop.run_until_complete(asyncio.sleep(0.01))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
        assert log == ["cancelled inside"]
    finally:
        loop.close()


def test_awaiting_wraps_futures_and_is_coroutine():
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        future.set_result(3)
        coro = awaiting(future)
        assert is_coroutine(coro)
        assert loop.run_until_complete(coro) == 3
        assert not is_coroutine(future)
    finally:
        loop.close()
