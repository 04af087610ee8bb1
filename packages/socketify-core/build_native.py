"""Build ``socketify._native``: the C core in csrc/ behind cffi (out-of-line API mode).

``socketify.h`` is the single source of truth: the cdef is generated from it at build
time (preprocessor lines dropped, ``#define`` constants turned into ``...`` so the C
compiler supplies their values, the ``sc_py_*`` prototypes (CALLBACKS) turned into
``extern "Python+C"`` so the core's .c files can call them).

Used by setuptools (``cffi_modules=["build_native.py:ffibuilder"]``); run directly
(``python build_native.py``) it builds the module in place into src/socketify/.

Environment: ``SOCKETIFY_CFLAGS`` adds compiler flags (tests use ``-Werror``);
``SOCKETIFY_SANITIZE=1`` builds with AddressSanitizer and UndefinedBehaviorSanitizer;
``SOCKETIFY_OPENSSL_DIR`` names an OpenSSL prefix (``include/``, ``lib/``) when pkg-config
does not know it.  TLS (csrc/io_tls.c) links libssl and libcrypto: without them the build
stops with a message saying what to install.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = HERE / "csrc"
HEADER = CSRC / "socketify.h"
CALLBACKS = (
    "sc_py_on_request",
    "sc_py_on_data",
    "sc_py_on_aborted",
    "sc_py_on_writable",
    "sc_py_ws_message",
    "sc_py_ws_close",
    "sc_py_ws_drain",
    "sc_py_ws_ping",
    "sc_py_ws_pong",
    "sc_py_ws_subscription",
    "sc_py_topic_interest",
    "sc_py_tls_server_name",
)
# C files that are not part of the core yet (e.g. work in progress) are listed here.
EXCLUDED_SOURCES: frozenset[str] = frozenset()

_DEFINE = re.compile(r"^\s*#\s*define\s+(SC_[A-Z0-9_]+)\s+\S")

# PERF: cffi wraps every C call in Py_BEGIN/END_ALLOW_THREADS (release and retake the
# GIL).  Every call into the core is non-blocking (poll is called with timeout 0 from
# asyncio), so keeping the GIL measured +7-40% on the request path (ARCHITECTURE.md,
# lever 4).  The generated wrappers use these two macros, so they become plain blocks.
# PyPy's cffi backend does not go through them; the guard keeps its build untouched.
PREAMBLE = """
#include "socketify.h"
/* PERF: keep the GIL across calls into the core: they never block. */
#if !defined(PYPY_VERSION)
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
#endif
"""


def cdef_from_header(text: str) -> str:
    """The cdef for cffi, derived from socketify.h."""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            m = _DEFINE.match(line)
            if m:
                out.append(f"#define {m.group(1)} ...")
            continue
        out.append(line)
    cdef = "\n".join(out)
    for name in CALLBACKS:
        cdef, n = re.subn(
            rf"^([ \t]*)([A-Za-z_][^;(\n]*\b{name}\s*\()",
            r'\1extern "Python+C" \2',
            cdef,
            flags=re.M,
        )
        if n != 1:
            raise RuntimeError(f"socketify.h: expected one prototype of {name}, found {n}")
    return cdef


def _path(p: Path, absolute: bool) -> str:
    # setuptools wants paths relative to setup.py (its cwd); cffi's own compile() runs
    # in its tmpdir and needs them absolute.
    return str(p) if absolute else p.relative_to(HERE).as_posix()


def _sources(absolute: bool) -> list[str]:
    found = sorted(p for p in CSRC.glob("*.c") if p.name not in EXCLUDED_SOURCES)
    return [_path(p, absolute) for p in found]


def _flags() -> tuple[list[str], list[str]]:
    compile_args = ["-O2", "-Wall", "-Wextra"]
    link_args: list[str] = []
    if os.environ.get("SOCKETIFY_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"]
        compile_args += san
        link_args += san
    compile_args += shlex.split(os.environ.get("SOCKETIFY_CFLAGS", ""))
    return compile_args, link_args


OPENSSL_MISSING = (
    "socketify-core needs OpenSSL 1.1.1 or newer (headers and libraries) for TLS and could not "
    "find it{detail}. Install it (Debian/Ubuntu: apt-get install libssl-dev; Fedora: dnf "
    "install openssl-devel; Alpine: apk add openssl-dev; macOS: brew install openssl) or set "
    "SOCKETIFY_OPENSSL_DIR to its prefix."
)


class OpenSSLNotFound(RuntimeError):
    """The build cannot find OpenSSL's headers or libraries."""


