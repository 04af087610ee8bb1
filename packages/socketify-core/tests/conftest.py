"""Shared helpers for the socketify core tests, as fixtures.

``wire(app)`` drives an App through the core's memory transport (the real parser and
writer, no socket) with a private asyncio loop for async handlers; ``serve(app)`` runs
``app.run()`` in a thread on 127.0.0.1 with a picked port.  Everything is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest


class Reply:
    """One parsed HTTP response."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.headers} {self.body[:60]!r}>"


def parse_one(data: bytes, head_request: bool = False) -> Optional[tuple[Reply, int]]:
    """Parse one response from the front of ``data``: (reply, bytes used) or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    _, code, *reason = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    status = int(code)
    reply = Reply(status, reason[0] if reason else "", headers, b"")
    pos = end + 4
    if head_request or status < 200 or status in (204, 304):
        return reply, pos
    length = reply.header("content-length")
    if length is not None:
        size = int(length)
        if len(data) < pos + size:
            return None
        reply.body = data[pos : pos + size]
        return reply, pos + size
    if (reply.header("transfer-encoding") or "").lower() == "chunked":
        body = b""
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(data[pos:line_end].split(b";")[0], 16)
            start = line_end + 2
            if len(data) < start + size + 2:
                return None
            body += data[start : start + size]
            pos = start + size + 2
            if size == 0:
                reply.body = body
                return reply, pos
    reply.body = data[pos:]  # until close
    return reply, len(data)


def request_bytes(
    method: str = "GET",
    path: str = "/",
    headers: Any = (),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {path} {version}", "Host: test"]
    names = set()
    for name, value in headers:
        lines.append(f"{name}: {value}")
        names.add(name.lower())
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Wire:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        app.memory_host().bind_loop(self.loop)

    def connect(self, remote: tuple[str, int] = ("127.0.0.1", 50000)) -> Any:
        return self.app.memory_host().open_connection(remote)

    def spin(self, seconds: float = 0.0) -> None:
        """Let the asyncio loop run tasks (and the core's wakeups) for ``seconds``."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.spin(0.005)
        return predicate()

    def replies(
        self, conn: Any, count: int = 1, timeout: float = 2.0, head_request: bool = False
    ) -> list[Reply]:
        """Read until ``count`` complete responses arrived (or fail after ``timeout``)."""
        buffer = b""
        found: list[Reply] = []
        deadline = time.monotonic() + timeout
        while True:
            buffer += conn.read()
            while len(found) < count:
                parsed = parse_one(buffer, head_request)
                if parsed is None:
                    break
                reply, used = parsed
                found.append(reply)
                buffer = buffer[used:]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(found)} of {count} replies; rest {buffer!r}")
            self.spin(0.005)

    def request(
        self, method: str = "GET", path: str = "/", headers: Any = (), body: bytes = b"", **kw: Any
    ) -> Reply:
        conn = self.connect()
        conn.feed(request_bytes(method, path, headers, body))
        return self.replies(conn, head_request=method == "HEAD", **kw)[0]

    def get(self, path: str = "/", **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def close(self) -> None:
        self.app.close()
        with contextlib.suppress(Exception):
            self.spin(0)
        self.loop.close()


@pytest.fixture
def wire() -> Iterator[Callable[[Any], Wire]]:
    made: list[Wire] = []

    def make(app: Any) -> Wire:
        w = Wire(app)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@contextlib.contextmanager
def serving(app: Any, timeout: float = 5.0) -> Iterator[int]:
    ports: list[int] = []
    app.listen({"port": 0, "host": "127.0.0.1"}, lambda config: ports.append(config.port))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            app.run()
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while app._stop is None and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)  # serving: run() bound its loop and waits for close()
    try:
        yield ports[0]
    finally:
        app.close()
        thread.join(timeout)
        assert not thread.is_alive(), "app.run() did not return after close()"
        assert not errors, errors


@pytest.fixture
def serve() -> Callable[..., Any]:
    return serving


@pytest.fixture
def open_fds() -> Callable[[], int]:
    """Counts this process's descriptors once collections close no more: an event loop or
    client left unclosed by an earlier test is closed by the GC, which must not happen
    between two counts of one test (PyPy runs finalizers over more than one collection)."""

    def count() -> int:
        last = -1
        for _ in range(10):
            gc.collect()
            now = len(os.listdir("/proc/self/fd"))
            if now == last:
                break
            last = now
        return now

    return count
