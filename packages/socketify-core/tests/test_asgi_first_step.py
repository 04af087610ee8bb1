"""The first step of an ASGI app runs through a reused stepper (asgi/server.py, PERF): the
cases that could confuse it, through the real core (memory transport and sockets)."""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import http.client
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loop_turns import exchange_end, settle

from socketify import ASGI
from socketify_testing import TestClient

var: contextvars.ContextVar[str] = contextvars.ContextVar("first_step_var", default="unset")


async def respond(send, body: bytes, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def request(path: str) -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n"


def test_a_first_step_that_dispatches_another_request_gets_its_own_stepper():
    # /outer feeds /inner on another memory connection from inside its first step: the
    # inner app's first step runs (and finishes) while the outer one is still delegating,
    # then the outer one goes on, suspends and finishes; each answer is its own
    loop = asyncio.new_event_loop()
    order = []
    server = ASGI(lambda *a: app(*a), lifespan="off")
    host = server.memory_host()
    host.bind_loop(loop)
    outer = host.open_connection()
    inner = host.open_connection()
    nested = host.open_connection()

    async def app(scope, receive, send):
        path = scope["path"]
        order.append("start " + path)
        if path == "/outer":
            inner.feed(request("/inner"))  # a dispatch inside this first step
            nested.feed(request("/suspends"))  # and one that suspends there
            await asyncio.sleep(0)
        elif path == "/suspends":
            await asyncio.sleep(0)
        order.append("end " + path)
        await respond(send, path.encode())

    try:
        outer.feed(request("/warm"))  # answered in its first step: its stepper is kept
        assert outer.read().endswith(b"\r\n\r\n/warm")
        outer.feed(request("/outer"))
        got = {"outer": b"", "inner": b"", "nested": b""}

        def reads() -> None:
            got["outer"] += outer.read()
            got["inner"] += inner.read()
            got["nested"] += nested.read()

        reads()
        settle(loop, reads, lambda: all(v.endswith(b"\r\n\r\n/" + k.encode()) or
                                        (k == "nested" and v.endswith(b"/suspends"))
                                        for k, v in got.items()))  # fmt: skip
        assert got["outer"].startswith(b"HTTP/1.1 200 ") and got["outer"].endswith(b"/outer")
        assert got["inner"].startswith(b"HTTP/1.1 200 ") and got["inner"].endswith(b"/inner")
        assert got["nested"].startswith(b"HTTP/1.1 200 ")
        assert got["nested"].endswith(b"\r\n\r\n/suspends")
        assert order.index("start /inner") < order.index("end /inner") < order.index("end /outer")
        # the steppers left behind still serve the next first steps
        for path in ("/again", "/suspends", "/last"):
            outer.feed(request(path))
            assert exchange_end(loop, outer, path.encode()).startswith(b"HTTP/1.1 200 ")
    finally:
        server._release()
        loop.close()


def test_an_app_that_catches_cancellation_is_finished_and_the_next_requests_are_served():
    cancelled = []
    release = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path in ("/swallow", "/reraise"):
            future = asyncio.get_running_loop().create_future()
            release.append(future)
            try:
                await future
            except asyncio.CancelledError:
                cancelled.append(path)
                if path == "/reraise":
                    raise
                await respond(send, b"answered after a cancel")
                return
        await respond(send, path.encode())

    with TestClient(app) as client:
        for path in ("/swallow", "/reraise"):
            try:
                client.get(path, timeout=0.5)
            except Exception:  # the app waits on a future nobody sets: a ResponseTimeout
                pass
        assert client.get("/after").text == "/after"
        # the suspended apps are Tasks; cancel them as a shutdown does
        loop = client._loop
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        assert len(tasks) == 2
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        assert sorted(cancelled) == ["/reraise", "/swallow"]
        assert client.get("/next").text == "/next"  # the first steps run on


def test_apps_returning_values_and_raising_non_exceptions_leave_the_stepper_usable():
    errors = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return None
        path = scope["path"]
        if path == "/value":
            await respond(send, b"value")
            return {"not": "None"}  # ignored, as the spec's return is
        if path == "/cancel-now":
            raise asyncio.CancelledError()  # a BaseException in the first step
        if path == "/cancel-later":
            await asyncio.sleep(0)
            raise asyncio.CancelledError()  # the same in the Task
        if path == "/later-value":
            await asyncio.sleep(0)
            await respond(send, b"later")
            return 42
        if path == "/later-boom":
            await asyncio.sleep(0)
            raise KeyError("later boom")
        await respond(send, path.encode())

    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: errors.append(error))
    with TestClient(server, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.get("/value").text == "value"
            assert client.get("/later-value").text == "later"
            reply = client.get("/later-boom")
            assert reply.status_code == 500
            # not an Exception: it passes the error handler by (and leaves the dispatch,
            # logged), but its client still gets the 500 and the stepper is not disturbed
            assert client.get("/cancel-now", timeout=5).status_code == 500
            assert client.get("/cancel-later", timeout=5).status_code == 500
            assert client.get("/plain").text == "/plain"
    assert [type(e) for e in errors].count(KeyError) == 3


class HandMadeCoroutine(collections.abc.Coroutine):
    """A coroutine that is not a native one (what Cython compiles an ``async def`` into):
    send/throw/close and ``__await__``, but no ``__iter__``."""

    def __init__(self, send):
        self._inner = respond(send, b"hand made")

    def send(self, value):
        return self._inner.send(value)

    def throw(self, *args):
        return self._inner.throw(*args)

    def close(self):
        self._inner.close()

    def __await__(self):
        return self._inner.__await__()


class AwaitableApp:
    """An object with ``__await__`` only (no send/throw)."""

    def __init__(self, send):
        self._send = send

    def __await__(self):
        return respond(self._send, b"awaitable").__await__()


def test_apps_returning_other_awaitables_are_run():
    def hand_made(scope, receive, send):
        if scope["type"] != "http":
            return respond_nothing()
        return HandMadeCoroutine(send)

    def awaitable(scope, receive, send):
        if scope["type"] != "http":
            return respond_nothing()
        return AwaitableApp(send)

    @types.coroutine
    def generator_based(scope, receive, send):
        if scope["type"] == "http":
            yield from respond(send, b"generator")

    apps = ((awaitable, b"awaitable"), (hand_made, b"hand made"), (generator_based, b"generator"))
    for app, body in apps:
        with TestClient(ASGI(app, lifespan="off")) as client:
            for _ in range(2):
                reply = client.get("/")
                assert (reply.status_code, reply.content) == (200, body)


async def respond_nothing():
    return None


def test_an_async_generator_app_is_a_clear_500():
    async def app(scope, receive, send):
        yield None  # an async generator function: not an ASGI app

    errors = []
    server = ASGI(app, lifespan="off")
    server.set_error_handler(lambda error, res, req: errors.append(error))
    with TestClient(server, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500
        assert client.get("/").status_code == 500
    assert len(errors) == 2 and all(isinstance(e, TypeError) for e in errors)


def test_each_first_step_sees_a_fresh_copy_of_the_context_over_sockets(serve):
    # the stepper is reused between requests: what one first step sets (returning, failing
    # or suspending) must not be seen by the next, and a suspended app keeps its own value
    seen = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        seen.append((path, var.get()))
        var.set(path)
        if path == "/fail":
            raise RuntimeError("fails after setting the var")
        if path == "/suspend":
            await asyncio.sleep(0)
            seen.append((path + " resumed", var.get()))
        await respond(send, var.get().encode())

    with serve(ASGI(app, lifespan="off")) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            bodies = []
            for path in ("/a", "/fail", "/b", "/suspend", "/c", "/fail", "/suspend", "/d"):
                conn.request("GET", path)
                reply = conn.getresponse()
                bodies.append((reply.status, reply.read()))
                if reply.status == 500:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        finally:
            conn.close()
    assert [b for b in bodies if b[0] == 200] == [
        (200, b"/a"), (200, b"/b"), (200, b"/suspend"), (200, b"/c"), (200, b"/suspend"),
        (200, b"/d"),
    ]  # fmt: skip
    firsts = [value for path, value in seen if not path.endswith("resumed")]
    assert set(firsts) == {"unset"}
    assert [value for path, value in seen if path.endswith("resumed")] == ["/suspend"] * 2


def test_closing_a_suspended_app_runs_its_finally_through_the_stepper():
    # what happens to a Task's coroutine that is dropped unfinished (a loop closed at
    # shutdown): GeneratorExit goes through the stepper into the app, its finally runs,
    # and the close completes
    loop = asyncio.new_event_loop()
    cleaned = []

    async def app(scope, receive, send):
        try:
            await asyncio.get_running_loop().create_future()  # never set
        finally:
            cleaned.append(scope["path"])

    server = ASGI(app, lifespan="off")
    host = server.memory_host()
    host.bind_loop(loop)
    try:
        conn = host.open_connection()
        conn.feed(request("/held"))
        assert conn.read() == b""
        loop.run_until_complete(asyncio.sleep(0))  # the Task took over the coroutine
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        assert len(tasks) == 1
        tasks[0].get_coro().close()
        assert cleaned == ["/held"]
        tasks[0].cancel()  # the Task ends (its closed coroutine cannot run again)
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    finally:
        server._release()
        loop.close()


class _Greeter:
    def __init__(self, word: str) -> None:
        self.word = word

    async def __call__(self, scope, receive, send):
        await respond(send, self.word.encode())


class _StaticCall:
    @staticmethod
    async def __call__(scope, receive, send):  # called with the three ASGI arguments only
        await respond(send, b"static")


class _AwaitableApp:
    # a class as the app: ASGI() calls it, and awaits the instance it makes
    def __init__(self, scope, receive, send):
        self.send = send

    def __await__(self):
        return respond(self.send, b"made by a class").__await__()


def test_apps_of_every_callable_shape_are_called_as_python_calls_them():
    # an instance of a class with a Python __call__ is called through that function
    # (PERF): a staticmethod __call__, a class as the app and a bound method are not;
    # assigning application again takes the new app's shape
    greeter = _Greeter("bound method")
    server = ASGI(_Greeter("instance"), lifespan="off")
    with TestClient(server) as client:
        assert client.get("/").text == "instance"
        for app, text in (
            (_StaticCall(), "static"),
            (_AwaitableApp, "made by a class"),
            (greeter.__call__, "bound method"),
            (_Greeter("again"), "again"),
        ):
            server.application = app
            assert client.get("/").text == text
