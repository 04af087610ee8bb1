"""Instructions per request through the memory transport, counted by callgrind.

A figure that other load on the machine does not move: the script runs the same request
loop twice under ``valgrind --tool=callgrind`` (N and N + DELTA requests) and divides the
difference of the two instruction totals by DELTA, so start-up and import costs cancel.

    python bench/callgrind_request.py [--python PY] [--header] [--connections N] [--case CASE ...]

Cases (several may be given; the default is ``app``):

* ``app``: the App's own plaintext request (``res.end("Hello, World!")``), fed and read on
  a memory connection;
* ``app-header`` (also ``--header``): the handler of the benchmark app's plaintext endpoint
  (bench/apps/socketify_app.py: ``write_header("Content-Type", "text/plain")`` then
  ``end(b"Hello, World!")``) instead of ``end("Hello, World!")`` alone;
* ``asgi``: the raw ASGI app of the load benchmarks (``bench/apps/asgi_raw.py``) served by
  ``socketify.ASGI``, GET /plaintext the same way;
* ``starlette``: the Starlette app of the load benchmarks (``bench/apps/starlette_app.py``);
* ``asgi-json`` / ``starlette-json``: the same two apps' GET /json;
* ``wsgi`` / ``wsgi-json``: the raw WSGI app of the load benchmarks (``bench/apps/wsgi_raw.py``)
  served by ``socketify.WSGI`` with its worker's call and the hand-back run in place (the
  threads' own cost, a few futex calls and context switches per poll, is left out);
* ``testclient-fastapi`` / ``starlette-testclient-fastapi``: one ``client.get("/")`` of the
  FastAPI app of ``bench/bench_testclient.py`` through our TestClient / Starlette's (their
  ratio is the TestClient pair of that benchmark, without the machine's noise).

valgrind is installed via apt-get when missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent

MEMORY_LOOP = """
import asyncio, sys
sys.path.insert(0, {apps!r})
{make}
host = app.memory_host()
host.bind_loop(asyncio.new_event_loop())
count = int(sys.argv[2])
conns = [host.open_connection(("10.0.0.%d" % (n % 250 + 1), 1000 + n)) for n in range(count)]
req = b"GET {path} HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
for conn in conns:
    conn.feed(req)
    assert conn.read().startswith(b"HTTP/1.1 200 "), "not a 200"
for n in range(int(sys.argv[1])):
    conn = conns[n % count]
    conn.feed(req)
    conn.read()
"""

CLIENT_LOOP = """
import sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {bench!r})
import bench_testclient
client = bench_testclient.{maker}()
client.__enter__()
assert client.get("/").text == "Hello, World!"
get = client.get
for _ in range(int(sys.argv[1])):
    get("/")
"""

APP = """
from socketify import App
app = App()
app.get("/", lambda res, req: res.end("Hello, World!"))
"""
APP_HEADER = """
from socketify import App
app = App()
app.get("/", lambda res, req: res.write_header("Content-Type", "text/plain").end(b"Hello, World!"))
"""
ASGI = """
from socketify import ASGI
import {module}
app = ASGI({module}.app, lifespan="off")
"""

WSGI_IN_PLACE = """
from socketify import WSGI
import {module}
app = WSGI({module}.app)
class InPlace:  # the worker's call runs at once, on this thread
    def submit(self, fn, *args):
        fn(*args)
    def shutdown(self):
        return 0
app._pool = InPlace()
app._inbox.post = lambda fn, arg: fn(arg)  # and so does the hand-back to the loop
"""

CASES = {
    "app": MEMORY_LOOP.format(apps="", make=APP, path="/"),
    "app-header": MEMORY_LOOP.format(apps="", make=APP_HEADER, path="/"),
    "asgi": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=ASGI.format(module="asgi_raw"), path="/plaintext"
    ),
    "starlette": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=ASGI.format(module="starlette_app"), path="/plaintext"
    ),
    "asgi-json": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=ASGI.format(module="asgi_raw"), path="/json"
    ),
    "starlette-json": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=ASGI.format(module="starlette_app"), path="/json"
    ),
    "wsgi": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=WSGI_IN_PLACE.format(module="wsgi_raw"), path="/plaintext"
    ),
    "wsgi-json": MEMORY_LOOP.format(
        apps=str(BENCH / "apps"), make=WSGI_IN_PLACE.format(module="wsgi_raw"), path="/json"
    ),
    "testclient-fastapi": CLIENT_LOOP.format(bench=str(BENCH), maker="fastapi_ours"),
    "starlette-testclient-fastapi": CLIENT_LOOP.format(bench=str(BENCH), maker="fastapi_starlette"),
}


def instructions(
    python: str, script: Path, requests: int, workdir: Path, connections: int = 1
) -> int:
    out = workdir / f"cg.{requests}.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            python,
            str(script),
            str(requests),
            str(connections),
        ],
        check=True,
        capture_output=True,
    )
    found = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: app")
    parser.add_argument(
        "--header", action="store_true", help="the benchmark app's handler (case app-header)"
    )
    parser.add_argument("--base", type=int, default=2000)
    parser.add_argument("--delta", type=int, default=10000)
    parser.add_argument(
        "--connections",
        type=int,
        default=1,
        help="memory cases: requests go round-robin over this many connections (wrk -c64 "
        "interleaves 64 keep-alive connections)",
    )
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=True)
    cases = list(args.case or ([] if args.header else ["app"]))
    if args.header:
        cases.append("app-header")
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "loop.py"
            script.write_text(CASES[case])
            first = instructions(args.python, script, args.base, Path(tmp), args.connections)
            second = instructions(
                args.python, script, args.base + args.delta, Path(tmp), args.connections
            )
        print(f"{case}: {(second - first) / args.delta:,.0f} instructions per request")


if __name__ == "__main__":
    main()
