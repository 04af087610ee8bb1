"""Prepare the release of one package: ``nox -s release -- PACKAGE VERSION``.

1. checks VERSION (PEP 440, greater than the current one);
2. sets ``version`` in ``packages/PACKAGE/pyproject.toml`` (``__version__`` follows: it is
   read from the installed metadata);
3. moves the CHANGELOG's unreleased section under ``## VERSION (date)`` and opens a new,
   empty ``## Unreleased`` above it;
4. checks that every other package depending on PACKAGE admits VERSION in its range, and
   stops naming the ones that do not (widen their range first, then release them too).

The nox session then builds and checks the package's sdist and wheel (no upload).
Everything here works on a checkout given as ``root``, so tests run it on a copy.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

PACKAGES = ("socketify-router", "socketify-json", "socketify-core", "socketify-testing")
_VERSION_LINE = re.compile(r'^version\s*=\s*"([^"]+)"\s*$', re.MULTILINE)
_UNRELEASED = re.compile(r"^## (?:Unreleased|(\S+) \(unreleased\))\s*$", re.MULTILINE | re.I)


class ReleaseError(Exception):
    """The release cannot be prepared; the message says why."""


def current_version(root: Path, package: str) -> Version:
    text = (root / "packages" / package / "pyproject.toml").read_text()
    found = _VERSION_LINE.search(text)
    if not found:
        raise ReleaseError(f'{package}: no version = "..." line in pyproject.toml')
    return Version(found.group(1))


def dependencies(root: Path, package: str) -> list[Requirement]:
    text = (root / "packages" / package / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    if not block:
        return []
    return [Requirement(item) for item in re.findall(r'"([^"]+)"', block.group(1))]


def planned_version(root: Path, package: str) -> str:
    """The version an ``## X (unreleased)`` heading names ("" for ``## Unreleased``)."""
    found = _UNRELEASED.search((root / "packages" / package / "CHANGELOG.md").read_text())
    return (found.group(1) or "") if found else ""


def check_version(root: Path, package: str, version: str) -> Version:
    if package not in PACKAGES:
        raise ReleaseError(f"unknown package {package!r}: one of {', '.join(PACKAGES)}")
    try:
        new = Version(version)
    except InvalidVersion:
        raise ReleaseError(f"{version!r} is not a PEP 440 version") from None
    old = current_version(root, package)
    first = new == old and planned_version(root, package) == str(new)  # "## 0.1.0 (unreleased)"
    if new <= old and not first:
        raise ReleaseError(f"{package} is at {old}: the new version must be greater, not {new}")
    return new


def dependents_refusing(root: Path, package: str, version: Version) -> list[str]:
    """The other packages whose dependency on ``package`` does not admit ``version``."""
    refusing = []
    for other in PACKAGES:
        if other == package:
            continue
        for req in dependencies(root, other):
            if req.name == package and not req.specifier.contains(version, prereleases=True):
                refusing.append(f"{other} requires {req}")
    return refusing


def set_version(root: Path, package: str, version: Version) -> None:
    path = root / "packages" / package / "pyproject.toml"
    text = path.read_text()
    path.write_text(_VERSION_LINE.sub(f'version = "{version}"', text, count=1))


def move_unreleased(root: Path, package: str, version: Version, today: datetime.date) -> None:
    path = root / "packages" / package / "CHANGELOG.md"
    text = path.read_text()
    found = _UNRELEASED.search(text)
    if not found:
        raise ReleaseError(f"{package}: CHANGELOG.md has no unreleased section to release")
    body_start = found.end()
    following = re.search(r"^## ", text[body_start:], re.MULTILINE)
    body = text[body_start : body_start + following.start()] if following else text[body_start:]
    if not body.strip():
        raise ReleaseError(f"{package}: the unreleased section of CHANGELOG.md is empty")
    heading = f"## Unreleased\n\n## {version} ({today.isoformat()})"
    path.write_text(text[: found.start()] + heading + text[found.end() :])


def prepare(root: Path, package: str, version: str, today: datetime.date) -> Version:
    """Steps 1-4; nothing is written unless every check passes."""
    new = check_version(root, package, version)
    refusing = dependents_refusing(root, package, new)
    if refusing:
        raise ReleaseError(
            f"{package} {new} is outside the range of: "
            + "; ".join(refusing)
            + " (widen those ranges first)"
        )
    changelog = (root / "packages" / package / "CHANGELOG.md").read_text()
    if not _UNRELEASED.search(changelog):
        raise ReleaseError(f"{package}: CHANGELOG.md has no unreleased section to release")
    move_unreleased(root, package, new, today)
    set_version(root, package, new)
    return new


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: nox -s release -- PACKAGE VERSION", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    try:
        new = prepare(root, argv[0], argv[1], datetime.date.today())
    except ReleaseError as exc:
        print(f"release: error: {exc}", file=sys.stderr)
        return 2
    print(f"{argv[0]} is now {new}: pyproject.toml and CHANGELOG.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
