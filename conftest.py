"""Repository-wide pytest hooks.

With ``SOCKETIFY_INSTALLED_ONLY=1`` (``nox -s wheels``) the run tests what users install:
it fails at the start when a socketify package would be imported from the source tree
(``packages/*/src``) instead of the installed wheel, and again at the end when any module
was.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

PACKAGES = Path(__file__).resolve().parent / "packages"
OURS = ("socketify", "socketify_router", "socketify_json", "socketify_testing")


def _from_source() -> list[str]:
    found = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in OURS:
            continue
        where = getattr(module, "__file__", None)
        if where and Path(where).resolve().is_relative_to(PACKAGES):
            found.append(f"{name} from {where}")
    return found


def pytest_configure(config: Any) -> None:
    if os.environ.get("SOCKETIFY_INSTALLED_ONLY") != "1":
        return
    for name in OURS:
        importlib.import_module(name)
    found = _from_source()
    if found:
        raise pytest.UsageError(
            "imported from the source tree, not the wheels: " + "; ".join(found)
        )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if os.environ.get("SOCKETIFY_INSTALLED_ONLY") != "1":
        return
    found = _from_source()
    if found:
        print("\nimported from the source tree, not the wheels: " + "; ".join(found))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
