"""Replay what the fuzzers found, and the whole-connection target's seeds, without libFuzzer.

Every file under ``fuzz/regressions/<dir>/`` is an input that once crashed (or broke a
property of) the fuzz target whose seeds live in ``fuzz/corpus/<dir>/`` (the table is
``TARGETS`` in fuzz/run.py, which saves them there).  Each is replayed on its own, so a
failure names the file: the target is built with gcc, ``-Wall -Wextra -Werror``,
AddressSanitizer and UBSan, and ``-DSC_FUZZ_REPLAY`` (a ``main()`` that runs the target once
per file), and must exit 0.  ``fuzz_http_conn`` (the loop, the memory transport, the writer
and the parser together, with C stubs for the Python callbacks) also replays its seeds here;
tests/test_c_units.py replays the other targets' seeds.

To see what a connection read while replaying one file by hand::

    SC_FUZZ_DUMP=1 /path/to/replay fuzz/regressions/conn/<file>
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CSRC = ROOT / "csrc"
FUZZ = ROOT / "fuzz"
REGRESSIONS = FUZZ / "regressions"
TIMEOUT_S = 300

CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-DSC_FUZZ_REPLAY"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not found on PATH: cannot build C")


def _load_run_py():
    spec = importlib.util.spec_from_file_location("socketify_fuzz_run", FUZZ / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TARGETS = _load_run_py().TARGETS
BY_DIR = {target.corpus: name for name, target in TARGETS.items()}


def regression_files() -> list[tuple[str, Path]]:
    """(target, file) for every saved reproducer."""
    found = []
    for path in sorted(REGRESSIONS.rglob("*")):
        if path.is_file() and path.name != "README.md":
            found.append((BY_DIR.get(path.parent.relative_to(REGRESSIONS).as_posix(), ""), path))
    return found


_built: dict[str, Path] = {}


def replay_binary(target: str, tmp_dir: Path) -> Path:
    """The target built as a plain replay program (once per test session)."""
    if target in _built:
        return _built[target]
    spec = TARGETS[target]
    exe = tmp_dir / f"{target}_replay"
    sources = [str(FUZZ / f"{target}.c")] + [str(CSRC / name) for name in spec.csrc]
    cmd = [str(GCC), *CFLAGS, *SANITIZE, f"-I{CSRC}", *sources, *spec.libs, "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert build.returncode == 0, f"compile failed: {' '.join(cmd)}\n{build.stderr}"
    _built[target] = exe
    return exe


def replay(target: str, files: list[Path], tmp_dir: Path) -> None:
    exe = replay_binary(target, tmp_dir)
    run = subprocess.run(
        [str(exe), *map(str, files)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT_S,
        env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, (
        f"{target} fails on {[f.name for f in files]}:\n{run.stderr[-6000:]}"
    )
    assert run.stdout.strip() == f"{len(files)} inputs ran"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_replay")


def test_every_fuzz_target_is_in_run_py() -> None:
    on_disk = {path.stem for path in FUZZ.glob("fuzz_*.c")}
    assert on_disk == set(TARGETS), "fuzz/run.py TARGETS and fuzz/*.c disagree"
    for name, target in TARGETS.items():
        assert (FUZZ / "corpus" / target.corpus).is_dir(), f"{name}: no seed directory"
        for source in target.csrc:
            assert (CSRC / source).is_file(), f"{name} links {source}, which does not exist"


def test_every_regression_belongs_to_a_target() -> None:
    strays = [str(path) for target, path in regression_files() if not target]
    assert strays == [], "regression files outside fuzz/regressions/<corpus dir of a target>/"


@needs_gcc
def test_conn_target_replays_its_seeds(build_dir: Path) -> None:
    seeds = sorted(path for path in (FUZZ / "corpus" / "conn").iterdir() if path.is_file())
    assert len(seeds) >= 20
    replay("fuzz_http_conn", seeds, build_dir)


@needs_gcc
@pytest.mark.parametrize(
    ("target", "path"),
    regression_files(),
    ids=[f"{path.parent.name}/{path.name}" for _, path in regression_files()],
)
def test_regression_replays_clean(target: str, path: Path, build_dir: Path) -> None:
    replay(target, [path], build_dir)


def test_end_without_body_keeps_a_keep_alive_stream_framed() -> None:
    """Found by fuzz_http_conn (regressions/conn/no_body_200_keepalive_unframed): a 200 ended
    with end_without_body() to a GET had neither Content-Length nor Connection: close, so an
    HTTP/1.1 client reads the next response as its body (RFC 9112 section 6.3, rule 8)."""
    from socketify import App

    app = App()
    app.get("/empty", lambda res, req: res.end_without_body())
    app.get("/next", lambda res, req: res.end("next"))
    conn = app.memory_host().open_connection()
    try:
        conn.feed(b"GET /empty HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        first, _, _ = conn.read().partition(b"\r\n\r\n")
        headers = first.lower().split(b"\r\n")
        framed = b"content-length: 0" in headers or b"transfer-encoding: chunked" in headers
        assert framed or b"connection: close" in headers, first
    finally:
        conn.close()
        app.close()


def test_own_content_length_that_disagrees_cannot_desync_a_keep_alive_stream() -> None:
    """The fuzz checker's property (the output is a well-formed sequence of responses) at the
    Python level: a handler that writes its own Content-Length and then a body of another
    size must not leave bytes a keep-alive client takes for the next response.  Framing it
    right or closing the connection after it are both fine."""
    from socketify import App

    app = App()
    app.get("/short", lambda res, req: res.write_header("Content-Length", "3").end("hello"))
    app.get("/long", lambda res, req: res.write_header("Content-Length", "9").end("hello"))
    app.get("/next", lambda res, req: res.end("next"))
    for path in (b"/short", b"/long"):
        conn = app.memory_host().open_connection()
        try:
            conn.feed(
                b"GET "
                + path
                + b" HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"
            )
            head, _, rest = conn.read().partition(b"\r\n\r\n")
            lengths = [
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            assert len(lengths) == 1, head
            after = rest[lengths[0] :]
            assert after.startswith(b"HTTP/1.1 ") or (after == b"" and not conn.open), (
                f"{path!r}: {rest!r}"
            )
        finally:
            conn.close()
    app.close()


# ---- the multipart parser, fuzzed through the memory transport (fuzz/fuzz_multipart.py) ----


def _multipart_inputs() -> list[Path]:
    found = []
    for folder in (FUZZ / "corpus" / "multipart", FUZZ / "regressions" / "multipart"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_file())
    return found


@pytest.mark.parametrize("path", _multipart_inputs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_multipart_fuzz_input_is_answered_200_400_or_413(path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_multipart", FUZZ / "fuzz_multipart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.check(path.read_bytes()) in (200, 400, 413)
