"""``--reload``: notice when a watched file under the watched directories changes.

Which files: those whose name matches one of the include patterns (``--reload-include``,
default ``*.py``) and none of the exclude patterns (``--reload-exclude``, default ``.*``,
``.py[cod]``, ``.sw.*``, ``~*`` as uvicorn), matched with fnmatch on the file name and on the
path relative to the watched directory.  Directories that never hold the app's own code are
skipped: hidden ones, ``__pycache__``, ``node_modules``, ``site-packages`` and virtual
environments (a directory with ``pyvenv.cfg``).

How: with ``watchfiles`` installed (``pip install socketify-core[reload]``) the kernel's file
events are collected by its watcher thread (``EventWatcher``): nothing is scanned.  Without
it, ``Watcher`` scans the tree comparing modification times (standard library only, no
thread), stopping after ``MAX_FILES`` files with one warning so pointing it at ``/`` cannot
stall the supervisor.  Either way the supervisor asks ``changes()`` every half second from
its own loop and sleeps in ``select`` in between.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Optional, Union

logger = logging.getLogger("socketify")

__all__ = [
    "DEFAULT_EXCLUDES",
    "DEFAULT_INCLUDES",
    "MAX_FILES",
    "POLL_INTERVAL",
    "EventWatcher",
    "PathFilter",
    "Watcher",
    "app_directory",
    "make_watcher",
]

POLL_INTERVAL = 0.5  # seconds between scans
MAX_FILES = 20000
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")


class PathFilter:
    """Which files are watched: an include pattern matches and no exclude pattern does."""

    def __init__(
        self,
        includes: Sequence[str] = DEFAULT_INCLUDES,
        excludes: Sequence[str] = DEFAULT_EXCLUDES,
        roots: Sequence[str] = (),
    ) -> None:
        for pattern in (*includes, *excludes):
            if not isinstance(pattern, str) or not pattern:
                raise ValueError(f"a reload pattern must be a non-empty string, not {pattern!r}")
        # an include given explicitly wins over the same default exclude (uvicorn does so)
        self.includes = tuple(includes)
        self.excludes = tuple(p for p in excludes if p not in self.includes)
        self.roots = [os.path.abspath(root) for root in roots]

    def _names(self, path: str) -> list[str]:
        names = [os.path.basename(path)]
        for root in self.roots:
            if path.startswith(root + os.sep):
                names.append(os.path.relpath(path, root))
        return names

    def __call__(self, path: str) -> bool:
        names = self._names(path)
        if not any(fnmatch.fnmatch(n, p) for n in names for p in self.includes):
            return False
        return not any(fnmatch.fnmatch(n, p) for n in names for p in self.excludes)


def _skipped_dir(path: str, roots: Sequence[str]) -> bool:
    """A directory inside a watched root that never holds the app's own code."""
    for root in roots:
        if path.startswith(root + os.sep):
            parts = os.path.relpath(path, root).split(os.sep)
            return any(p.startswith(".") or p in SKIPPED_DIRS for p in parts)
    return False


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


def _watched_files(roots: Iterable[str], limit: int, wanted: PathFilter) -> Iterator[str]:
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
                elif wanted(entry.path):
                    seen += 1
                    if seen > limit:
                        return
                    yield entry.path
            except OSError:
                continue


class Watcher:
    """Modification times (and sizes) of the watched files under ``roots``, compared scan
    to scan (the fallback without watchfiles)."""

    kind = "polling"

    def __init__(
        self, roots: Iterable[str], limit: int = MAX_FILES, wanted: Optional[PathFilter] = None
    ) -> None:
        self.roots = [os.path.abspath(root) for root in roots]
        self.limit = limit
        self.wanted = wanted or PathFilter(roots=self.roots)
        self._warned = False
        self._mtimes = self._scan()

    def _scan(self) -> dict[str, tuple[int, int]]:
        mtimes: dict[str, tuple[int, int]] = {}
        for path in _watched_files(self.roots, self.limit, self.wanted):
            try:
                st = os.stat(path)
                mtimes[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
        if len(mtimes) >= self.limit and not self._warned:
            self._warned = True
            logger.warning("--reload watches only the first %d files", self.limit)
        return mtimes

    def changes(self) -> Optional[list[str]]:
        """The paths created, modified or deleted since the last call, or None."""
        before, after = self._mtimes, self._scan()
        self._mtimes = after
        changed = [path for path, mtime in after.items() if before.get(path) != mtime]
        changed += [path for path in before if path not in after]
        return sorted(changed) or None


class EventWatcher:
    """The file events of ``watchfiles`` (a thread of its own), drained by ``changes()``."""

    kind = "watchfiles"

    def __init__(self, roots: Iterable[str], wanted: Optional[PathFilter] = None) -> None:
        import watchfiles  # only with the [reload] extra

        self.roots = [os.path.abspath(root) for root in roots]
        self.wanted = wanted or PathFilter(roots=self.roots)
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._watch = watchfiles.watch
        self._thread = threading.Thread(target=self._run, name="socketify-reload", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _keep(self, change: Any, path: str) -> bool:
        return self.wanted(path) and not _skipped_dir(os.path.dirname(path), self.roots)

    def _run(self) -> None:
        self._ready.set()
        try:
            for batch in self._watch(
                *self.roots, watch_filter=self._keep, stop_event=self._stop, rust_timeout=500
            ):
                with self._lock:
                    self._changed.update(path for _, path in batch)
        except Exception as exc:  # the watcher died: say so; the server keeps running
            logger.warning("--reload: the file watcher stopped: %s", exc)

    def changes(self) -> Optional[list[str]]:
        """The paths created, modified or deleted since the last call, or None."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return sorted(changed) or None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


AnyWatcher = Union[Watcher, EventWatcher]


def make_watcher(
    roots: Sequence[str],
    includes: Sequence[str] = DEFAULT_INCLUDES,
    excludes: Sequence[str] = DEFAULT_EXCLUDES,
    events: Optional[bool] = None,
) -> AnyWatcher:
    """The best watcher available: file events with watchfiles, else mtime scans.
    ``events`` True/False forces one (True raises ImportError without watchfiles)."""
    absolute = [os.path.abspath(root) for root in roots]
    wanted = PathFilter(includes, excludes, absolute)
    if events is None:
        events = importlib.util.find_spec("watchfiles") is not None
    if events:
        return EventWatcher(absolute, wanted)
    return Watcher(absolute, wanted=wanted)
