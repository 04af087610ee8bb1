"""One serving process: build the App from the CLI's target and settings, listen, run.

``serve(config)`` is the whole service when there is one process (no ``--workers``, no
``--reload``).  ``serve_worker(config, listener, ready_fd)`` runs in a process the
supervisor forked: it imports the target itself (a fresh import, so ``--reload`` sees new
code), attaches to the supervisor's listener, writes one byte on ``ready_fd`` once it is
accepting, then runs until SIGTERM (graceful: stop accepting, finish in-flight responses
within ``shutdown_timeout``, run on_shutdown handlers).

Exit codes (shared with the supervisor): 0 stopped normally, 1 the app failed (its
traceback is logged), 2 the target is wrong (one line on stderr), 3 an ASGI lifespan
startup failed.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from ..app import App
from ..errors import LifespanFailure, TLSConfigError
from ..options import LISTEN_EXCLUSIVE_PORT, AppOptions
from . import accesslog
from .target import TargetError, load_behavior, load_target

if TYPE_CHECKING:
    from .listener import Listener

__all__ = ["EXIT_APP_ERROR", "EXIT_OK", "EXIT_USAGE", "ServeConfig", "serve", "serve_worker"]

EXIT_OK, EXIT_APP_ERROR, EXIT_USAGE, EXIT_LIFESPAN = 0, 1, 2, 3

logger = logging.getLogger("socketify")


class ServeConfig(NamedTuple):
    target: str
    factory: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    uds: Optional[str] = None
    workers: int = 1
    reload: bool = False
    reload_dirs: tuple[str, ...] = ()
    reload_includes: tuple[str, ...] = ("*.py",)  # reload.DEFAULT_INCLUDES
    reload_excludes: tuple[str, ...] = (".*", ".py[cod]", ".sw.*", "~*")
    log_level: str = "info"
    access_log: bool = False
    access_log_format: str = "common"  # or "json" (accesslog.py)
    log_config: Optional[str] = None  # --log-config: a dictConfig JSON/YAML or an INI file
    settings: dict[str, Any] = {}
    ws_defaults: dict[str, Any] = {}
    interface: str = "auto"
    root_path: str = ""
    threads: Optional[int] = None
    lifespan: str = "auto"

    pubsub: Optional[dict[str, Any]] = None  # cli._pubsub: {"kind": relay|redis|none, ...}
    relay_fd: int = -1  # a worker's end of the supervisor's relay (pubsub/relay.py)
    ws_behavior: Optional[str] = None  # --ws module:attr: app.ws("/*", that dict)
    metrics_path: Optional[str] = None  # --metrics-path: app.metrics_route(path)
    tls: dict[str, Any] = {}  # --ssl-*: AppOptions fields given on the command line

    def adapter_options(self) -> dict[str, Any]:
        """What ASGI()/WSGI() get for a target that is not an App."""
        options: dict[str, Any] = {"root_path": self.root_path, "lifespan": self.lifespan}
        if self.threads is not None:
            options["threads"] = self.threads
        return options


def usage_error(message: str) -> int:
    print(f"socketify: error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def prepare_app(config: ServeConfig) -> App:
    """The target's App with the command line's settings and access log applied."""
    app = load_target(
        config.target,
        config.factory,
        config.settings,
        interface=config.interface,
        adapter_options=config.adapter_options(),
    )
    if config.workers > 1 and hasattr(app, "_multiprocess"):
        app._multiprocess = True  # WSGI's wsgi.multiprocess (read by each new connection)
    if app.serving:
        raise TargetError(
            f"{config.target!r} listens already (listen() at import): "
            "guard listen() and run() with if __name__ == '__main__'"
        )
    if config.settings:
        app.configure(**config.settings)
    if config.ws_defaults:
        app.set_ws_defaults(**config.ws_defaults)
    if config.ws_behavior:
        if not hasattr(app, "ws"):
            raise TargetError("--ws module:attr adds WebSocket routes to a socketify App only")
        app.ws("/*", load_behavior(config.ws_behavior))
    if config.access_log:
        accesslog.enable(app, config.access_log_format)
    _apply_pubsub(app, config)
    if config.metrics_path:
        app.metrics_route(config.metrics_path)
    if config.tls:
        app.configure_tls(tls_options(getattr(app, "app_options", None), config.tls))
    return app


def tls_options(current: Optional[AppOptions], given: dict[str, Any]) -> AppOptions:
    """The app's own AppOptions with the --ssl-* flags given on the command line over them."""
    fields: dict[str, Any] = {
        name: getattr(current, name) if current else None for name in AppOptions.__slots__
    }
    fields["ssl_prefer_low_memory_usage"] = fields["ssl_prefer_low_memory_usage"] or 0
    fields.update(given)
    return AppOptions(**fields)


