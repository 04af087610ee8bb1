"""WebSocket load benchmark: echo and broadcast messages per second, against peers, in one run.

Servers (each pinned to CPU 0): socketify (ours, from this checkout), socketify 0.0.31
(bench/.venvs/orig) and uvicorn + websockets (bench/.venvs/uvicorn_ws); on PyPy (Debian's
pypy3, when installed) ours and socketify 0.0.31 again, from the venvs ``run_http.py`` makes
(bench/.venvs/ours-pypy, orig-pypy), each after a 10 s warm-up run for the JIT and compared
with ours on PyPy.  The server's RSS is read after each measured run.  The client is a
small asyncio program on raw sockets pinned to CPU 1 (this file with ``--client``).

* echo: C connections, each keeping W small binary messages in flight; counts echoes/s.
* broadcast: N subscribers on /room and one publisher; the publisher sends a batch of B
  messages, the server relays each to every subscriber, the next batch goes once every
  subscriber got the whole batch; counts deliveries/s (messages received by subscribers).

Scenarios run one after the other and, within a scenario, the servers take turns, so
drift hits them alike.  Only ratios between servers of the same run mean anything.

Pub/sub beyond one process (ours only, after the peers): the same broadcast with the
subscribers spread over two processes, (a) ``--workers 2`` with the embedded relay and (b) two
app processes sharing a redis-server, against one process in the same run.  Every server
process (and redis-server) is pinned to CPU 0, as the single process is: the ratio is what
carrying messages between processes costs on the same CPU budget.

    python bench/bench_ws.py [--duration 4] [--servers ours,orig,uvicorn,ours-pypy,orig-pypy]
                             [--scale-only]
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
sys.path.insert(0, str(HERE))

from run_http import OURS, PYPY_WARMUP, Server, ensure_venv  # noqa: E402

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
# The PyPy servers come from run_http.py's venvs (made there, or here when missing).
PYPY = {
    "ours-pypy": Server(
        "socketify (ours) PyPy", "ours-pypy", OURS, [], python="pypy3", warmup=PYPY_WARMUP
    ),
    "orig-pypy": Server(
        "socketify 0.0.31 PyPy",
        "orig-pypy",
        ["socketify==0.0.31"],
        [],
        python="pypy3",
        warmup=PYPY_WARMUP,
    ),
}


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


async def _broadcast(
    ports: list[int], seconds: float, subscribers: int, batch: int, size: int, window: int = 1
) -> float:
    # subscribers round-robin over the ports (one port: the kernel spreads them over workers)
    subs = [await _connect(ports[i % len(ports)], "/room") for i in range(subscribers)]
    _, pub = await _connect(ports[0], "/room")
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
        # up to ``window`` batches in flight (1: the next batch waits for the last one)
        behind = sent - batch * (window - 1)
        while min(c.frames for c in counters) < behind and time.monotonic() < deadline + 5:
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
        ports = [int(p) for p in str(args.ports or args.port).split(",")]
        rate = asyncio.run(_broadcast(ports, args.duration, 32, 100, 32, args.window))
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


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_client(scenario: str, port: int, seconds: float) -> float:
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


def measure(key: str, scenario: str, seconds: float) -> tuple[float, float]:
    """(messages/s, server RSS MiB after the run); PyPy servers run a warm-up first."""
    proc, port = start(key)
    try:
        if key in PYPY:
            run_client(scenario, port, PYPY[key].warmup)
        rate = run_client(scenario, port, seconds)
        return rate, rss_mib(proc.pid)
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--servers", default="ours,orig,uvicorn,ours-pypy,orig-pypy")
    parser.add_argument("--client", choices=SCENARIOS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--scale-only", action="store_true", help="only the pub/sub scaling table")
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if args.scale_only:
        scale_table(args.duration)
        return
    keys = [k for k in args.servers.split(",") if k]
    for key in [k for k in keys if k in PYPY]:
        venv = ensure_venv(PYPY[key])  # None: no pypy3 on this machine
        if venv is None:
            keys.remove(key)
            continue
        SERVERS[key] = (PYPY[key].name, str(venv / "bin" / "python"), SERVERS["ours"][2])
    rates: dict[tuple[str, str], float] = {}
    rss: dict[tuple[str, str], float] = {}
    for scenario in SCENARIOS:
        for key in keys:
            try:
                rates[key, scenario], rss[key, scenario] = measure(key, scenario, args.duration)
            except Exception as exc:  # one broken peer must not sink the run
                print(f"{key} {scenario}: {exc}", file=sys.stderr)
    print(f"\nWebSocket messages/s ({args.duration:g} s each; echo: 16 conns x 8 in flight, 32 B;")
    print("broadcast: 1 publisher -> 32 subscribers, batches of 100, 32 B; deliveries/s).")
    print(f"PyPy servers: {PYPY_WARMUP:g} s warm-up run first, compared with ours on PyPy.\n")
    print(
        f"| server | {' | '.join(SCENARIOS)} | "
        + " | ".join(f"ours / it ({s})" for s in SCENARIOS)
        + " | "
        + " | ".join(f"RSS MiB ({s})" for s in SCENARIOS)
        + " |"
    )
    print("|---" * (1 + 3 * len(SCENARIOS)) + "|")
    for key in keys:
        mine = "ours-pypy" if key in PYPY else "ours"
        cells = [f"{rates[key, s]:,.0f}" if (key, s) in rates else "n/a" for s in SCENARIOS]
        ratios = []
        for s in SCENARIOS:
            if (mine, s) in rates and (key, s) in rates and rates[key, s]:
                ratios.append(f"{rates[mine, s] / rates[key, s]:.2f}x")
            else:
                ratios.append("n/a")
        sizes = [f"{rss[key, s]:.1f}" if (key, s) in rss else "n/a" for s in SCENARIOS]
        print(
            f"| {SERVERS[key][0]} | {' | '.join(cells)} | {' | '.join(ratios)} | "
            f"{' | '.join(sizes)} |"
        )
    if "ours" in keys:
        scale_table(args.duration)


# ---- pub/sub beyond one process -----------------------------------------------------------------
SCALE_WINDOW = int(os.environ.get("BENCH_WS_WINDOW", "8"))  # batches in flight: hops add latency
SCALE_SETUPS = {
    "single": "1 process",
    "relay": "2 workers + embedded relay",
    "redis": "2 processes + Redis",
}


def _wait_ready(procs: list[subprocess.Popen[bytes]], ports: list[int]) -> None:
    deadline = time.monotonic() + 30
    for port in ports:
        while True:
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError("a scale server did not start")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/plaintext", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)


def _scale_servers(setup: str, redis_url: str) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    env = dict(os.environ, PYTHONPATH=str(APPS))
    env.pop("PUBSUB_URL", None)
    pin = ["taskset", "-c", SERVER_CPU, sys.executable]
    spawn = dict(cwd=APPS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if setup == "single":
        port = free_port()
        argv = [*pin, "ws_scale_app.py", str(port)]
        procs = [subprocess.Popen(argv, env=env, start_new_session=True, **spawn)]
        ports = [port]
    elif setup == "relay":
        port = free_port()
        argv = [*pin, "-m", "socketify", "ws_scale_app:app", "--workers", "2", "--port", str(port)]
        argv += ["--log-level", "warning"]
        procs = [subprocess.Popen(argv, env=env, start_new_session=True, **spawn)]
        ports = [port]
    else:
        ports = [free_port(), free_port()]
        env["PUBSUB_URL"] = redis_url
        procs = [
            subprocess.Popen(
                [*pin, "ws_scale_app.py", str(p)], env=env, start_new_session=True, **spawn
            )
            for p in ports
        ]
    try:
        _wait_ready(procs, ports)
    except Exception:
        for proc in procs:
            stop(proc)
        raise
    return procs, ports


def scale_table(seconds: float) -> None:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from redis_server import RedisServer

    redis = RedisServer()
    redis.start()
    subprocess.run(["taskset", "-p", "-c", SERVER_CPU, str(redis.proc.pid)], capture_output=True)
    rates: dict[str, float] = {}
    try:
        for setup in SCALE_SETUPS:
            try:
                procs, ports = _scale_servers(setup, redis.url)
            except Exception as exc:
                print(f"{setup}: {exc}", file=sys.stderr)
                continue
            try:
                out = subprocess.run(
                    ["taskset", "-c", CLIENT_CPU, sys.executable, __file__, "--client", "broadcast",
                     "--ports", ",".join(map(str, ports)), "--duration", str(seconds),
                     "--window", str(SCALE_WINDOW)],
                    capture_output=True, text=True, timeout=seconds + 60,
                )  # fmt: skip
                if out.returncode != 0:
                    print(f"{setup}: {out.stderr[-800:]}", file=sys.stderr)
                    continue
                rates[setup] = float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])
            finally:
                for proc in procs:
                    stop(proc)
    finally:
        redis.cleanup()
    print(f"\nPub/sub beyond one process: broadcast deliveries/s ({seconds:g} s each; 1 publisher")
    print("-> 32 subscribers spread over the processes, batches of 100, 32 B; servers on CPU 0)\n")
    print("| setup | deliveries/s | / 1 process |")
    print("|---|---|---|")
    base = rates.get("single")
    for setup, label in SCALE_SETUPS.items():
        rate = rates.get(setup)
        cell = f"{rate:,.0f}" if rate is not None else "n/a"
        ratio = f"{rate / base:.2f}x" if rate is not None and base else "n/a"
        print(f"| {label} | {cell} | {ratio} |")


if __name__ == "__main__":
    main()
