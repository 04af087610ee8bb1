"""How evenly ``--workers 2`` share a burst of new connections on one Unix socket.

Starts ``python -m socketify`` with two workers on a Unix socket, opens bursts of
connections at once (each one request, ``Connection: close``) and prints the least busy
worker's share of every burst: 50% is an even split.  ``nox -s bench_workers`` runs it;
docs/performance.md ("Scaling with workers") holds the figures.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

APP = """
import os
from socketify import App
app = App()
app.get("/", lambda res, req: res.end(str(os.getpid())))
"""


def ask(path: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def burst(path: str, size: int) -> float:
    pids: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(size)

    def one() -> None:
        barrier.wait()
        pid = ask(path)
        with lock:
            pids.append(pid)

    threads = [threading.Thread(target=one) for _ in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    counts = collections.Counter(pids)
    return min(counts.values()) / size if len(counts) == 2 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable, help="interpreter with socketify")
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="connections per burst")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "balapp.py").write_text(APP)
        path = os.path.join(tmp, "app.sock")
        cmd = [args.python, "-m", "socketify", "balapp:app", "--uds", path, "--workers", "2"]
        server = subprocess.Popen([*cmd, "--log-level", "warning"], cwd=tmp)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # both workers up
            shares = [burst(path, args.size) for _ in range(args.bursts)]
        finally:
            server.terminate()
            server.wait(20)
    listed = " ".join(f"{share:.0%}" for share in shares)
    print(f"least busy worker's share of {args.bursts} bursts of {args.size} connections:")
    print(f"  {listed}  (min {min(shares):.0%}, mean {sum(shares) / len(shares):.0%})")


if __name__ == "__main__":
    main()
