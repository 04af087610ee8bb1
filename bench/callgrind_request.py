"""Instructions per plaintext request through the memory transport, counted by callgrind.

A figure that other load on the machine does not move: the script runs the same request
loop twice under ``valgrind --tool=callgrind`` (N and N + DELTA requests) and divides the
difference of the two instruction totals by DELTA, so start-up and import costs cancel.
``python bench/callgrind_request.py [--python PY] [--header]`` (valgrind via apt-get when
missing); ``--header`` measures the handler of the benchmark app's plaintext endpoint
(bench/apps/socketify_app.py: ``write_header("Content-Type", "text/plain")`` then
``end(b"Hello, World!")``) instead of ``end("Hello, World!")`` alone.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOOP = """
import asyncio, sys
from socketify import App
app = App()
if sys.argv[2] == "header":
    app.get("/", lambda res, req: res.write_header("Content-Type", "text/plain").end(b"Hello, World!"))
else:
    app.get("/", lambda res, req: res.end("Hello, World!"))
host = app.memory_host()
host.bind_loop(asyncio.new_event_loop())
conn = host.open_connection()
req = b"GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
for _ in range(int(sys.argv[1])):
    conn.feed(req)
    conn.read()
"""


def instructions(python: str, requests: int, workdir: Path, handler: str = "end") -> int:
    script = workdir / "loop.py"
    script.write_text(LOOP)
    out = workdir / f"cg.{requests}.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            python,
            str(script),
            str(requests),
            handler,
        ],
        check=True,
        capture_output=True,
    )
    found = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.MULTILINE)
    if not found:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--base", type=int, default=2000)
    parser.add_argument("--delta", type=int, default=10000)
    parser.add_argument(
        "--header", action="store_true", help="the benchmark app's handler: write_header + end"
    )
    args = parser.parse_args()
    handler = "header" if args.header else "end"
    with tempfile.TemporaryDirectory() as tmp:
        first = instructions(args.python, args.base, Path(tmp), handler)
        second = instructions(args.python, args.base + args.delta, Path(tmp), handler)
    print(f"{(second - first) / args.delta:,.0f} instructions per plaintext request")


if __name__ == "__main__":
    main()
