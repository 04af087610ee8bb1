"""reload: the --reload watchers (file events with watchfiles, mtime scans without), the
include/exclude patterns and the app directory they watch."""

from __future__ import annotations

import os
import sys
import time

import pytest

from socketify.server.reload import EventWatcher, PathFilter, Watcher, app_directory, make_watcher


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
    assert "watches only the first 3 files" in caplog.text


def test_app_directory(tmp_path, monkeypatch):
    (tmp_path / "solo.py").write_text("")
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert app_directory("solo") == str(tmp_path)
    assert app_directory("pack.sub") == str(tmp_path)  # a package: its parent
    assert app_directory("no_such_module_xyz") == os.getcwd()
    assert "pack" not in sys.modules  # found, never imported


# ---- patterns --------------------------------------------------------------------------------
def test_the_default_patterns_watch_python_files_only(tmp_path):
    wanted = PathFilter(roots=[str(tmp_path)])
    assert wanted(str(tmp_path / "app.py"))
    assert wanted(str(tmp_path / "pkg" / "mod.py"))
    for name in ("notes.txt", ".hidden.py", "mod.pyc", ".app.py.swp", "~app.py"):
        assert not wanted(str(tmp_path / name)), name


def test_includes_and_excludes_match_names_and_relative_paths(tmp_path):
    wanted = PathFilter(
        ("*.py", "*.html", "conf/*.toml"), (".*", "generated_*.py"), [str(tmp_path)]
    )
    assert wanted(str(tmp_path / "templates" / "index.html"))
    assert wanted(str(tmp_path / "conf" / "app.toml"))
    assert not wanted(str(tmp_path / "other" / "app.toml"))  # the pattern names conf/
    assert not wanted(str(tmp_path / "generated_models.py"))


def test_an_explicit_include_wins_over_the_same_default_exclude(tmp_path):
    wanted = PathFilter(("*.py", ".*"), (".*", "~*"), [str(tmp_path)])
    assert wanted(str(tmp_path / ".env"))


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_bad_pattern_is_refused(bad):
    with pytest.raises(ValueError, match="reload pattern"):
        PathFilter((bad,), ())


def test_polling_follows_the_patterns(tmp_path):
    (tmp_path / "page.html").write_text("<p>1</p>")
    (tmp_path / "app.py").write_text("")
    watcher = make_watcher([str(tmp_path)], ("*.html",), (".*",), events=False)
    assert isinstance(watcher, Watcher) and watcher.kind == "polling"
    (tmp_path / "app.py").write_text("x = 1")  # not included any more
    page = tmp_path / "page.html"
    before = page.stat().st_mtime_ns
    page.write_text("<p>2</p>")  # the same size: only its time tells
    # a later time, whatever the file system's clock granularity (a write in the same
    # coarse tick as the scan would keep the time the scan saw)
    os.utime(page, ns=(before + 10**9, before + 10**9))
    assert watcher.changes() == [str(tmp_path / "page.html")]


# ---- file events (watchfiles) ------------------------------------------------------------------
def watching(watcher, directory) -> str:
    """Writes a probe file until the watcher reports it: its thread sets up the watch after
    it has started, so only then is every later change seen.  Returns the probe's path,
    which ``changes_until`` leaves out (a last event of it may come late)."""
    probe = str(directory / "probe.py")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(probe, "w") as file:
            file.write(repr(time.monotonic()))
        time.sleep(0.05)
        if probe in (watcher.changes() or ()):
            return probe
    raise AssertionError("the watcher never reported the probe file")


def changes_until(watcher, expected, probe, timeout=10.0):
    """What the watcher reports until each of ``expected`` was (bounded), and for a short
    while after (a change it should not report comes in the same burst), less the probe."""
    deadline = time.monotonic() + timeout
    found = set()
    while not set(expected) <= found and time.monotonic() < deadline:
        found.update(watcher.changes() or ())
        time.sleep(0.05)
    time.sleep(0.3)
    found.update(watcher.changes() or ())
    found.discard(probe)
    return sorted(found)


def test_file_events_report_created_modified_and_deleted_files(tmp_path):
    pytest.importorskip("watchfiles", reason="the [reload] extra")
    (tmp_path / "app.py").write_text("a = 1\n")
    (tmp_path / "old.py").write_text("b = 1\n")
    watcher = make_watcher([str(tmp_path)])
    try:
        assert isinstance(watcher, EventWatcher) and watcher.kind == "watchfiles"
        probe = watching(watcher, tmp_path)
        assert set(watcher.changes() or ()) <= {probe}  # the files already there are not
        (tmp_path / "app.py").write_text("a = 2\n")
        (tmp_path / "new.py").write_text("c = 1\n")
        os.unlink(tmp_path / "old.py")
        (tmp_path / "notes.txt").write_text("not watched")
        (tmp_path / "__pycache__").mkdir()
        (tmp_path / "__pycache__" / "x.py").write_text("skipped dir")
        expected = sorted(str(tmp_path / n) for n in ("app.py", "new.py", "old.py"))
        assert changes_until(watcher, expected, probe) == expected
    finally:
        watcher.close()


def test_file_events_follow_the_patterns(tmp_path):
    pytest.importorskip("watchfiles", reason="the [reload] extra")
    watcher = make_watcher([str(tmp_path)], ("*.py", "*.html"), (".*", "draft_*"))
    try:
        probe = watching(watcher, tmp_path)
        (tmp_path / "index.html").write_text("<p>hi</p>")
        (tmp_path / "draft_page.html").write_text("excluded")
        (tmp_path / "style.css").write_text("not included")
        expected = [str(tmp_path / "index.html")]
        assert changes_until(watcher, expected, probe) == expected
    finally:
        watcher.close()