def _apply_pubsub(app: App, config: ServeConfig) -> None:
    """--pubsub: a Redis URL replaces the app's backend, ``none`` removes it; the relay
    (the default under --workers) is used unless the app brings its own backend."""
    spec = dict(config.pubsub or {})
    kind = spec.pop("kind", None)
    if kind == "redis":
        from ..pubsub import RedisBackend

        app.set_pubsub(RedisBackend(spec.pop("url"), **spec))
    elif kind == "none":
        app.set_pubsub(None)
    if config.relay_fd >= 0:
        if app.pubsub is None and kind != "none":
            from ..pubsub.relay import RelayBackend

            app.set_pubsub(RelayBackend.from_fd(config.relay_fd, **spec))
        else:
            os.close(config.relay_fd)


def _announce(url: str) -> None:
    print(f"socketify: listening on {url}", flush=True)


def serve(config: ServeConfig) -> int:
    """Serve in this process until SIGINT/SIGTERM."""
    try:
        app = prepare_app(config)
    except TargetError as exc:
        return usage_error(str(exc))
    try:
        if config.uds is not None:
            app.listen({"domain": config.uds})
            url = f"unix:{config.uds}"
        else:
            listen = {
                "port": config.port,
                "host": config.host or None,
                "options": LISTEN_EXCLUSIVE_PORT,  # a busy port is an error, not a share
            }
            bound: list[int] = []
            app.listen(listen, lambda options: bound.append(options.port))
            host = config.host or "::"
            scheme = "https" if config.tls else "http"
            url = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{bound[0]}"
    except TLSConfigError as exc:
        app.close()
        return usage_error(str(exc))
    except OSError as exc:
        print(f"socketify: error: {exc.strerror or exc}", file=sys.stderr, flush=True)
        app.close()
        return EXIT_APP_ERROR
    _announce(url)
    return _run(app)


def _run(app: App) -> int:
    try:
        app.run()
    except LifespanFailure as exc:
        logger.error("%s: exiting", exc)
        return EXIT_LIFESPAN
    return EXIT_OK


def serve_worker(config: ServeConfig, listener: Listener, ready_fd: int) -> int:
    """Body of a forked worker process; returns its exit code."""
    try:
        app = prepare_app(config)
    except TargetError as exc:
        return usage_error(str(exc))
    except Exception:
        logger.error("worker %d could not load %s", os.getpid(), config.target, exc_info=True)
        return EXIT_APP_ERROR
    try:
        listener.attach(app)
    except TLSConfigError as exc:
        logger.error("worker %d: %s", os.getpid(), exc)
        return EXIT_USAGE
    except OSError as exc:
        logger.error("worker %d: %s", os.getpid(), exc)
        return EXIT_APP_ERROR
    try:
        os.write(ready_fd, b"R")
        os.close(ready_fd)
    except OSError:
        pass  # the supervisor is gone: run() still stops on SIGTERM
    logger.debug("worker %d serving", os.getpid())
    return _run(app)


def worker_exit(config: ServeConfig, listener: Listener, ready_fd: int) -> None:
    """Run ``serve_worker`` in a freshly forked child and never return."""
    code = EXIT_APP_ERROR
    try:
        code = serve_worker(config, listener, ready_fd)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_APP_ERROR
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)
