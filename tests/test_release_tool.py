"""tools/release.py (``nox -s release -- PACKAGE VERSION``) on a copy of the packages'
pyproject.toml and CHANGELOG.md files."""

from __future__ import annotations

import datetime
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date(2026, 12, 5)


def load_release():
    spec = importlib.util.spec_from_file_location(
        "socketify_release_tool", ROOT / "tools" / "release.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


release = load_release()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for package in release.PACKAGES:
        target = tmp_path / "packages" / package
        target.mkdir(parents=True)
        for name in ("pyproject.toml", "CHANGELOG.md"):
            shutil.copy(ROOT / "packages" / package / name, target / name)
    return tmp_path


def read(root: Path, package: str, name: str) -> str:
    return (root / "packages" / package / name).read_text()


def test_a_patch_release_bumps_the_version_and_moves_the_changelog(checkout: Path) -> None:
    before = read(checkout, "socketify-router", "CHANGELOG.md")
    new = release.prepare(checkout, "socketify-router", "0.1.1", TODAY)
    assert str(new) == "0.1.1"
    assert 'version = "0.1.1"' in read(checkout, "socketify-router", "pyproject.toml")
    log = read(checkout, "socketify-router", "CHANGELOG.md")
    assert log.startswith("# Changelog\n\n## Unreleased\n\n## 0.1.1 (2026-12-05)\n")
    assert "(unreleased)" not in log
    # the released notes are all still there, under the version
    assert log.count("- ") == before.count("- ")
    assert release.current_version(checkout, "socketify-router") == release.Version("0.1.1")


def test_the_first_release_of_a_planned_version(checkout: Path) -> None:
    # the CHANGELOG says "## 0.1.0 (unreleased)" and pyproject already says 0.1.0
    assert release.planned_version(checkout, "socketify-json") == "0.1.0"
    release.prepare(checkout, "socketify-json", "0.1.0", TODAY)
    assert "## 0.1.0 (2026-12-05)" in read(checkout, "socketify-json", "CHANGELOG.md")


def test_a_version_outside_a_dependents_range_is_refused_and_nothing_written(
    checkout: Path,
) -> None:
    before = read(checkout, "socketify-router", "pyproject.toml")
    with pytest.raises(release.ReleaseError, match="socketify-core requires socketify-router"):
        release.prepare(checkout, "socketify-router", "0.2.0", TODAY)
    assert read(checkout, "socketify-router", "pyproject.toml") == before


@pytest.mark.parametrize(
    ("package", "version", "message"),
    [
        ("socketify-nope", "1.0", "unknown package"),
        ("socketify-router", "one", "not a PEP 440 version"),
        ("socketify-router", "0.0.9", "must be greater"),
    ],
)
def test_bad_requests_are_refused(checkout: Path, package: str, version: str, message: str) -> None:
    with pytest.raises(release.ReleaseError, match=message):
        release.prepare(checkout, package, version, TODAY)


def test_an_empty_unreleased_section_is_refused(checkout: Path) -> None:
    release.prepare(checkout, "socketify-testing", "0.1.1", TODAY)  # leaves "## Unreleased"
    with pytest.raises(release.ReleaseError, match="empty"):
        release.prepare(checkout, "socketify-testing", "0.1.2", TODAY)


def test_the_command_line_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["socketify-router"]) == 2
    assert "usage" in capsys.readouterr().err
    assert release.main(["socketify-router", "0.0.1"]) == 2
    assert "must be greater" in capsys.readouterr().err
