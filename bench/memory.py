"""Memory of a socketify server under load: does it leak, and what does a connection cost?

Starts bench/apps/socketify_app.py (from the bench venv "ours", or the current Python),
sends pipelined keep-alive requests over a few connections and prints the server's RSS
after 100,000 and after 1,000,000 requests (they should differ by less than 5%), then
opens 10,000 idle keep-alive connections and prints the RSS with them open.  Loopback
only, bounded in time.

    python bench/memory.py [--requests 1000000] [--idle 10000] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"
DEPTH = 64
CONNECTIONS = 8


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(python: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [python, str(HERE / "apps" / "socketify_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def drive(port: int, count: int, deadline: float) -> int:
    """Send ``count`` requests pipelined DEPTH deep over CONNECTIONS connections."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    batch = REQUEST * DEPTH
    marker = b"HTTP/1.1 200"
    done = 0
    try:
        while done < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {done} of {count} requests within the time bound")
            for sock in socks:
                sock.sendall(batch)
            for sock in socks:
                got, tail = 0, b""
                while got < DEPTH:
                    data = sock.recv(1 << 20)
                    if not data:
                        raise ConnectionError("server closed the connection")
                    got += (tail + data).count(marker)
                    tail = data[-(len(marker) - 1) :]
            done += DEPTH * CONNECTIONS
    finally:
        for sock in socks:
            sock.close()
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--python", default=None, help="interpreter with socketify installed")
    parser.add_argument("--seconds", type=float, default=300.0, help="time bound")
    args = parser.parse_args()
    python = args.python
    if python is None:
        venv = HERE / ".venvs" / "ours" / "bin" / "python"
        python = str(venv) if venv.exists() else sys.executable
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.idle + 1024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))  # the child inherits

    deadline = time.monotonic() + args.seconds
    port = free_port()
    proc = start(python, port)
    try:
        rss_start = rss_kib(proc.pid)
        first = args.requests // 10
        drive(port, first, deadline)
        rss_first = rss_kib(proc.pid)
        drive(port, args.requests - first, deadline)
        rss_all = rss_kib(proc.pid)
        growth = 100.0 * (rss_all - rss_first) / rss_first
        print(f"RSS at start:                 {rss_start / 1024:8.1f} MiB")
        print(f"RSS after {first:>9,} requests: {rss_first / 1024:8.1f} MiB")
        print(
            f"RSS after {args.requests:>9,} requests: {rss_all / 1024:8.1f} MiB "
            f"({growth:+.2f}% vs after {first:,})"
        )
        idle = []
        try:
            for _ in range(args.idle):
                sock = socket.socket()
                sock.connect(("127.0.0.1", port))
                idle.append(sock)
            for sock in idle[:: max(1, len(idle) // 100)]:
                sock.sendall(REQUEST)  # make sure the server really took them
                sock.recv(4096)
            time.sleep(1.0)
            rss_idle = rss_kib(proc.pid)
            fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            per = (rss_idle - rss_all) / max(1, len(idle))
            print(
                f"RSS with {len(idle):,} idle keep-alive connections: {rss_idle / 1024:8.1f} "
                f"MiB ({per:.2f} KiB each; server fds {fds})"
            )
        finally:
            for sock in idle:
                sock.close()
        return 0 if abs(growth) < 5.0 else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
