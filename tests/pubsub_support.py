"""Processes and clients shared by the pub/sub tests (real servers, real sockets)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from websockets.sync.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
APP = HERE / "pubsub_app.py"


class AppProcess:
    """``pubsub_app.py`` in its own process, on a port of its own."""

    def __init__(self, env: dict[str, str], argv: Optional[list[str]] = None) -> None:
        full_env = {**os.environ, **env, "PYTHONPATH": str(HERE)}
        cmd = argv or [sys.executable, str(APP)]
        self.proc = subprocess.Popen(
            cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(HERE)
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"the app did not start: {err[-2000:]}")
        self.port = int(line.rsplit(":", 1)[-1])

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, (resp.status, data)
            return data
        finally:
            conn.close()

    def publish(self, topic: str, data: Any) -> None:
        if isinstance(data, str):
            self.request("POST", f"/publish/{topic}?text=1", data.encode())
        else:
            self.request("POST", f"/publish/{topic}", data)

    def stats(self) -> dict[str, int]:
        return json.loads(self.request("GET", "/stats"))  # type: ignore[no-any-return]

    def stop(self) -> str:
        """SIGTERM, wait; returns stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.stderr.read().decode() if self.proc.stderr else ""


def ws_client(port: int) -> ClientConnection:
    # entered like a context manager (what websockets 17 asks); the test closes it
    opening = connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10, max_size=2**24)
    return opening.__enter__()  # type: ignore[no-any-return]


def ws_do(ws: ClientConnection, command: str) -> None:
    """Send a command, wait for its ``ok:`` (messages before it are a test failure)."""
    ws.send(command)
    got = ws.recv(timeout=10)
    want = "ok:" + (command.rsplit(":", 1)[0] if command.startswith("pub:") else command)
    assert got == want, got


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def recv_all(ws: ClientConnection, count: int, timeout: float = 10.0) -> list[Any]:
    return [ws.recv(timeout=timeout) for _ in range(count)]


def assert_silent(ws: ClientConnection, wait: float = 0.3) -> None:
    try:
        extra = ws.recv(timeout=wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {extra!r}")
