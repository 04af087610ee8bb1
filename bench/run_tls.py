"""HTTPS benchmark: socketify's TLS against its peers, in one run, on one machine.

The harness of run_http.py (a venv per server under bench/.venvs, the server pinned to CPU 0,
the load generator to CPU 1, loopback, bounded runs, servers taking turns per measure), with
one certificate (EC P-256, made here by the openssl command line) for every server:

- keep-alive HTTPS: wrk over https, ``/plaintext`` and ``/json``;
- close: wrk sending ``Connection: close``, so every request opens a new connection with a
  full handshake (wrk does not resume sessions);
- handshakes: new TLS 1.3 connections, one HTTP/1.0 request each (``openssl s_time -new``,
  several clients at once), and the same resumed with session tickets (``s_time -reuse``).
  socketify 0.0.31 keeps an HTTP/1.0 connection open after its answer and s_time waits for
  the close, so its s_time figures mean nothing: the "close" measure is its handshake rate.

Each line reports req/s (or connections/s) and the server's CPU per request (or per
handshake), which holds up better than req/s when the machine is shared.  Only ratios
between servers of the same run mean anything.

    python bench/run_tls.py [--duration 5] [--connections 64] [--servers a,b] [--measures x,y]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_http as base
from run_http import HERE, OURS, Server

CLIENT_CPU = base.CLIENT_CPU
SERVER_CPU = base.SERVER_CPU
S_TIME_CLIENTS = 4  # parallel handshake clients (all on the client CPU)
CLOSE_CONNECTIONS = 16  # wrk connections for "close" (one request per connection)

SERVERS = [
    Server(
        "socketify (ours)",
        "ours",
        OURS,
        ["{py}", "socketify_tls_app.py", "{port}", "{key}", "{cert}"],
    ),
    Server(
        "socketify 0.0.31",
        "orig",
        ["socketify==0.0.31"],
        ["{py}", "socketify_tls_app.py", "{port}", "{key}", "{cert}"],
    ),
    Server(
        "uvicorn raw ASGI",
        "uvicorn",
        ["uvicorn", "httptools", "uvloop"],
        base.uvicorn_argv("asgi_raw:app", "--ssl-keyfile", "{key}", "--ssl-certfile", "{cert}"),
    ),
    Server(
        "granian raw ASGI",
        "granian",
        ["granian"],
        base.granian_argv(
            "asgi", "asgi_raw:app", "--ssl-keyfile", "{key}", "--ssl-certificate", "{cert}"
        ),
    ),
    Server("nginx (C ceiling)", None, [], ["nginx"]),
]

MEASURES = ("plaintext", "json", "close", "handshake", "resumed")


def make_certificate(folder: Path) -> tuple[str, str]:
    key, cert = str(folder / "key.pem"), str(folder / "cert.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


class RunningTLS(base.Running):
    """A server of SERVERS started with the certificate, ready once it answers over https."""

    key = ""
    cert = ""
    nginx_conf = "nginx_tls.conf"
    scheme = "https"

    def fields(self) -> dict[str, str]:
        return {"key": self.key, "cert": self.cert}

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)


def wrk_https(
    port: int, path: str, seconds: float, connections: int, close: bool = False
) -> tuple[float, int, str]:
    argv = [
        "taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}",
        f"-d{max(1, round(seconds))}s", "--timeout", "5s", f"https://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    if close:  # a new connection (a full TLS handshake) for every request
        argv[-1:-1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    problems = []
    for label in ("Non-2xx or 3xx responses", "Socket errors"):
        found = re.search(label + r":?\s*(.*)", out)
        if found:
            problems.append(f"{label}: {found.group(1).strip()}")
    return (
        float(rps.group(1)) if rps else 0.0,
        int(total.group(1)) if total else 0,
        "; ".join(problems),
    )


S_TIME_COUNT = re.compile(r"(\d+) connections in ([\d.]+) real seconds")


def s_time(port: int, seconds: float, reuse: bool, cafile: str) -> tuple[float, int]:
    """New TLS 1.3 connections per second (one GET /plaintext each) from several clients."""
    argv = [
        "taskset", "-c", CLIENT_CPU, "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
        "-tls1_3", "-CAfile", cafile, "-time", str(max(1, round(seconds))),
        "-www", "/plaintext", "-reuse" if reuse else "-new",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(S_TIME_CLIENTS)
    ]
    total = 0
    elapsed = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        # -reuse prints the first (full) handshake's line, then the resumed ones: take the last
        found = S_TIME_COUNT.findall(out)
        if found:
            count, secs = found[-1]
            total += int(count)
            elapsed = max(elapsed, float(secs))
    return (total / elapsed if elapsed else 0.0), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="", help="comma list of name prefixes")
    parser.add_argument("--measures", default=",".join(MEASURES))
    args = parser.parse_args()
    for tool in ("wrk", "openssl", "taskset"):
        if not shutil.which(tool):
            print(f"{tool} is missing", file=sys.stderr)
            return 2
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    servers = [s for s in SERVERS if not wanted or any(s.name.startswith(w) for w in wanted)]
    servers = [s for s in servers if s.venv is not None or shutil.which("nginx")]
    measures = [m for m in args.measures.split(",") if m]
    venvs = {s.name: base.ensure_venv(s) for s in servers}
    folder = Path(tempfile.mkdtemp(prefix="bench-tls-cert-"))
    RunningTLS.key, RunningTLS.cert = make_certificate(folder)

    results: dict[tuple[str, str], tuple[float, float, str]] = {}
    for measure in measures:
        for server in servers:
            running = RunningTLS(server, venvs[server.name])
            try:
                if measure in ("plaintext", "json", "close"):
                    path = "/json" if measure == "json" else "/plaintext"
                    close = measure == "close"
                    conns = CLOSE_CONNECTIONS if close else args.connections
                    wrk_https(running.port, path, 1.0, conns, close)  # warm-up
                    before = running.cpu_seconds()
                    rate, total, problems = wrk_https(
                        running.port, path, args.duration, conns, close
                    )
                else:
                    reuse = measure == "resumed"
                    s_time(running.port, 1.0, reuse, RunningTLS.cert)  # warm-up
                    before = running.cpu_seconds()
                    rate, total = s_time(running.port, args.duration, reuse, RunningTLS.cert)
                    problems = ""
                cpu_us = 1e6 * (running.cpu_seconds() - before) / total if total else 0.0
                if running.proc.poll() is not None:
                    rate, problems = 0.0, "crashed: " + running.last_error()
                results[measure, server.name] = (rate, cpu_us, problems)
            finally:
                running.stop()
            print(
                f"{measure:10} {server.name:20} {rate:10.0f} /s  {cpu_us:8.1f} us CPU each "
                f"{problems}",
                flush=True,
            )
    report = render(servers, measures, results, venvs, args)
    print(report)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"tls-{stamp}.md").write_text(report)
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def render(servers, measures, results, venvs, args) -> str:
    ours = servers[0].name if servers and servers[0].venv == "ours" else None
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"Python {platform.python_version()}; server on CPU {SERVER_CPU}, clients on CPU "
        f"{CLIENT_CPU}; wrk {args.connections} connections, s_time {S_TIME_CLIENTS} clients "
        f"(TLS 1.3, EC P-256), {args.duration:g} s per run.",
        "",
        "| measure | server | per second | ours / this | server CPU us each | this / ours (CPU) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for measure in measures:
        mine = results.get((measure, ours)) if ours else None
        for server in servers:
            got = results.get((measure, server.name))
            if got is None:
                continue
            rate, cpu_us, problems = got
            ratio = f"{mine[0] / rate:.2f}x" if mine and rate else "-"
            cpu_ratio = f"{cpu_us / mine[1]:.2f}x" if mine and mine[1] and rate else "-"
            note = f" ({problems})" if problems else ""
            lines.append(
                f"| {measure} | {server.name}{note} | {rate:,.0f} | {ratio} | {cpu_us:.1f} "
                f"| {cpu_ratio} |"
            )
    lines += ["", "| server | versions |", "|---|---|"]
    for server in servers:
        lines.append(f"| {server.name} | {base.versions(venvs[server.name], server)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
