"""HTTP load benchmark: socketify against its peers, in one run, on one machine.

Each server gets its own venv under bench/.venvs, runs pinned to CPU 0 and is driven by
wrk pinned to CPU 1 over 127.0.0.1; every wrk run is bounded in time.  Endpoints run one
after the other and, for each endpoint, the servers take turns, so machine drift hits
all of them alike.  Only ratios between servers of the same run mean anything.

    python bench/run_http.py [--duration 5] [--connections 64] [--servers a,b] [--endpoints x,y]

Our code is reinstalled into its venvs at the start of each run (the core compiled again);
``SOCKETIFY_BENCH_KEEP_OURS=1`` keeps what an earlier run installed (back-to-back runs).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
APPS = HERE / "apps"
OURS = [
    str(ROOT / "packages" / p) for p in ("socketify-router", "socketify-json", "socketify-core")
]
OURS_APPS = [*OURS, "starlette", "flask", "uvloop"]
ours_cli = ["{py}", "-m", "socketify", "--port", "{port}", "--log-level", "warning"]
SERVER_CPU = "0"
CLIENT_CPU = "1"


def uvicorn_argv(module: str, *extra: str) -> list[str]:
    """uvicorn with httptools and uvloop, no access log (its fastest setup)."""
    return ["{py}", "-m", "uvicorn", module, "--port", "{port}", "--http", "httptools",
            "--loop", "uvloop", "--no-access-log", "--log-level", "warning", *extra]  # fmt: skip


def granian_argv(kind: str, module: str, *extra: str) -> list[str]:
    """granian, one worker with one runtime thread (one process, as every server here)."""
    return ["{bin}/granian", "--interface", kind, "--host", "127.0.0.1", "--port", "{port}",
            "--workers", "1", "--runtime-threads", "1", "--no-ws", *extra, module]  # fmt: skip


@dataclass
class Server:
    name: str
    venv: str | None  # None: a system program
    packages: list[str]
    argv: list[str]  # {py} {port} {apps} are filled in
    cwd: Path = APPS
    skip: set[str] = field(default_factory=set)  # endpoints it does not serve
    python: str | None = None  # the venv's interpreter (None: the one running this script)
    warmup: float = 1.0  # seconds of load before each measured run
    cpus: str = SERVER_CPU  # taskset list for the server (its workers inherit it)
    client_cpus: str = CLIENT_CPU  # taskset list for wrk against this server


# PyPy's JIT compiles the hot loop in the first seconds of load: its servers get a longer
# warm-up before each measured run (the table states it).
PYPY_WARMUP = 10.0


SERVERS = [
    Server("socketify (ours)", "ours", OURS, ["{py}", "socketify_app.py", "{port}"]),
    Server(
        "socketify 0.0.31", "orig", ["socketify==0.0.31"], ["{py}", "socketify_app.py", "{port}"]
    ),
    Server(
        "socketify (ours) PyPy",
        "ours-pypy",
        OURS,
        ["{py}", "socketify_app.py", "{port}"],
        python="pypy3",
        warmup=PYPY_WARMUP,
    ),
    Server(
        "socketify 0.0.31 PyPy",
        "orig-pypy",
        ["socketify==0.0.31"],
        ["{py}", "socketify_app.py", "{port}"],
        python="pypy3",
        warmup=PYPY_WARMUP,
    ),
    # Scaling with workers (issue #16 item 5): the CLI with --workers 1 and 2, the server and
    # wrk both free to use both cores (a 2-core machine has no core to spare for wrk).
    *[
        Server(
            f"socketify (ours) --workers {n}, server and wrk on both CPUs",
            "ours",
            OURS,
            [
                "{py}",
                "-m",
                "socketify",
                "socketify_app:run",
                "--port",
                "{port}",
                "--workers",
                str(n),
                "--log-level",
                "warning",
            ],
            cpus=f"{SERVER_CPU},{CLIENT_CPU}",
            client_cpus=f"{SERVER_CPU},{CLIENT_CPU}",
        )
        for n in (1, 2)
    ],
    Server(
        "granian raw ASGI",
        "granian",
        ["granian"],
        granian_argv("asgi", "asgi_raw:app"),
    ),
    Server(
        "uvicorn raw ASGI",
        "uvicorn",
        ["uvicorn", "httptools", "uvloop"],
        uvicorn_argv("asgi_raw:app"),
    ),
    Server(
        "falcon on uvicorn",
        "falcon",
        ["falcon", "uvicorn", "httptools", "uvloop"],
        uvicorn_argv("falcon_app:app"),
    ),
    Server("nginx (C ceiling)", None, [], ["nginx"], skip={"post64k"}),
    # ---- ASGI and WSGI apps: the same app on ours and on each peer (one process each) ----
    *[
        Server(f"{label} on ours", "ours-apps", OURS_APPS, [*ours_cli, module, "--interface", kind])
        for label, module, kind in (
            ("raw ASGI", "asgi_raw:app", "asgi"),
            ("Starlette", "starlette_app:app", "asgi"),
            ("raw WSGI", "wsgi_raw:app", "wsgi"),
            ("Flask", "flask_app:app", "wsgi"),
        )
    ],
    *[
        Server(
            f"{label} on uvicorn",
            "uvicorn-apps",
            ["uvicorn", "httptools", "uvloop", "starlette"],
            uvicorn_argv(module),
        )
        for label, module in (("raw ASGI", "asgi_raw:app"), ("Starlette", "starlette_app:app"))
    ],
    *[
        Server(
            f"{label} on granian",
            "granian-apps",
            ["granian", "starlette", "flask"],
            granian_argv(kind, module),
        )
        for label, module, kind in (
            ("raw ASGI", "asgi_raw:app", "asgi"),
            ("Starlette", "starlette_app:app", "asgi"),
            ("raw WSGI", "wsgi_raw:app", "wsgi"),
            ("Flask", "flask_app:app", "wsgi"),
        )
    ],
    *[
        Server(
            f"{label} on hypercorn",
            "hypercorn-apps",
            ["hypercorn", "uvloop", "starlette"],
            [
                "{bin}/hypercorn",
                module,
                "--bind",
                "127.0.0.1:{port}",
                "-w",
                "1",
                "-k",
                "uvloop",
                "--log-level",
                "warning",
            ],
        )
        for label, module in (("raw ASGI", "asgi_raw:app"), ("Starlette", "starlette_app:app"))
    ],
    *[
        Server(
            f"{label} on gunicorn {worker}",
            "gunicorn-apps",
            ["gunicorn", "flask"],
            ["{bin}/gunicorn", module, "-b", "127.0.0.1:{port}", "-w", "1", "-k", worker]
            + (["--threads", "10"] if worker == "gthread" else [])
            + ["--log-level", "warning"],
        )
        for label, module in (("raw WSGI", "wsgi_raw:app"), ("Flask", "flask_app:app"))
        for worker in ("sync", "gthread")
    ],
]

# name -> (path, wrk script or None, extra wrk args)
ENDPOINTS = {
    "plaintext": ("/plaintext", None, []),
    "json": ("/json", None, []),
    "param": ("/user/42", None, []),
    "pipelined16": ("/plaintext", HERE / "wrk" / "pipeline.lua", ["--", "16"]),
    "post64k": ("/echo", HERE / "wrk" / "post64k.lua", []),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_FRESH: set[str] = set()
if os.environ.get("SOCKETIFY_BENCH_KEEP_OURS") == "1":
    # Back-to-back runs of the same tree: our venvs keep the code an earlier run installed
    # (each reinstall compiles the core again).
    _FRESH.update({"ours", "ours-apps", "ours-pypy"})


def ensure_venv(server: Server) -> Path | None:
    if server.venv is None:
        return None
    venv = VENVS / server.venv
    py = venv / "bin" / "python"
    if not py.exists():
        interpreter = shutil.which(server.python) if server.python else sys.executable
        if interpreter is None:
            print(f"{server.name}: {server.python} is missing, skipped", file=sys.stderr)
            return None
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    if (server.venv.startswith("ours") and server.venv not in _FRESH) or not (
        venv / ".installed"
    ).exists():
        _FRESH.add(server.venv)  # our code is reinstalled once per run
        # setuptools reuses a module left in build/ by another session (an ASan build of
        # `nox -s asan` would be benchmarked): compile from scratch
        shutil.rmtree(ROOT / "packages" / "socketify-core" / "build", ignore_errors=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *server.packages], check=True)
        (venv / ".installed").write_text("\n".join(server.packages))
    return venv


def versions(venv: Path | None, server: Server) -> str:
    if venv is None:
        out = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
        return out.stderr.strip().replace("nginx version: ", "")
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True
    ).stdout
    wanted = {p.split("==")[0].split("/")[-1].lower() for p in server.packages}
    wanted |= {"socketify-core"}
    return ", ".join(
        line for line in out.splitlines() if line.split("==")[0].split(" @ ")[0].lower() in wanted
    )


class Running:
    """A server of SERVERS started and answering ``/plaintext``; subclasses change the
    nginx configuration, the fields filled into argv and how readiness is checked."""

    nginx_conf = "nginx.conf"
    scheme = "http"

    def __init__(self, server: Server, venv: Path | None) -> None:
        self.server = server
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="bench-")
        fill = {"port": str(self.port), **self.fields()}
        if venv is None:
            conf = (HERE / self.nginx_conf).read_text()
            for name, value in {"PREFIX": self.tmp, **fill}.items():
                conf = conf.replace("{" + name.upper() + "}", value)
            Path(self.tmp, "nginx.conf").write_text(conf)
            argv = ["nginx", "-p", self.tmp, "-c", f"{self.tmp}/nginx.conf", "-g", "daemon off;"]
        else:
            fill.update(py=str(venv / "bin" / "python"), bin=str(venv / "bin"))
            argv = [part.format(**fill) for part in server.argv]
        self.log = open(Path(self.tmp, "server.log"), "w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", server.cpus, *argv],
            cwd=server.cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def fields(self) -> dict[str, str]:
        """More {name} fields for argv (and {NAME} for the nginx configuration)."""
        return {}

    def ssl_context(self) -> Any:
        return None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        url = f"{self.scheme}://127.0.0.1:{self.port}/plaintext"
        context = self.ssl_context()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=1, context=context) as r:
                    if r.status == 200 and r.read() == b"Hello, World!":
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        log = Path(self.tmp, "server.log").read_text()[-2000:]
        raise RuntimeError(f"{self.server.name} did not start:\n{log}")

    def last_error(self) -> str:
        self.log.flush()
        lines = Path(self.tmp, "server.log").read_text(errors="replace").splitlines()
        fatal = [line for line in lines if "Error" in line or "error" in line]
        return (fatal or lines or ["no output"])[0][:120]

    def cpu_seconds(self) -> float:
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def rss_mib(self) -> float:
        """Resident memory of the server and its children, MiB."""
        total = 0
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(x) for x in out.split()]
    return kids + [g for k in kids for g in children(k)]


LATENCY = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    port: int, endpoint: str, seconds: float, connections: int, cpus: str = CLIENT_CPU
) -> tuple[float, float, str, int, float]:
    """req/s, p99 ms, problems, requests, and wrk's own CPU seconds (user + system)."""
    path, script, extra = ENDPOINTS[endpoint]
    argv = [
        "taskset",
        "-c",
        cpus,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if script:
        argv += ["-s", str(script)]
    argv += [f"http://127.0.0.1:{port}{path}", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # taskset execs wrk: wrk's CPU
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p99 = LATENCY.search(out)
    problems = []
    for label in ("Non-2xx or 3xx responses", "Socket errors"):
        found = re.search(label + r":?\s*(.*)", out)
        if found:
            problems.append(f"{label}: {found.group(1).strip()}")
    return (
        float(rps.group(1)) if rps else 0.0,
        float(p99.group(1)) * UNIT[p99.group(2)] if p99 else float("nan"),
        "; ".join(problems),
        int(total.group(1)) if total else 0,
        client_cpu,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="", help="comma list of name prefixes")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument(
        "--idle", type=float, default=3.0, help="seconds of idle CPU sampling (0: none)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    servers = [s for s in SERVERS if not wanted or any(s.name.startswith(w) for w in wanted)]
    servers = [s for s in servers if s.venv is not None or shutil.which("nginx")]
    endpoints = [e for e in args.endpoints.split(",") if e]
    venvs = {s.name: ensure_venv(s) for s in servers}
    servers = [s for s in servers if s.venv is None or venvs[s.name] is not None]

    results: dict[tuple[str, str], tuple[float, float, str, float]] = {}
    rss: dict[tuple[str, str], float] = {}  # MiB after the measured run
    client: dict[tuple[str, str], float] = {}  # wrk's CPU us per request
    idle: dict[str, float] = {}
    for server in servers if args.idle > 0 else []:  # --idle 0: no idle sampling
        running = Running(server, venvs[server.name])
        try:
            before = running.cpu_seconds()
            time.sleep(args.idle)
            idle[server.name] = 100.0 * (running.cpu_seconds() - before) / args.idle
        finally:
            running.stop()
    for endpoint in endpoints:
        for server in servers:
            if endpoint in server.skip:
                continue
            running = Running(server, venvs[server.name])
            try:
                load = (running.port, endpoint)
                wrk(*load, server.warmup, args.connections, server.client_cpus)  # warm-up
                cpu_before = running.cpu_seconds()
                rps, p99, problems, total, client_cpu = wrk(
                    *load, args.duration, args.connections, server.client_cpus
                )
                # Server CPU per request: robust to other load on the machine, unlike req/s.
                cpu_us = 1e6 * (running.cpu_seconds() - cpu_before) / total if total else 0.0
                # wrk's: when it nears 1e6 / req/s the client, not the server, sets the pace
                client[endpoint, server.name] = 1e6 * client_cpu / total if total else 0.0
                rss[endpoint, server.name] = running.rss_mib()
                if running.proc.poll() is not None:
                    rps, p99, problems = 0.0, float("nan"), "crashed: " + running.last_error()
                results[endpoint, server.name] = (rps, p99, problems, cpu_us)
            finally:
                running.stop()
            rps, p99, problems, cpu_us = results[endpoint, server.name]
            print(
                f"{endpoint:12} {server.name:24} {rps:12.0f} req/s  p99 {p99:8.2f} ms "
                f"{cpu_us:7.1f} us CPU/req {rss[endpoint, server.name]:6.1f} MiB "
                f"(wrk {client.get((endpoint, server.name), 0.0):.1f} us/req) {problems}",
                flush=True,
            )

    report = render(servers, endpoints, results, rss, idle, venvs, args, client)
    print(report)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"http-{stamp}.md").write_text(report)
    return 0


def render(servers, endpoints, results, rss, idle, venvs, args, client) -> str:
    ours = servers[0].name if servers and servers[0].venv == "ours" else None
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"Python {platform.python_version()}; server on CPU {SERVER_CPU}, wrk on CPU "
        f"{CLIENT_CPU}, {args.connections} connections, {args.duration:g} s per run, after a "
        f"1 s warm-up ({PYPY_WARMUP:g} s for the PyPy servers, for their JIT). PyPy rows are "
        "compared with ours on PyPy. The --workers rows run the server and wrk on both CPUs.",
        "",
        "| endpoint | server | req/s | p99 ms | ours / this (req/s) | server CPU us/req "
        "| this / ours (CPU per req) | RSS MiB after | wrk CPU us/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours_pypy = next((s.name for s in servers if s.venv == "ours-pypy"), None)
    for endpoint in endpoints:
        for server in servers:
            got = results.get((endpoint, server.name))
            if got is None:
                continue
            mine = ours_pypy if server.python == "pypy3" else ours
            base = results.get((endpoint, mine)) if mine else None
            rps, p99, problems, cpu_us = got
            ratio = f"{base[0] / rps:.2f}x" if base and rps else "-"
            cpu_ratio = f"{cpu_us / base[3]:.2f}x" if base and base[3] and rps else "-"
            note = f" ({problems})" if problems else ""
            lines.append(
                f"| {endpoint} | {server.name}{note} | {rps:,.0f} | {p99:.2f} | {ratio} "
                f"| {cpu_us:.1f} | {cpu_ratio} | {rss.get((endpoint, server.name), 0.0):.1f} "
                f"| {client.get((endpoint, server.name), 0.0):.1f} |"
            )
    lines += ["", "| server | idle CPU % | versions |", "|---|---:|---|"]
    for server in servers:
        lines.append(
            f"| {server.name} | {idle.get(server.name, float('nan')):.2f} | "
            f"{versions(venvs[server.name], server)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
