"""Processes and clients shared by the pub/sub tests (real servers, real sockets)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

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


class WsClient:
    """A small blocking WebSocket client on a raw socket (no threads: the same on CPython
    and PyPy).  Frames from the server are unmasked and unfragmented here."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"upgrade refused: {head[:60]!r}")

    def send(self, message: Any) -> None:
        data, opcode = (message.encode(), 1) if isinstance(message, str) else (message, 2)
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def _need(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no message in time") from None
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buf += chunk

    def recv(self, timeout: float = 10.0) -> Any:
        """The next TEXT (str) or BINARY (bytes) message."""
        deadline = time.monotonic() + timeout
        while True:
            self._need(2, deadline)
            opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            start = 2
            if n == 126:
                self._need(4, deadline)
                n, start = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10, deadline)
                n, start = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(start + n, deadline)
            payload, self.buf = self.buf[start : start + n], self.buf[start + n :]
            if opcode == 1:
                return payload.decode()
            if opcode == 2:
                return payload
            if opcode == 8:
                raise ConnectionError("the server closed the WebSocket")

    def close(self) -> None:
        try:
            self.sock.sendall(b"\x88\x82" + b"\0\0\0\0" + struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def ws_client(port: int) -> WsClient:
    return WsClient(port)


def ws_do(ws: WsClient, command: str) -> None:
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


def recv_all(ws: WsClient, count: int, timeout: float = 10.0) -> list[Any]:
    return [ws.recv(timeout=timeout) for _ in range(count)]


def assert_silent(ws: WsClient, wait: float = 0.3) -> None:
    try:
        extra = ws.recv(timeout=wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {extra!r}")


def cli(*extra: str) -> AppProcess:
    argv = [sys.executable, "-m", "socketify", "pubsub_app:app", "--port", "0", *extra]
    return AppProcess({"PUBSUB_URL": ""}, argv)


def clients_on_both_workers(port: int, per_worker: int = 3) -> dict[int, list[Any]]:
    """Open connections until each of the two workers holds ``per_worker`` of them."""
    by_pid: dict[int, list[Any]] = {}
    spare = []
    for _ in range(80):
        ws = ws_client(port)
        ws.send("pid")
        pid = int(ws.recv(timeout=10).split(":")[1])
        group = by_pid.setdefault(pid, [])
        if len(group) < per_worker:
            group.append(ws)
        else:
            spare.append(ws)
        if len(by_pid) == 2 and all(len(g) == per_worker for g in by_pid.values()):
            break
    for ws in spare:
        ws.close()
    assert len(by_pid) == 2 and all(len(g) == per_worker for g in by_pid.values()), by_pid
    return by_pid


SYNC = "relay-sync"


def _skipping_sync(ws: WsClient, want: str, timeout: float = 10.0) -> list[str]:
    """Read until ``want``; the sync messages read on the way are returned, anything
    else is a test failure."""
    skipped = []
    while True:
        got = ws.recv(timeout=timeout)
        if got == want:
            return skipped
        assert isinstance(got, str) and got.startswith(SYNC + "|"), got
        skipped.append(got)


def relay_carries(by_pid: dict[int, list[Any]], timeout: float = 30.0) -> None:
    """Returns once a publish from each worker has reached every client on the other one:
    the SUB frames the workers sent before have then reached the supervisor (a worker's
    frames reach it in order), so a publish now is carried.  Polled, never a fixed sleep.
    The clients subscribe to a topic of their own for it and leave it after, each with no
    sync message left in front of what the test reads next."""
    clients = [ws for group in by_pid.values() for ws in group]
    for ws in clients:
        ws_do(ws, f"sub:{SYNC}")
    deadline = time.monotonic() + timeout
    for pid, group in by_pid.items():
        sender = group[0]
        waiting = [ws for other, g in by_pid.items() if other != pid for ws in g]
        attempt = 0
        while waiting:
            assert time.monotonic() < deadline, f"no publish from worker {pid} was carried"
            attempt += 1
            sender.send(f"pub:{SYNC}:{SYNC}|{pid}|{attempt}")
            _skipping_sync(sender, f"ok:pub:{SYNC}")
            for ws in list(waiting):
                try:
                    got = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                assert isinstance(got, str) and got.startswith(SYNC + "|"), got
                if got.startswith(f"{SYNC}|{pid}|"):
                    waiting.remove(ws)
    for ws in clients:  # once it has left the topic, no sync message can reach it
        ws.send(f"unsub:{SYNC}")
        _skipping_sync(ws, f"ok:unsub:{SYNC}")
