"""Build and run the standalone C unit programs in tests/c/.

Each ``tests/c/test_<name>.c`` is a program with its own ``main`` that prints
``N passed, N failed`` on its last line and exits non-zero on a failure.  It is
compiled together with the ``csrc/*.c`` files it needs, with ``-Wall -Wextra
-Werror``; ``SOCKETIFY_SANITIZE=1`` adds AddressSanitizer and UBSan.

Which csrc files a program needs: the ``C_UNITS`` table when it lists the
program, otherwise inferred: for every ``#include "x.h"`` of the program, and
transitively of the csrc .h and .c files found so, ``csrc/x.c`` when it exists.  So adding
a program is dropping it into tests/c/; add a ``C_UNITS`` line only when the
inference is wrong (a header implemented in a differently named .c file).

The fuzz targets in fuzz/ are built the same way without libFuzzer
(``-DSC_FUZZ_STANDALONE``) and run over their seed corpus.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
C_TESTS = TESTS / "c"
CSRC = TESTS.parent / "csrc"
FUZZ = TESTS.parent / "fuzz"

# tests/c program -> the csrc files it is linked with (overrides the inference)
C_UNITS: dict[str, list[str]] = {
    "test_http_parser.c": ["http_parser.c", "tokens.c"],
    "test_utf8.c": ["utf8.c"],
    # the reactor and the I/O layers with a stub protocol: no HTTP/WebSocket file may be
    # needed to link it (the layering rule of csrc/core.h)
    "test_layers.c": [
        "loop.c",
        "listen.c",
        "io.c",
        "io_socket.c",
        "io_memory.c",
        "io_tls.c",
        "buf.c",
        "addr.c",
    ],
    "test_loop_mem.c": [
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
    ],
}


# fuzz/ target -> (csrc files, seed directory under fuzz/corpus/): the table of fuzz/run.py,
# but fuzz_http_conn, whose seeds tests/test_fuzz_regressions.py replays.
def _fuzz_targets() -> dict[str, tuple[list[str], str]]:
    spec = importlib.util.spec_from_file_location("socketify_fuzz_run", FUZZ / "run.py")
    assert spec is not None and spec.loader is not None
    run_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_py)
    return {
        f"{name}.c": (list(target.csrc), target.corpus)
        for name, target in run_py.TARGETS.items()
        if name != "fuzz_http_conn"
    }


FUZZ_TARGETS = _fuzz_targets()

# csrc file -> what a program linking it must also link (as build_native.py does)
C_LIBS: dict[str, list[str]] = {
    "ws_deflate.c": ["-lz"],
    "io_tls.c": ["-lssl", "-lcrypto"],
}

CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"]
SANITIZE_FLAGS = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
TIMEOUT_S = 300

GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not found on PATH: cannot build C tests")

_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.MULTILINE)


def c_programs() -> list[str]:
    return sorted(path.name for path in C_TESTS.glob("test_*.c"))


def csrc_for(program: str) -> list[str]:
    """The csrc .c files program links with (see the module docstring)."""
    if program in C_UNITS:
        return list(C_UNITS[program])
    found: list[str] = []
    seen: set[str] = set()
    pending = [C_TESTS / program]
    while pending:
        text = pending.pop(0).read_text(encoding="utf-8", errors="replace")
        for stem in _LOCAL_INCLUDE.findall(text):
            if stem in seen:
                continue
            seen.add(stem)
            for path in (CSRC / f"{stem}.h", CSRC / f"{stem}.c"):
                if path.is_file():
                    pending.append(path)
            if (CSRC / f"{stem}.c").is_file():
                found.append(f"{stem}.c")
    return found


def _compile_command(main: Path, csrc: list[str], exe: Path, *extra: str) -> list[str]:
    flags = list(CFLAGS)
    if os.environ.get("SOCKETIFY_SANITIZE") == "1":
        flags += SANITIZE_FLAGS
    sources = [str(main)] + [str(CSRC / name) for name in csrc]
    libs = [flag for name in csrc for flag in C_LIBS.get(name, [])]
    return [str(GCC), *flags, *extra, f"-I{CSRC}", *sources, *libs, "-o", str(exe)]


def _build(cmd: list[str]) -> None:
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert build.returncode == 0, f"compile failed: {' '.join(cmd)}\n{build.stderr}"


def test_c_programs_resolve_to_existing_sources() -> None:
    assert "test_http_parser.c" in c_programs()
    assert set(C_UNITS) <= set(c_programs()), "C_UNITS lists programs that do not exist"
    for program in c_programs():
        sources = csrc_for(program)
        assert sources, f"{program}: no csrc file found; add it to C_UNITS"
        missing = [name for name in sources if not (CSRC / name).is_file()]
        assert missing == [], f"{program} needs csrc files that do not exist: {missing}"


def test_csrc_inference_follows_includes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "test_x.c").write_text('#include "a.h"\n#include "nothing.h"\n')
    (tmp_path / "csrc").mkdir()
    (tmp_path / "csrc" / "a.h").write_text('#include "c.h"\n')
    (tmp_path / "csrc" / "a.c").write_text('#include "a.h"\n#include "b.h"\n')
    (tmp_path / "csrc" / "b.c").write_text('#include "b.h"\n')
    (tmp_path / "csrc" / "c.c").write_text('#include "a.h"\n')
    monkeypatch.setattr(sys.modules[__name__], "C_TESTS", tmp_path / "c")
    monkeypatch.setattr(sys.modules[__name__], "CSRC", tmp_path / "csrc")
    assert csrc_for("test_x.c") == ["a.c", "c.c", "b.c"]


@needs_gcc
@pytest.mark.parametrize("program", c_programs())
def test_c_unit(program: str, tmp_path: Path) -> None:
    exe = tmp_path / Path(program).stem
    _build(_compile_command(C_TESTS / program, csrc_for(program), exe))
    run = subprocess.run(
        [str(exe)], capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S
    )
    lines = run.stdout.strip().splitlines()
    summary = lines[-1] if lines else "(no output)"
    assert run.returncode == 0, f"{program}: {summary}\n{run.stderr[-6000:]}"
    assert summary.endswith(" 0 failed"), summary
    assert int(summary.split()[0]) > 0, f"{program} checked nothing: {summary}"


@needs_gcc
@pytest.mark.parametrize("target", sorted(FUZZ_TARGETS))
def test_fuzz_target_replays_corpus(target: str, tmp_path: Path) -> None:
    csrc, corpus_dir = FUZZ_TARGETS[target]
    seeds = sorted(str(path) for path in (FUZZ / "corpus" / corpus_dir).iterdir())
    assert seeds, f"{target} has no seed files"
    exe = tmp_path / Path(target).stem
    _build(_compile_command(FUZZ / target, csrc, exe, "-DSC_FUZZ_STANDALONE"))
    run = subprocess.run(
        [str(exe), *seeds], capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S
    )
    assert run.returncode == 0, f"{target} failed on its corpus:\n{run.stderr[-6000:]}"
    assert run.stdout.strip() == f"{len(seeds)} inputs ran"
