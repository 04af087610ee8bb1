"""The supervisor: one process that binds the address and keeps N workers serving it.

Theory of operation
-------------------
The supervisor never imports the app.  It binds the listener (listener.py), then forks
workers; each imports the target itself (worker.py), attaches to the listener and writes
one byte on its *ready pipe* once it accepts.  Everything the supervisor waits for is a
file descriptor in one ``select``: the ready pipes, and a self-pipe that
``signal.set_wakeup_fd`` fills with the number of each signal received (SIGCHLD, SIGTERM,
SIGINT, SIGHUP).  Between events it sleeps; with ``--reload`` it wakes every half second to
scan the source tree (reload.py).

Workers move through::

    forked --ready byte--> ready --exit--> reaped --> replaced (unless stopping)
       |                     |
       +--exit before ready--+--> boot failure (see below)
    any --SIGTERM (stop, or replaced by a new generation)--> retiring --exit--> reaped
                                                                |
                                                 still alive at its deadline --> SIGKILL

* Generations: the workers started together from the same code.  A generation boots
  with one worker alone; once it is ready, the others start.  If the boot worker exits
  before it is ready, the first generation means the service cannot start: the
  supervisor exits with the worker's code (2 for a wrong target, whose one-line message
  the worker printed; 1 otherwise).  A later generation that cannot boot is abandoned and
  the previous workers keep serving.
* Replacement: a worker that dies is replaced at once, but at most ``restart_limit``
  replacements per ``RESTART_WINDOW`` seconds; past that the next one waits, so an app
  that crashes on start cannot fork-bomb the machine.
* Stop (SIGTERM/SIGINT): every worker gets SIGTERM (App.run stops accepting, finishes
  in-flight responses within ``shutdown_timeout``, runs on_shutdown); whoever is still
  alive ``shutdown_timeout + KILL_GRACE`` seconds later is killed.  A second SIGINT
  (an impatient Ctrl-C) kills at once; a repeated SIGTERM changes nothing.  Then the
  listener closes (the Unix socket file is removed).
* Restart (``--reload`` on a change, or SIGHUP): a new generation starts, importing the
  code afresh; the old one retires (as in a stop) only when every new worker is ready,
  so the address never goes unserved.  With ``--reload``, a new generation that cannot
  boot (a syntax error...) is not retried until the next change.
"""

from __future__ import annotations

import collections
import logging
import os
import selectors
import signal
import sys
import time
from typing import Optional

from ..pubsub.backend import DEFAULT_MAX_BUFFER
from ..pubsub.relay import RelayChannel, RelayHub
from ..tls import share_ticket_keys
from .listener import Listener
from .reload import POLL_INTERVAL, AnyWatcher, app_directory, make_watcher
from .worker import EXIT_APP_ERROR, EXIT_OK, ServeConfig, worker_exit

__all__ = ["KILL_GRACE", "RESTART_WINDOW", "Supervisor"]

logger = logging.getLogger("socketify")

RESTART_WINDOW = 10.0  # seconds
KILL_GRACE = 5.0  # seconds past shutdown_timeout before SIGKILL
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
IDLE_WAIT = 5.0  # longest select() when nothing is due
_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1
_NO_DEADLINE = float("inf")


