"""build_native.py finds OpenSSL (pkg-config, SOCKETIFY_OPENSSL_DIR, the usual paths) or
stops the build with a message saying what to install."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_sc_build_tls", ROOT / "build_native.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_openssl_is_found_and_linked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCKETIFY_OPENSSL_DIR", raising=False)
    includes, lib_dirs, libraries = _builder().openssl_flags()
    assert libraries == ["ssl", "crypto"]
    assert all(Path(d).is_dir() for d in includes + lib_dirs)


def test_a_prefix_without_openssl_stops_the_build_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    build = _builder()
    monkeypatch.setenv("SOCKETIFY_OPENSSL_DIR", str(tmp_path))
    with pytest.raises(build.OpenSSLNotFound) as info:
        build.openssl_flags()
    message = str(info.value)
    assert str(tmp_path / "include" / "openssl" / "ssl.h") in message
    assert "libssl-dev" in message and "openssl-devel" in message
    assert "SOCKETIFY_OPENSSL_DIR" in message


def test_a_prefix_with_openssl_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "include" / "openssl").mkdir(parents=True)
    (tmp_path / "include" / "openssl" / "ssl.h").write_text("/* stand-in */\n")
    (tmp_path / "lib").mkdir()
    monkeypatch.setenv("SOCKETIFY_OPENSSL_DIR", str(tmp_path))
    includes, lib_dirs, libraries = _builder().openssl_flags()
    assert includes == [str(tmp_path / "include")]
    assert lib_dirs == [str(tmp_path / "lib")]
    assert libraries == ["ssl", "crypto"]


def test_without_pkg_config_the_usual_paths_are_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    build = _builder()
    monkeypatch.delenv("SOCKETIFY_OPENSSL_DIR", raising=False)
    real_which = shutil.which
    monkeypatch.setattr(
        build.shutil, "which", lambda name: None if name == "pkg-config" else real_which(name)
    )
    if not Path("/usr/include/openssl/ssl.h").is_file():
        with pytest.raises(build.OpenSSLNotFound):
            build.openssl_flags()
        return
    includes, _, libraries = build.openssl_flags()
    assert includes == [] and libraries == ["ssl", "crypto"]  # /usr: the compiler's default
