"""WebSocket load benchmark: echo and broadcast messages per second, against peers, in one run.

Servers (each pinned to CPU 0): socketify (ours, from this checkout), socketify 0.0.31
(bench/.venvs/orig) and uvicorn + websockets (bench/.venvs/uvicorn_ws).  The client is a
small asyncio program on raw sockets pinned to CPU 1 (this file with ``--client``).

* echo: C connections, each keeping W small binary messages in flight; counts echoes/s.
* broadcast: N subscribers on /room and one publisher; the publisher sends a batch of B
  messages, the server relays each to every subscriber, the next batch goes once every
  subscriber got the whole batch; counts deliveries/s (messages received by subscribers).

Scenarios run one after the other and, within a scenario, the servers take turns, so
drift hits them alike.  Only ratios between servers of the same run mean anything.

    python bench/bench_ws.py [--duration 4] [--servers ours,orig,uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
VENVS = HERE / ".venvs"
SERVER_CPU, CLIENT_CPU = "0", "1"

SERVERS = {
    "ours": ("socketify (ours)", sys.executable, ["ws_socketify_app.py", "{port}"]),
    "orig": (
        "socketify 0.0.31",
        str(VENVS / "orig" / "bin" / "python"),
        ["ws_socketify_app.py", "{port}"],
    ),
    "uvicorn": (
        "uvicorn+websockets",
        str(VENVS / "uvicorn_ws" / "bin" / "python"),
        [
            "-m",
            "uvicorn",
            "ws_asgi:app",
            "--port",
            "{port}",
            "--ws",
            "websockets",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--ws-max-size",
            "1048576",
        ],
    ),
}
SCENARIOS = ("echo", "broadcast")


# ---- the client (runs in its own process on CPU 1) ---------------------------------------------
def _frame(payload: bytes) -> bytes:
    # a masked binary frame with the all-zero key: valid, and no XOR work per message
    return bytes([0x82, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def _connect(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"upgrade refused: {head[:80]!r}")
    return reader, writer


class Counter:
    """Counts the server's frames in a byte stream.  Every frame the bench gets back is the
    same small binary message, so it counts bytes (PERF: the client must not be the
    bottleneck) after checking that the stream starts with such a frame."""

    def __init__(self, size: int) -> None:
        self.frame = 2 + size
        self.head = bytes([0x82, size])
        self.bytes = 0
        self.frames = 0

    def feed(self, data: bytes) -> int:
        if not self.bytes and data[:2] != self.head:
            raise RuntimeError(f"unexpected frame {data[:8]!r}")
        self.bytes += len(data)
        frames = self.bytes // self.frame
        got = frames - self.frames
        self.frames = frames
        return got


async def _echo(port: int, seconds: float, conns: int, window: int, size: int) -> float:
    message = _frame(b"e" * size)
    deadline = time.monotonic() + seconds
    total = 0

    async def one() -> None:
        nonlocal total
        reader, writer = await _connect(port, "/echo")
        counter = Counter(size)
        writer.write(message * window)
        while time.monotonic() < deadline:
            data = await reader.read(65536)
            if not data:
                break
            got = counter.feed(data)
            if got:
                writer.write(message * got)
        total += counter.frames
        writer.close()

    start = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(conns))), seconds + 10)
    return total / (time.monotonic() - start)


async def _broadcast(port: int, seconds: float, subscribers: int, batch: int, size: int) -> float:
    subs = [await _connect(port, "/room") for _ in range(subscribers)]
    _, pub = await _connect(port, "/room")
    await asyncio.sleep(0.2)  # every subscription is in
    counters = [Counter(size) for _ in subs]
    progress = asyncio.Event()
    stop = False

    async def listen(reader: asyncio.StreamReader, counter: Counter) -> None:
        while not stop:
            data = await reader.read(65536)
            if not data:
                return
            if counter.feed(data):
                progress.set()

    tasks = [asyncio.ensure_future(listen(r, c)) for (r, _), c in zip(subs, counters)]
    message = _frame(b"b" * size) * batch
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    sent = 0
    while time.monotonic() < deadline:
        pub.write(message)
        sent += batch
        while min(c.frames for c in counters) < sent and time.monotonic() < deadline + 5:
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), 5)
            except asyncio.TimeoutError:
                break
    elapsed = time.monotonic() - start
    stop = True
    delivered = sum(c.frames for c in counters)
    for task in tasks:
        task.cancel()
    for _, writer in subs:
        writer.close()
    pub.close()
    return delivered / elapsed


def client_main(args: argparse.Namespace) -> None:
    if args.client == "echo":
        rate = asyncio.run(_echo(args.port, args.duration, 16, 8, 32))
    else:
        rate = asyncio.run(_broadcast(args.port, args.duration, 32, 100, 32))
    print(json.dumps({"rate": rate}))


# ---- the driver ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(key: str) -> tuple[subprocess.Popen[bytes], int]:
    _, python, argv = SERVERS[key]
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(APPS))
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, python, *[a.format(port=port) for a in argv]],
        cwd=APPS,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/plaintext", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{key} did not start: {proc.stderr.read()[-800:] if proc.stderr else ''}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def measure(key: str, scenario: str, seconds: float) -> float:
    proc, port = start(key)
    try:
        out = subprocess.run(
            [
                "taskset",
                "-c",
                CLIENT_CPU,
                sys.executable,
                __file__,
                "--client",
                scenario,
                "--port",
                str(port),
                "--duration",
                str(seconds),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-800:])
        return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--servers", default="ours,orig,uvicorn")
    parser.add_argument("--client", choices=SCENARIOS)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    keys = [k for k in args.servers.split(",") if k]
    rates: dict[tuple[str, str], float] = {}
    for scenario in SCENARIOS:
        for key in keys:
            try:
                rates[key, scenario] = measure(key, scenario, args.duration)
            except Exception as exc:  # one broken peer must not sink the run
                print(f"{key} {scenario}: {exc}", file=sys.stderr)
    print(f"\nWebSocket messages/s ({args.duration:g} s each; echo: 16 conns x 8 in flight, 32 B;")
    print("broadcast: 1 publisher -> 32 subscribers, batches of 100, 32 B; deliveries/s)\n")
    print(
        f"| server | {' | '.join(SCENARIOS)} | "
        + " | ".join(f"ours / it ({s})" for s in SCENARIOS)
        + " |"
    )
    print("|---" * (1 + 2 * len(SCENARIOS)) + "|")
    for key in keys:
        cells = [f"{rates[key, s]:,.0f}" if (key, s) in rates else "n/a" for s in SCENARIOS]
        ratios = []
        for s in SCENARIOS:
            if ("ours", s) in rates and (key, s) in rates and rates[key, s]:
                ratios.append(f"{rates['ours', s] / rates[key, s]:.2f}x")
            else:
                ratios.append("n/a")
        print(f"| {SERVERS[key][0]} | {' | '.join(cells)} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