def _openssl_prefix_flags(prefix: Path) -> tuple[list[str], list[str]]:
    header = prefix / "include" / "openssl" / "ssl.h"
    if not header.is_file():
        raise OpenSSLNotFound(OPENSSL_MISSING.format(detail=f" ({header} does not exist)"))
    lib_dirs = [str(p) for p in (prefix / "lib", prefix / "lib64") if p.is_dir()]
    return [str(prefix / "include")], lib_dirs


def openssl_flags() -> tuple[list[str], list[str], list[str]]:
    """(include dirs, library dirs, libraries) for OpenSSL: SOCKETIFY_OPENSSL_DIR, then
    pkg-config, then the usual system paths; OpenSSLNotFound with what to install."""
    libraries = ["ssl", "crypto"]
    prefix = os.environ.get("SOCKETIFY_OPENSSL_DIR")
    if prefix:
        includes, lib_dirs = _openssl_prefix_flags(Path(prefix))
        return includes, lib_dirs, libraries
    pkg_config = shutil.which("pkg-config")
    if pkg_config:
        found = subprocess.run(
            [pkg_config, "--cflags-only-I", "--libs-only-L", "openssl"],
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0:
            words = shlex.split(found.stdout)
            includes = [w[2:] for w in words if w.startswith("-I")]
            lib_dirs = [w[2:] for w in words if w.startswith("-L")]
            return includes, lib_dirs, libraries
    for prefix_dir in ("/usr", "/usr/local", "/opt/homebrew/opt/openssl", "/usr/local/opt/openssl"):
        if (Path(prefix_dir) / "include" / "openssl" / "ssl.h").is_file():
            includes, lib_dirs = _openssl_prefix_flags(Path(prefix_dir))
            return ([] if prefix_dir == "/usr" else includes), lib_dirs, libraries
    raise OpenSSLNotFound(OPENSSL_MISSING.format(detail=" (no pkg-config entry, no openssl/ssl.h)"))


def make_ffibuilder(absolute: bool = False) -> FFI:
    ffi = FFI()
    ffi.cdef(cdef_from_header(HEADER.read_text()))
    compile_args, link_args = _flags()
    ssl_includes, ssl_lib_dirs, ssl_libraries = openssl_flags()
    ffi.set_source(
        "socketify._native",
        PREAMBLE,
        sources=_sources(absolute),
        include_dirs=[_path(CSRC, absolute), *ssl_includes],
        library_dirs=ssl_lib_dirs,
        # permessage-deflate (ws_deflate.c); TLS (io_tls.c)
        libraries=["z", *ssl_libraries],
        depends=sorted(_path(p, absolute) for p in CSRC.glob("*.h")),
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return ffi


ffibuilder = make_ffibuilder()


def build_in_place() -> Path:
    """Compile into build/cffi and copy the module next to src/socketify/."""
    tmp = HERE / "build" / "cffi"
    builder = make_ffibuilder(absolute=True)
    built = Path(builder.compile(tmpdir=str(tmp), verbose="-v" in sys.argv))
    name = built.name
    if sys.implementation.name == "cpython":
        name = "_native.abi3.so"  # the name setuptools gives it (cffi builds abi3 there)
    target = HERE / "src" / "socketify" / name
    # Replace by rename: a process that has the old module loaded keeps its inode.
    partial = target.with_name(target.name + ".tmp")
    shutil.copy2(built, partial)
    os.replace(partial, target)
    # A module of another suffix (e.g. _native.abi3.so from `pip install -e`) would
    # shadow this one or be shadowed by it: keep only the fresh build.
    for other in target.parent.glob("_native.*.so"):
        if other != target:
            other.unlink()
    return target


if __name__ == "__main__":
    print(build_in_place())
