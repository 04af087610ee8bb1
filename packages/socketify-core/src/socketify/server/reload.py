"""``--reload``: notice when a ``.py`` file under the watched directories changes.

The supervisor asks ``Watcher.changes()`` every half second from its own loop: one scan of
the tree comparing modification times with the previous scan (standard library only, no
thread, and between scans the supervisor sleeps in ``select``).  Directories that never
hold the app's own code are skipped: hidden ones, ``__pycache__``, ``node_modules``,
``site-packages`` and virtual environments (a directory with ``pyvenv.cfg``).  A scan stops
after ``MAX_FILES`` files, with one warning, so pointing it at ``/`` cannot stall the
supervisor.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Optional

logger = logging.getLogger("socketify")

__all__ = ["MAX_FILES", "POLL_INTERVAL", "Watcher", "app_directory"]

POLL_INTERVAL = 0.5  # seconds between scans
MAX_FILES = 20000
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
SUFFIXES = (".py",)


def app_directory(module_name: str) -> str:
    """The directory holding the target's top-level module or package (without importing
    it); the current directory when it cannot be found."""
    top = module_name.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if not origin or not os.path.isfile(origin):
        return os.getcwd()
    directory = os.path.dirname(os.path.abspath(origin))
    if spec is not None and spec.submodule_search_locations is not None:
        directory = os.path.dirname(directory)  # a package: watch its parent
    return directory


def _python_files(roots: Iterable[str], limit: int) -> Iterator[str]:
    stack = list(roots)
    seen = 0
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        if any(entry.name == "pyvenv.cfg" for entry in entries):
            continue
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in SKIPPED_DIRS:
                        stack.append(entry.path)
                elif name.endswith(SUFFIXES):
                    seen += 1
                    if seen > limit:
                        return
                    yield entry.path
            except OSError:
                continue


class Watcher:
    """Modification times (and sizes) of the ``.py`` files under ``roots``, compared scan to scan."""

    def __init__(self, roots: Iterable[str], limit: int = MAX_FILES) -> None:
        self.roots = [os.path.abspath(root) for root in roots]
        self.limit = limit
        self._warned = False
        self._mtimes = self._scan()

    def _scan(self) -> dict[str, tuple[int, int]]:
        mtimes: dict[str, tuple[int, int]] = {}
        for path in _python_files(self.roots, self.limit):
            try:
                st = os.stat(path)
                mtimes[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
        if len(mtimes) >= self.limit and not self._warned:
            self._warned = True
            logger.warning("--reload watches only the first %d Python files", self.limit)
        return mtimes

    def changes(self) -> Optional[list[str]]:
        """The paths created, modified or deleted since the last call, or None."""
        before, after = self._mtimes, self._scan()
        self._mtimes = after
        changed = [path for path, mtime in after.items() if before.get(path) != mtime]
        changed += [path for path in before if path not in after]
        return sorted(changed) or None
