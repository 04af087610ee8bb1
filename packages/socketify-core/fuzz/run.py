"""Build every libFuzzer target in this directory with clang and run each for a while.

    python packages/socketify-core/fuzz/run.py SECONDS [TARGET ...]

Each target (``fuzz_*.c``, listed in ``TARGETS``) is compiled with
``-fsanitize=fuzzer,address,undefined`` together with the csrc files it drives, then run
for SECONDS (``-max_total_time``) on a working copy of its seeds (``corpus/<dir>/``), so the
corpus in git stays small while a work directory keeps what the runs found
(``$SOCKETIFY_FUZZ_DIR``, default ``<tempdir>/socketify-fuzz``).

A crash, leak, sanitizer report or failed property check stops that target; its reproducer
is copied to ``regressions/<dir>/`` (replayed by tests/test_fuzz_regressions.py) and the
script exits 1.  The last line per target gives its executions, for docs/security.md.
``$SOCKETIFY_FUZZ_CFLAGS`` adds compiler flags (e.g. a ``-D`` that a target uses to leave
out the path of an already reported bug while looking for new ones).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

FUZZ = Path(__file__).resolve().parent
CSRC = FUZZ.parent / "csrc"


class Target(NamedTuple):
    csrc: tuple[str, ...]  # csrc files linked in
    corpus: str  # seed directory under corpus/ (and regressions/)
    dictionary: str  # libFuzzer dictionary in this directory, "" for none
    libs: tuple[str, ...] = ()


CONN_SOURCES = (
    "loop.c",
    "listen.c",
    "io.c",
    "io_socket.c",
    "io_memory.c",
    "io_tls.c",
    "buf.c",
    "addr.c",
    "http_conn.c",
    "http_response.c",
    "http_proxy.c",
    "http_parser.c",
    "tokens.c",
)

TLS_LIBS = ("-lssl", "-lcrypto")  # io_tls.c (listen.c pushes the TLS layer)

WS_CONN_SOURCES = (
    *CONN_SOURCES,
    "ws_conn.c",
    "ws_api.c",
    "ws_frame.c",
    "ws_handshake.c",
    "ws_deflate.c",
    "utf8.c",
    "topics.c",
)

TARGETS: dict[str, Target] = {
    "fuzz_http_parser": Target(("http_parser.c", "tokens.c"), "http", "http.dict"),
    "fuzz_http_conn": Target(CONN_SOURCES, "conn", "http.dict", TLS_LIBS),
    "fuzz_ws_frame": Target(("ws_frame.c", "utf8.c"), "ws/frame", ""),
    "fuzz_utf8": Target(("utf8.c",), "ws/utf8", ""),
    "fuzz_ws_handshake": Target(("ws_handshake.c", "tokens.c"), "ws/handshake", ""),
    "fuzz_ws_deflate": Target(("ws_deflate.c", "ws_frame.c", "utf8.c"), "ws/deflate", "", ("-lz",)),
    "fuzz_topics": Target(("topics.c",), "topics", ""),
    "fuzz_ws_conn": Target(WS_CONN_SOURCES, "wsconn", "", ("-lz", *TLS_LIBS)),
}

CFLAGS = [
    "-std=c11",
    "-g",
    "-O1",
    "-fsanitize=fuzzer,address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
EXECS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
ARTIFACT = re.compile(r"Test unit written to (\S+)")


def build(name: str, target: Target, out: Path, clang: str) -> Path:
    exe = out / name
    sources = [str(FUZZ / f"{name}.c")] + [str(CSRC / c) for c in target.csrc]
    extra = os.environ.get("SOCKETIFY_FUZZ_CFLAGS", "").split()
    cmd = [clang, *CFLAGS, *extra, f"-I{CSRC}", *sources, *target.libs, "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"building {name} failed:\n{' '.join(cmd)}\n{done.stderr}")
    return exe


def run(name: str, target: Target, exe: Path, seconds: int, work: Path) -> tuple[int, str]:
    """Fuzz one target; returns (executions, "" or the path of the saved reproducer)."""
    corpus = work / "corpus" / target.corpus
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in sorted((FUZZ / "corpus" / target.corpus).iterdir()):
        if seed.is_file():
            shutil.copy(seed, corpus / seed.name)
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(exe),
        f"-max_total_time={seconds}",
        "-timeout=10",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{name}-",
    ]
    if target.dictionary:
        cmd.append(f"-dict={FUZZ / target.dictionary}")
    cmd.append(str(corpus))
    done = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    log = done.stdout + done.stderr
    (work / f"{name}.log").write_text(log)
    execs = sum(int(n) for n in EXECS.findall(log))
    if done.returncode == 0:
        return execs, ""
    found = ARTIFACT.findall(log)
    if not found:
        tail = "\n".join(log.splitlines()[-40:])
        raise SystemExit(f"{name} exited {done.returncode} without a reproducer:\n{tail}")
    keep = FUZZ / "regressions" / target.corpus
    keep.mkdir(parents=True, exist_ok=True)
    saved = keep / Path(found[-1]).name
    shutil.copy(found[-1], saved)
    return execs, str(saved)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", type=int, help="run time of each target")
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    args = parser.parse_args(argv)
    if args.seconds < 1:
        parser.error("seconds must be at least 1")
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; known: {', '.join(TARGETS)}")
    clang = shutil.which(os.environ.get("CC_FUZZ", "clang"))
    if clang is None:
        parser.error("clang not found (set CC_FUZZ to a clang with libFuzzer)")
    work = Path(
        os.environ.get("SOCKETIFY_FUZZ_DIR", Path(tempfile.gettempdir()) / "socketify-fuzz")
    )
    (work / "bin").mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.targets or list(TARGETS):
        target = TARGETS[name]
        exe = build(name, target, work / "bin", clang)
        execs, saved = run(name, target, exe, args.seconds, work)
        verdict = f"FOUND A CRASH, saved to {saved}" if saved else "no finding"
        print(f"{name}: {execs} executions in {args.seconds} s, {verdict}", flush=True)
        failed += bool(saved)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