class _Worker:
    __slots__ = ("generation", "kill_at", "pid", "ready", "ready_fd", "retiring")

    def __init__(self, pid: int, ready_fd: int, generation: int) -> None:
        self.pid = pid
        self.generation = generation
        self.ready_fd = ready_fd
        self.ready = False
        self.retiring = False
        self.kill_at = _NO_DEADLINE  # SIGKILL due at (monotonic), once retiring


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the supervisor dies (best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except Exception:
        pass


class Supervisor:
    """Bind once, fork ``config.workers`` workers, keep them alive, stop them gracefully."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.wanted = max(1, config.workers)
        self.restart_limit = max(5, 2 * self.wanted)
        timeout = config.settings.get("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT)
        self.kill_timeout = float(timeout) + KILL_GRACE
        self.listener: Optional[Listener] = None
        self.workers: dict[int, _Worker] = {}
        self._selector: Optional[selectors.BaseSelector] = None
        self._wake_r = self._wake_w = -1
        self._generation = 0
        self._booted = False  # the current generation had a worker ready
        self._ever_booted = False
        self._initial_left = self.wanted - 1  # started after boot, not restarts
        self._announced = False
        self._stopping = False
        self._exit_code = EXIT_OK
        self._restarts: collections.deque[float] = collections.deque()
        self._next_restart = 0.0
        self._throttle_logged = False
        self._wait_for_change = False
        self._watcher: Optional[AnyWatcher] = None
        self._next_scan = 0.0
        self._old_handlers: dict[int, object] = {}
        # the embedded pub/sub relay between workers (pubsub/relay.py), unless --pubsub says
        # otherwise (Redis, or none)
        self.relay: Optional[RelayHub] = None
        pubsub = config.pubsub or {"kind": "relay"}
        if self.wanted > 1 and pubsub["kind"] == "relay":
            self.relay = RelayHub(pubsub.get("max_buffer", DEFAULT_MAX_BUFFER))

    # ---- setup and teardown -------------------------------------------------------------
    def _bind(self) -> Listener:
        if self.config.uds is not None:
            return Listener.bind_unix(self.config.uds)
        return Listener.bind_tcp(self.config.host, self.config.port)

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for signum in _SIGNALS:
            # A Python-level handler is what makes the C handler write the wakeup byte.
            self._old_handlers[signum] = signal.signal(signum, lambda *_: None)

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._old_handlers.clear()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the process exit code."""
        try:
            self.listener = self._bind()
        except OSError as exc:
            print(f"socketify: error: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return EXIT_APP_ERROR
        if self.config.reload:
            roots = self.config.reload_dirs or (app_directory(self.config.target.split(":")[0]),)
            self._watcher = make_watcher(
                roots, self.config.reload_includes, self.config.reload_excludes
            )
            logger.info(
                "watching %s for changes (%s)",
                ", ".join(self._watcher.roots),
                self._watcher.kind,
            )
        self._selector = selectors.DefaultSelector()
        self._install_signals()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        if self.relay is not None:
            self.relay.bind(self._selector)
        share_ticket_keys()  # inherited by every worker forked from here on
        try:
            self._spawn()
            while self.workers or not self._stopping:
                self._step()
        finally:
            if self._watcher is not None and hasattr(self._watcher, "close"):
                self._watcher.close()
            self._kill_all()
            if self.relay is not None:
                self.relay.close()
            self._selector.close()
            self._restore_signals()
            self.listener.close()
        return self._exit_code

    # ---- the loop -----------------------------------------------------------------------------
    def _step(self) -> None:
        assert self._selector is not None
        now = time.monotonic()
        events = self._selector.select(self._timeout(now))
        for key, mask in events:
            if key.fd == self._wake_r:
                self._on_signals()
            elif isinstance(key.data, RelayChannel):
                assert self.relay is not None
                self.relay.handle(key.data, mask)
            else:
                self._on_ready_pipe(key.fd, key.data)
        self._reap()
        now = time.monotonic()
        self._enforce_deadlines(now)
        if self._stopping:
            return
        if self._watcher is not None and now >= self._next_scan:
            self._next_scan = now + POLL_INTERVAL
            changed = self._watcher.changes()
            if changed:
                shown = ", ".join(os.path.relpath(p) for p in changed[:3])
                more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
                logger.info("changes in %s%s: reloading", shown, more)
                self._restart_all()
        self._fill(now)
        self._maybe_promote()
        self._maybe_announce()

    def _timeout(self, now: float) -> float:
        due = [now + IDLE_WAIT]
        if self._watcher is not None and not self._stopping:
            due.append(self._next_scan)
        if self._next_restart > now:
            due.append(self._next_restart)
        due.extend(w.kill_at for w in self.workers.values())
        return max(0.0, min(due) - now)

    def _on_signals(self) -> None:
        try:
            received = os.read(self._wake_r, 512)
        except BlockingIOError:
            return
        for signum in received:
            if signum in _STOP_SIGNALS:
                if self._stopping and signum == signal.SIGINT:
                    logger.warning("second SIGINT: killing the workers now")
                    for worker in self.workers.values():
                        worker.kill_at = min(worker.kill_at, 0.0)
                elif not self._stopping:
                    self._begin_stop()
            elif signum == signal.SIGHUP and not self._stopping:
                logger.info("SIGHUP: restarting the workers")
                self._restart_all()

    def _on_ready_pipe(self, fd: int, pid: int, worker: Optional[_Worker] = None) -> None:
        try:
            data = os.read(fd, 16)
        except OSError:
            data = b""
        worker = worker or self.workers.get(pid)
        if data and worker is not None:
            worker.ready = True
            if worker.generation == self._generation:
                self._booted = self._ever_booted = True
        self._close_ready_pipe(fd)
        if worker is not None:
            worker.ready_fd = -1

    def _close_ready_pipe(self, fd: int) -> None:
        if fd < 0:
            return
        if self._selector is not None:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        os.close(fd)

    # ---- workers ------------------------------------------------------------------------------
    def _spawn(self) -> None:
        assert self.listener is not None and self._selector is not None
        ready_r, ready_w = os.pipe()
        relay = self.relay.pair() if self.relay is not None else None
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(ready_r)
            os.close(ready_w)
            for end in relay or ():
                end.close()
            raise
        if pid == 0:  # the worker
            os.close(ready_r)
            config = self.config
            if relay is not None:
                relay[0].close()
                config = config._replace(relay_fd=relay[1].detach())
            self._become_worker(blocked)  # type: ignore[arg-type]
            worker_exit(config, self.listener, ready_w)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(ready_w)
        if relay is not None and self.relay is not None:
            relay[1].close()
            self.relay.add(pid, relay[0])
        os.set_blocking(ready_r, False)
        self.workers[pid] = _Worker(pid, ready_r, self._generation)
        self._selector.register(ready_r, selectors.EVENT_READ, pid)
        logger.debug("started worker %d", pid)

    def _become_worker(self, mask: set[signal.Signals]) -> None:
        """In the forked child: drop everything that belongs to the supervisor."""
        parent = os.getppid()
        signal.set_wakeup_fd(-1)
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in [self._wake_r, self._wake_w] + [w.ready_fd for w in self.workers.values()]:
            if fd >= 0:
                os.close(fd)
        if self._selector is not None:
            self._selector.close()
        self.workers = {}
        if self.relay is not None:
            self.relay.forget()
        assert self.listener is not None
        self.listener.forget()
        _die_with_parent()
        if os.getppid() != parent:
            os._exit(EXIT_OK)  # the supervisor died while we were forking

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.relay is not None:
                self.relay.remove(pid)
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_fd >= 0:  # it may have become ready just before it died
                self._on_ready_pipe(worker.ready_fd, pid, worker)
            self._on_exit(worker, os.waitstatus_to_exitcode(status))

    def _on_exit(self, worker: _Worker, code: int) -> None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        if worker.retiring or self._stopping or worker.generation != self._generation:
            logger.info("worker %d %s", worker.pid, how)
            return
        if not self._booted:
            self._boot_failed(worker, code, how)
            return
        if not worker.ready and self._watcher is not None:
            logger.error("worker %d %s before it was ready: waiting for a change", worker.pid, how)
            self._wait_for_change = True
            return
        logger.warning("worker %d %s: replacing it", worker.pid, how)

    def _boot_failed(self, worker: _Worker, code: int, how: str) -> None:
        """The current generation's first worker exited before it was ready."""
        if not self._ever_booted:  # nothing ever served: the service cannot start
            self._exit_code = code if code > 0 else EXIT_APP_ERROR
            if code != 2:  # 2: the worker printed the one-line usage error
                logger.error("worker %d %s before it was ready: stopping", worker.pid, how)
            self._begin_stop(quiet=True)
            return
        previous = [w for w in self.workers.values() if not w.retiring]
        logger.error(
            "new worker %d %s before it was ready: %s%s",
            worker.pid,
            how,
            "the previous workers keep serving" if previous else "no worker is serving",
            "; waiting for a change" if self._watcher is not None else "",
        )
        for old in previous:  # they are the current generation again
            old.generation = self._generation
        self._booted = True
        self._initial_left = 0
        if self._watcher is not None:
            self._wait_for_change = True

    def _active(self) -> list[_Worker]:
        """The current generation's workers that are not retiring."""
        return [
            w for w in self.workers.values() if not w.retiring and w.generation == self._generation
        ]

    def _fill(self, now: float) -> None:
        """Start workers until ``wanted`` are alive (rate-bounded after boot)."""
        if self._wait_for_change:
            return
        active = self._active()
        if not self._booted:
            if not active and self._may_restart(now):
                self._spawn()  # a new boot worker, after its predecessor was reaped
            return
        for _ in range(self.wanted - len(active)):
            if self._initial_left > 0:
                self._initial_left -= 1
            elif not self._may_restart(now):
                return
            self._spawn()

    def _may_restart(self, now: float) -> bool:
        window = self._restarts
        while window and window[0] <= now - RESTART_WINDOW:
            window.popleft()
        if len(window) >= self.restart_limit:
            self._next_restart = window[0] + RESTART_WINDOW
            if not self._throttle_logged:
                self._throttle_logged = True
                logger.error(
                    "workers keep dying (%d restarts in %.0f s): next restart in %.1f s",
                    len(window),
                    RESTART_WINDOW,
                    self._next_restart - now,
                )
            return False
        self._throttle_logged = False
        window.append(now)
        return True

    def _maybe_announce(self) -> None:
        if self._announced or not self._booted:
            return
        active = self._active()
        if len(active) == self.wanted and all(w.ready for w in active):
            self._announced = True
            assert self.listener is not None
            pids = ", ".join(str(w.pid) for w in active)
            logger.info("%d worker(s) ready: %s", len(active), pids)
            scheme = "https" if self.config.tls else "http"
            print(f"socketify: listening on {self.listener.url_for(scheme)}", flush=True)

    def _retire(self, worker: _Worker, deadline: float) -> None:
        if worker.retiring:
            return
        worker.retiring = True
        worker.kill_at = deadline
        try:
            os.kill(worker.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def _restart_all(self) -> None:
        """Start a new generation; the current one retires once it is ready."""
        self._generation += 1
        self._booted = False
        self._initial_left = self.wanted - 1
        self._wait_for_change = False
        self._restarts.clear()  # fresh code gets a fresh restart budget
        self._next_restart = 0.0
        self._spawn()

    def _maybe_promote(self) -> None:
        """Retire the older generations once the current one is fully ready."""
        active = self._active()
        if len(active) < self.wanted or not all(w.ready for w in active):
            return
        deadline = time.monotonic() + self.kill_timeout
        for worker in list(self.workers.values()):
            if worker.generation != self._generation:
                self._retire(worker, deadline)

    def _begin_stop(self, quiet: bool = False) -> None:
        self._stopping = True
        if not quiet:
            logger.info("stopping %d worker(s)", len(self.workers))
        deadline = time.monotonic() + self.kill_timeout
        for worker in list(self.workers.values()):
            self._retire(worker, deadline)

    def _enforce_deadlines(self, now: float) -> None:
        for worker in self.workers.values():
            if now >= worker.kill_at:
                logger.warning("worker %d did not stop in time: killing it", worker.pid)
                worker.kill_at = _NO_DEADLINE  # killed: reaped when SIGCHLD comes
                try:
                    os.kill(worker.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _kill_all(self) -> None:
        """Last resort on the way out (an exception in the loop): no orphans."""
        for pid in list(self.workers):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.workers.clear()
