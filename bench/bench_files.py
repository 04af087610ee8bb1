"""Large files: the core's sendfile path against the Python path it replaced, in one run.

    python bench/bench_files.py [--duration 4] [--connections 8] [--sizes 1,16] [--tls]

One server process (``app.static``) serves the same files two ways:

- ``/core/<file>``: ``app.static``: the C core sends the file (``sendfile(2)`` on a plain
  socket; with ``--tls``, pread + SSL_write in 64 KiB pieces inside C);
- ``/python/<file>``: what ``static`` did before: 64 KiB ``os.pread`` in Python, each piece
  handed to ``res.send_chunk`` (try_end + on_writable backpressure).

wrk downloads each for ``--duration`` seconds (keep-alive); the table gives requests/s,
MiB/s, and the server's CPU time per request (user + system, from /proc), then the ratios
core / python from the same run.  Linux only (/proc, wrk on PATH).  Bounded: every wrk run
has its duration and the server is killed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = r"""
import asyncio, os, sys
from socketify import App, AppOptions

root, tls = sys.argv[1], sys.argv[2:]
app = App(AppOptions(key_file_name=tls[0], cert_file_name=tls[1])) if tls else App()
app.static("/core", root)
PIECE = 64 * 1024


async def python_path(res, req):
    path = os.path.join(root, req.get_parameter(0))
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        res.write_header("Content-Type", "application/octet-stream")
        sent = 0
        while sent < size and not res.aborted:
            chunk = os.pread(fd, min(PIECE, size - sent), sent)
            _, done = await res.send_chunk(chunk, size)
            sent += len(chunk)
            if done:
                break
    finally:
        os.close(fd)

app.get("/python/:name", python_path)
app.listen({"port": 0, "host": "127.0.0.1"}, lambda config: print("PORT", config.port, flush=True))
app.run()
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, duration: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, total


def certificate(folder: Path) -> list[str]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return [str(key), str(cert)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sizes", default="1,16", help="file sizes in MiB, comma-separated")
    parser.add_argument("--tls", action="store_true", help="HTTPS (pread + SSL_write in C)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not on PATH", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-files-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        (folder / f"f{size}.bin").write_bytes(os.urandom(size * 1024 * 1024))
    script = folder / "server.py"
    script.write_text(SERVER)
    tls = certificate(folder) if args.tls else []
    server = subprocess.Popen(
        [sys.executable, str(script), str(folder), *tls], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        scheme = "https" if args.tls else "http"
        print(
            f"{scheme}, {args.connections} connections, {args.duration} s per run, loaded machine"
        )
        print(f"{'file':>8} {'path':>7} {'req/s':>9} {'MiB/s':>9} {'CPU ms/req':>11}")
        for size in sizes:
            results = {}
            for path in ("core", "python"):
                url = f"{scheme}://127.0.0.1:{port}/{path}/f{size}.bin"
                wrk(url, 1, args.connections)  # warm-up: page cache, JIT-less but fair
                before = cpu_seconds(server.pid)
                rate, total = wrk(url, args.duration, args.connections)
                cpu = (cpu_seconds(server.pid) - before) / max(total, 1) * 1000
                results[path] = (rate, cpu)
                print(f"{size:>6}Mi {path:>7} {rate:>9.1f} {rate * size:>9.0f} {cpu:>11.2f}")
            (core_rate, core_cpu), (py_rate, py_cpu) = results["core"], results["python"]
            print(
                f"{size:>6}Mi core/python: {core_rate / py_rate:.2f}x req/s, "
                f"{py_cpu / core_cpu if core_cpu else float('inf'):.2f}x less server CPU per request"
            )
            time.sleep(0.2)
    finally:
        server.kill()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
