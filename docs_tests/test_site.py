"""The docs site: built strictly, rendered by headless Chromium, screenshots kept.

Run by ``nox -s docs`` after ``mkdocs build --strict`` wrote site/. The screenshots of the
index and of the core's API page go to artifacts/docs/ (kept by CI as test artifacts).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_check import Served, rendered_dom, rendering_problems, screenshot

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
ARTIFACTS = ROOT / "artifacts" / "docs"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    if not (SITE / "index.html").exists():
        pytest.fail("site/ is not built: run `nox -s docs` (mkdocs build --strict first)")
    server = Served(SITE)
    yield server
    server.close()


def failed_requests(server: Served) -> list[tuple[str, int]]:
    return [(path, code) for path, code in server.requests if code >= 400]


def test_index_renders(served: Served) -> None:
    dom = rendered_dom(served.url("index.html"))
    assert re.search(r"<h1[^>]*>socketify user guide", dom), dom[:2000]
    # the theme's navigation lists the guide and the API reference
    for page in ("routing.html", "deploying.html", "reference/socketify_router.html"):
        assert f'href="{page}"' in dom, page
    shot = screenshot(served.url("index.html"), ARTIFACTS / "index.png")
    assert rendering_problems(shot) == []
    assert failed_requests(served) == []


def test_api_page_renders(served: Served) -> None:
    dom = rendered_dom(served.url("reference/socketify.html"))
    # mkdocstrings rendered App and its methods from the docstrings and signatures
    assert 'id="socketify.App"' in dom
    assert 'id="socketify.App.listen"' in dom
    assert "A socketify application: routes, settings, listeners and the native loop." in dom
    shot = screenshot(served.url("reference/socketify.html"), ARTIFACTS / "api-socketify.png")
    assert rendering_problems(shot) == []
    assert failed_requests(served) == []


def test_every_page_of_the_nav_was_built() -> None:
    built = {p.relative_to(SITE).with_suffix(".md").as_posix() for p in SITE.rglob("*.html")}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages <= built, sorted(pages - built)


def test_unstyled_page_is_caught(tmp_path: Path) -> None:
    # The render check itself: a page without the theme's stylesheet must not pass.
    (tmp_path / "bare.html").write_text(
        "<!doctype html><title>bare</title><h1>socketify user guide</h1><p>text</p>" * 3,
        encoding="utf-8",
    )
    server = Served(tmp_path)
    try:
        shot = screenshot(server.url("bare.html"), tmp_path / "bare.png")
    finally:
        server.close()
    problems = rendering_problems(shot)
    assert any("no header bar" in p for p in problems), problems


def site_copy(tmp_path: Path) -> Path:
    """A copy of docs/ and mkdocs.yml (the packages linked) to build with one change."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "packages").symlink_to(ROOT / "packages")
    return tmp_path / "docs"


def strict_build(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
        timeout=300,
    )


def test_strict_build_of_the_unchanged_copy_passes(tmp_path: Path) -> None:
    site_copy(tmp_path)
    done = strict_build(tmp_path)
    assert done.returncode == 0, done.stderr


def test_strict_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    page = site_copy(tmp_path) / "routing.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n[gone](missing.md)\n", encoding="utf-8")
    done = strict_build(tmp_path)
    assert done.returncode != 0
    assert "missing.md" in done.stderr


def test_strict_build_fails_on_a_broken_anchor(tmp_path: Path) -> None:
    page = site_copy(tmp_path) / "routing.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\n[gone](core.md#no-such-part)\n", encoding="utf-8"
    )
    done = strict_build(tmp_path)
    assert done.returncode != 0
    assert "no-such-part" in done.stderr


def test_strict_build_fails_on_a_page_left_out_of_the_nav(tmp_path: Path) -> None:
    (site_copy(tmp_path) / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    done = strict_build(tmp_path)
    assert done.returncode != 0
    assert "orphan.md" in done.stderr


def test_strict_build_fails_on_an_unknown_api_name(tmp_path: Path) -> None:
    page = site_copy(tmp_path) / "reference" / "socketify.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\n::: socketify.NoSuchName\n", encoding="utf-8"
    )
    done = strict_build(tmp_path)
    assert done.returncode != 0
    assert "NoSuchName" in done.stderr
