"""reload: the --reload watcher (mtime scans) and the app directory it watches."""

from __future__ import annotations

import os
import sys

from socketify.server.reload import Watcher, app_directory


def test_watcher_sees_changed_new_and_deleted_python_files(tmp_path):
    (tmp_path / "app.py").write_text("a = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("b = 1\n")
    (tmp_path / "notes.txt").write_text("not watched\n")
    watcher = Watcher([str(tmp_path)])
    assert watcher.changes() is None
    (tmp_path / "notes.txt").write_text("still not watched\n")
    assert watcher.changes() is None
    (tmp_path / "app.py").write_text("a = 22\n")
    (tmp_path / "pkg" / "new.py").write_text("c = 1\n")
    os.unlink(tmp_path / "pkg" / "mod.py")
    assert watcher.changes() == sorted(
        [
            str(tmp_path / "app.py"),
            str(tmp_path / "pkg" / "mod.py"),
            str(tmp_path / "pkg" / "new.py"),
        ]
    )
    assert watcher.changes() is None


def test_watcher_skips_caches_hidden_dirs_and_virtualenvs(tmp_path):
    for directory in ("__pycache__", ".git", "venv", "node_modules"):
        (tmp_path / directory).mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    watcher = Watcher([str(tmp_path)])
    for directory in ("__pycache__", ".git", "venv", "node_modules"):
        (tmp_path / directory / "x.py").write_text("x = 1\n")
    assert watcher.changes() is None


def test_watcher_is_bounded(tmp_path, caplog):
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text("")
    watcher = Watcher([str(tmp_path)], limit=3)
    assert len(watcher._mtimes) == 3
    assert "watches only the first 3 Python files" in caplog.text


def test_app_directory(tmp_path, monkeypatch):
    (tmp_path / "solo.py").write_text("")
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert app_directory("solo") == str(tmp_path)
    assert app_directory("pack.sub") == str(tmp_path)  # a package: its parent
    assert app_directory("no_such_module_xyz") == os.getcwd()
    assert "pack" not in sys.modules  # found, never imported
