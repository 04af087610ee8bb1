"""build_native.py: the cdef comes from socketify.h, flags come from the environment."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from socketify._native import ffi, lib

ROOT = Path(__file__).resolve().parent.parent


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_sc_build_native", ROOT / "build_native.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cdef_is_generated_from_the_header() -> None:
    build = _builder()
    cdef = build.cdef_from_header(build.HEADER.read_text())
    assert "#include" not in cdef and "#ifndef" not in cdef
    assert cdef.count('extern "Python+C"') == len(build.CALLBACKS) == 12
    assert "#define SC_W_END ..." in cdef


def test_every_function_of_the_header_is_in_the_module() -> None:
    header = (ROOT / "csrc" / "socketify.h").read_text()
    names = set(re.findall(r"^\s*[a-z][\w ]*?\**\b(sc_\w+)\(", header, flags=re.M))
    assert len(names) >= 39 and {"sc_loop_new", "sc_mem_feed", "sc_res_try_end"} <= names
    for name in sorted(names):
        assert hasattr(lib, name), name
    assert lib.SC_ESTALE == -1 and lib.SC_W_END == 1 and lib.SC_LISTEN_EXCLUSIVE_PORT == 1
    assert ffi.sizeof("sc_handle") == 8


def test_a_missing_callback_prototype_is_a_build_error() -> None:
    build = _builder()
    text = build.HEADER.read_text().replace("void sc_py_on_data(", "void sc_py_on_dato(")
    with pytest.raises(RuntimeError, match="sc_py_on_data"):
        build.cdef_from_header(text)


def test_flags_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    build = _builder()
    monkeypatch.delenv("SOCKETIFY_SANITIZE", raising=False)
    monkeypatch.setenv("SOCKETIFY_CFLAGS", "-Werror -DSC_X=1")
    compile_args, link_args = build._flags()
    assert compile_args[:3] == ["-O2", "-Wall", "-Wextra"]
    assert compile_args[-2:] == ["-Werror", "-DSC_X=1"] and link_args == []
    monkeypatch.setenv("SOCKETIFY_SANITIZE", "1")
    compile_args, link_args = build._flags()
    assert "-fsanitize=address,undefined" in compile_args
    assert "-fsanitize=address,undefined" in link_args


def test_sources_are_relative_for_setuptools() -> None:
    build = _builder()
    sources = build._sources(absolute=False)
    assert "csrc/loop.c" in sources and "csrc/http_parser.c" in sources
    assert all(not s.startswith("/") for s in sources)
    assert all(Path(s).is_absolute() for s in build._sources(absolute=True))


@pytest.mark.skipif(
    os.environ.get("SOCKETIFY_SANITIZE") != "1", reason="only in the sanitizer session"
)
def test_the_sanitizer_session_runs_a_sanitized_module() -> None:
    """``nox -s asan`` must test a module built with -fsanitize, not a stale plain build."""
    from socketify import _native

    image = Path(_native.__file__).read_bytes()
    assert b"__asan_report" in image and b"__ubsan_handle" in image
