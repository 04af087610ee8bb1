"""``python -m socketify module:app`` (or the ``socketify`` script): serve an App.

The target is resolved by target.py (an App, a factory, ``run(app)``, or an ASGI / WSGI
application with ``--interface asgi|wsgi|auto``, served by socketify.ASGI / socketify.WSGI).  One process
serves by default (worker.py); ``--workers N`` or ``--reload`` put a supervisor in front
(supervisor.py) that binds the address once and keeps N worker processes on it.

Every App setting (limits.SETTINGS) is also a flag, generated from that table so the two
cannot drift: ``max_body_size`` is ``--max-body-size BYTES``, a boolean ``proxy_protocol``
is ``--proxy-protocol/--no-proxy-protocol``.  A flag given on the command line overrides
the app's own value; one left out keeps it.

Errors on the command line (a wrong target, a bad value, an option this build does not
support) print one line, ``socketify: error: ...``, and exit with code 2.  Logging:
``socketify`` records (startup, worker life, errors with their traceback) go to stderr at
``--log-level``; the access log (``--access-log``, accesslog.py) goes to stdout.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any, Optional

from .. import limits
from ..errors import TLSConfigError, UsageError
from ..tls import TLS_FLAGS, cert_reqs_value
from .reload import DEFAULT_EXCLUDES, DEFAULT_INCLUDES
from .target import TargetError, load_target
from .worker import EXIT_USAGE, ServeConfig, serve, usage_error

__all__ = ["TargetError", "UsageError", "build_parser", "load_target", "main", "make_config"]

USAGE_ERROR = EXIT_USAGE
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
INTERFACES = ("auto", "socketify", "asgi", "wsgi")
_METAVARS = {
    "bytes": "BYTES",
    "count": "N",
    "seconds": "SECONDS",
    "minutes": "MINUTES",
    "text": "LIST",
}
_SETTING_PREFIX = "setting_"
_WS_PREFIX = "ws_"
_TLS_PREFIX = "tls_"


def _version() -> str:
    from .. import __version__

    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"socketify {__version__} ({python} on {platform.system()})"


def _add_flags(group: Any, table: dict[str, limits.Setting], prefix: str, dest: str) -> None:
    """One flag per row of a settings table (limits.py)."""
    for name, spec in table.items():
        flag = "--" + prefix + limits.cli_flag(name, spec)
        help_text = f"{spec.doc} (default {spec.default})"
        if spec.kind in ("bool", "compression"):
            # --flag, --flag VALUE (the original's form: true/false, on/off, auto) or --no-flag
            group.add_argument(
                flag,
                dest=dest + name,
                nargs="?",
                const=True,
                type=_switch,
                metavar="BOOL",
                help=help_text,
            )
            group.add_argument(
                "--no-" + flag[2:], dest=dest + name, action="store_const", const=False
            )
        else:
            kinds = {"seconds": float, "minutes": float, "text": str}
            group.add_argument(
                flag,
                dest=dest + name,
                type=kinds.get(spec.kind, int),
                metavar=_METAVARS[spec.kind],
                help=help_text,
            )


_SWITCH_VALUES: dict[str, Optional[bool]] = {
    "true": True,
    "on": True,
    "yes": True,
    "1": True,
    "false": False,
    "off": False,
}
_SWITCH_VALUES.update({"no": False, "0": False, "auto": None})


def _switch(text: str) -> Optional[bool]:
    """A switch's value: true/false, on/off, yes/no, 1/0, or auto (the default)."""
    try:
        return _SWITCH_VALUES[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"expected true/false, on/off or auto, not {text!r}"
        ) from None


# The original socketify CLI's flags that have no counterpart here: what to use instead.
_ORIGINAL_ONLY = {
    "--disable-listen-log": "use --log-level warning (the listening line is logged at info)",
    "--req-res-factory-maxitems": "not needed: there are no object pools to size; drop it",
    "--ws-factory-maxitems": "not needed: there are no object pools to size; drop it",
    "--task-factory-maxitems": "not needed: there are no object pools to size; drop it",
}


def _original_only(argv: Sequence[str]) -> Optional[str]:
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in _ORIGINAL_ONLY:
            return f"{flag} is a flag of the original socketify CLI: {_ORIGINAL_ONLY[flag]}"
    return None


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits and timeouts (App settings; default: the app's)")
    _add_flags(group, limits.SETTINGS, "", _SETTING_PREFIX)


def _add_ws_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("WebSocket defaults (routes that do not set them)")
    _add_flags(group, limits.WS_SETTINGS, "ws-", _WS_PREFIX)


def _ws_defaults(args: argparse.Namespace) -> dict[str, Any]:
    from ..enums import CompressOptions
    from ..websocket import validate_ws_options

    defaults: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith(_WS_PREFIX) and value is not None:
            defaults[key[len(_WS_PREFIX) :]] = value
    if "compression" in defaults:
        defaults["compression"] = (
            CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR
            if defaults["compression"]
            else CompressOptions.DISABLED
        )
    try:
        validate_ws_options(defaults)  # the same checks as app.ws(), before any worker
    except (ValueError, TypeError) as exc:
        message = str(exc)
        for option, spec in limits.WS_SETTINGS.items():
            message = message.replace(f"ws {option}", "--ws-" + limits.cli_flag(option, spec))
        raise UsageError(message) from None
    return defaults


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socketify",
        description="Serve a socketify App, an ASGI or a WSGI app: python -m socketify module:app",
    )
    parser.add_argument(
        "target", help="module:app (an App), module:factory() or module:run (run(app))"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    parser.add_argument("--uds", metavar="PATH", help="listen on this Unix socket instead")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default $WEB_CONCURRENCY or 1)",
    )
    parser.add_argument(
        "--pubsub",
        metavar="URL",
        help="carry publish() to the other processes: redis://..., rediss://..., unix://... "
        "(Redis), relay (between --workers; the default with 2 or more) or none",
    )
    parser.add_argument(
        "--pubsub-prefix",
        metavar="PREFIX",
        help="Redis channel prefix of every topic (default socketify:)",
    )
    parser.add_argument(
        "--pubsub-max-buffer",
        type=int,
        metavar="BYTES",
        help="messages held for a slow peer at most, per process (default 8 MiB)",
    )
    parser.add_argument("--reload", action="store_true", help="restart when a .py file changes")
    parser.add_argument(
        "--reload-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory to watch with --reload (repeatable; default: the app's directory)",
    )
    parser.add_argument(
        "--reload-include",
        action="append",
        default=[],
        metavar="GLOB",
        help="with --reload, also watch files matching this pattern (repeatable; default *.py)",
    )
    parser.add_argument(
        "--reload-exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="with --reload, ignore files matching this pattern (repeatable; "
        "default .*, .py[cod], .sw.*, ~*)",
    )
    parser.add_argument("--factory", action="store_true", help="the target is a factory")
    parser.add_argument(
        "--interface",
        choices=INTERFACES,
        default="auto",
        help="application interface (default auto: tells an App, ASGI and WSGI apart)",
    )
    parser.add_argument(
        "--root-path",
        default="",
        metavar="PATH",
        help="ASGI root_path / WSGI SCRIPT_NAME the app is mounted under",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="WSGI: threads the app runs in (default 10)"
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(default info)")
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log every response on stdout (default off)",
    )
    parser.add_argument(
        "--access-log-format",
        choices=("common", "json"),
        default="common",
        help="access log lines: the Common Log Format or JSON objects (default common)",
    )
    parser.add_argument(
        "--log-config",
        metavar="FILE",
        help="logging configuration applied last: dictConfig JSON or YAML, or an INI file",
    )
    tls = parser.add_argument_group("TLS (serve HTTPS; uvicorn's names)")
    for flag, spec in TLS_FLAGS.items():
        tls.add_argument(
            "--" + flag, dest=_TLS_PREFIX + spec.option, metavar=spec.metavar, help=spec.doc
        )
    parser.add_argument(
        "--ws",
        default="auto",
        metavar="auto|none|module:attr",
        help="module:attr: a dict of WebSocket handlers and options served on /* "
        "(the original's --ws); auto or none: only the app's own ws() routes",
    )
    parser.add_argument(
        "--metrics-path",
        metavar="PATH",
        help="serve the server's counters in the Prometheus text format at this path "
        "(GET; with prometheus_client installed, its registry too)",
    )
    parser.add_argument("--version", action="version", version=_version())
    _add_setting_flags(parser)
    _add_ws_flags(parser)
    return parser


def _workers(value: Optional[int]) -> int:
    if value is None:
        raw = os.environ.get("WEB_CONCURRENCY", "").strip()
        if not raw:
            return 1
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"WEB_CONCURRENCY must be a positive integer, not {raw!r}") from None
        if value < 1:
            raise UsageError(f"WEB_CONCURRENCY must be a positive integer, not {raw!r}")
    if value < 1:
        raise UsageError(f"--workers must be at least 1, not {value}")
    return value


def make_config(args: argparse.Namespace) -> ServeConfig:
    """Check the parsed command line; raises UsageError."""
    if args.root_path and not args.root_path.startswith("/"):
        raise UsageError(f"--root-path must start with '/', not {args.root_path!r}")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads must be from 1 to 1024, not {args.threads}")
    if args.threads is not None and args.interface in ("asgi", "socketify"):
        raise UsageError(f"--threads is for WSGI apps, not --interface {args.interface}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}")
    if args.uds == "":
        raise UsageError("--uds needs a path")
    if args.metrics_path is not None and not args.metrics_path.startswith("/"):
        raise UsageError(f"--metrics-path must start with '/', not {args.metrics_path!r}")
    settings: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith(_SETTING_PREFIX) and value is not None:
            settings[key[len(_SETTING_PREFIX) :]] = value
    try:
        limits.validate(settings)
    except (ValueError, TypeError) as exc:
        flag = str(exc)
        for name in settings:
            flag = flag.replace(f"setting {name!r}", "--" + name.replace("_", "-"))
        raise UsageError(flag) from None
    for directory in args.reload_dir:
        if not os.path.isdir(directory):
            raise UsageError(f"--reload-dir {directory!r} is not a directory")
    for flag, patterns in (
        ("--reload-include", args.reload_include),
        ("--reload-exclude", args.reload_exclude),
    ):
        for pattern in patterns:
            if not pattern.strip():
                raise UsageError(f"{flag} needs a pattern (a glob like '*.html')")
            if not args.reload:
                raise UsageError(f"{flag} only applies with --reload")
    includes = tuple(dict.fromkeys([*DEFAULT_INCLUDES, *args.reload_include]))
    excludes = tuple(dict.fromkeys([*DEFAULT_EXCLUDES, *args.reload_exclude]))
    ws_behavior = None if args.ws in ("auto", "none") else args.ws
    if ws_behavior is not None and ":" not in ws_behavior:
        raise UsageError(f"--ws expects auto, none or module:attr, not {args.ws!r}")
    workers = _workers(args.workers)
    pubsub = _pubsub(args, workers)
    tls = _tls(args)
    return ServeConfig(
        target=args.target,
        factory=args.factory,
        host=args.host,
        port=args.port,
        uds=args.uds,
        workers=workers,
        reload=args.reload,
        reload_dirs=tuple(args.reload_dir),
        reload_includes=includes,
        reload_excludes=excludes,
        log_level=args.log_level,
        access_log=args.access_log,
        access_log_format=args.access_log_format,
        log_config=_log_config(args.log_config),
        settings=settings,
        ws_defaults=_ws_defaults(args),
        interface=args.interface,
        root_path=args.root_path.rstrip("/"),
        threads=args.threads,
        # --lifespan / --no-lifespan (the App setting) is ASGI's "on" / "off"; unset: "auto"
        lifespan={True: "on", False: "off"}.get(settings.get("lifespan"), "auto"),  # type: ignore[arg-type]
        pubsub=pubsub,
        ws_behavior=ws_behavior,
        tls=tls,
        metrics_path=args.metrics_path,
    )


def _tls(args: argparse.Namespace) -> dict[str, Any]:
    """The --ssl-* flags given, as AppOptions fields.  With a key and a certificate the files
    are checked here, once, so a bad one exits 2 before any worker starts."""
    given = {
        key[len(_TLS_PREFIX) :]: value
        for key, value in vars(args).items()
        if key.startswith(_TLS_PREFIX) and value is not None
    }
    if not given:
        return given
    from ..options import AppOptions
    from ..tls import ServerTLS

    if "cert_reqs" in given:
        try:
            given["cert_reqs"] = cert_reqs_value(given["cert_reqs"])
        except TLSConfigError as exc:
            raise UsageError(f"--ssl-cert-reqs: {exc}") from None
    if "key_file_name" in given or "cert_file_name" in given:
        try:
            ServerTLS(AppOptions(**given), 0).free()
        except TLSConfigError as exc:
            raise UsageError(str(exc)) from None
    return given


def _pubsub(args: argparse.Namespace, workers: int) -> Optional[dict[str, Any]]:
    """The --pubsub* flags, checked: None (the app's own choice) or the backend's spec."""
    from ..pubsub.backend import check_max_buffer

    spec = args.pubsub
    if spec is None and args.pubsub_prefix is None and args.pubsub_max_buffer is None:
        return None
    kind = (spec or "").strip()
    options: dict[str, Any] = {}
    if args.pubsub_max_buffer is not None:
        try:
            options["max_buffer"] = check_max_buffer(args.pubsub_max_buffer)
        except ValueError as exc:
            raise UsageError(str(exc).replace("pubsub max_buffer", "--pubsub-max-buffer")) from None
    if kind in ("", "relay"):
        if kind == "relay" and workers < 2:
            raise UsageError("--pubsub relay carries messages between --workers: use 2 or more")
        if args.pubsub_prefix is not None:
            raise UsageError("--pubsub-prefix names Redis channels: give --pubsub redis://...")
        return {"kind": "relay", **options}
    if kind == "none":
        return {"kind": "none"}
    from ..pubsub import RedisBackend

    if args.pubsub_prefix is not None:
        options["prefix"] = args.pubsub_prefix
    try:
        RedisBackend(kind, **options)  # the same checks as App(pubsub=...), before any worker
    except (ValueError, TypeError, ImportError) as exc:
        raise UsageError(f"--pubsub: {exc}") from None
    return {"kind": "redis", "url": kind, **options}


def _log_config(path: Optional[str]) -> Optional[str]:
    """--log-config: the file must exist and parse now (one-line error, before workers)."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise UsageError(f"--log-config {path!r}: no such file")
    try:
        load_log_config(path)
    except Exception as exc:
        raise UsageError(f"--log-config {path!r}: {exc}") from None
    return os.path.abspath(path)


def load_log_config(path: str) -> Optional[dict[str, Any]]:
    """A dictConfig dict for a .json/.yaml/.yml file; None for an INI file (fileConfig)."""
    import configparser
    import json

    lowered = path.lower()
    if lowered.endswith(".json"):
        with open(path) as file:
            data = json.load(file)
    elif lowered.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                "a YAML logging configuration needs PyYAML (pip install pyyaml)"
            ) from None
        with open(path) as file:
            data = yaml.safe_load(file)
    else:
        parser = configparser.ConfigParser()
        parser.read(path)
        if not parser.has_section("loggers"):
            raise ValueError("an INI logging configuration needs a [loggers] section")
        return None
    if not isinstance(data, dict) or "version" not in data:
        raise ValueError("a dictConfig needs a mapping with 'version': 1")
    return data


def apply_log_config(path: str) -> None:
    import logging.config

    data = load_log_config(path)
    if data is None:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    else:
        data.setdefault("disable_existing_loggers", False)
        logging.config.dictConfig(data)


def configure_logging(config: ServeConfig) -> None:
    """stderr for the ``socketify`` logger, stdout for ``socketify.access``; then
    ``--log-config`` over them (as uvicorn, the file wins)."""
    formatter = logging.Formatter(
        "%(asctime)s [%(process)d] %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"
    )
    log = logging.getLogger("socketify")
    errors = logging.StreamHandler(sys.stderr)
    errors.setFormatter(formatter)
    log.handlers[:] = [errors]
    log.setLevel(config.log_level.upper())
    log.propagate = False
    access = logging.getLogger("socketify.access")
    lines = logging.StreamHandler(sys.stdout)
    lines.setFormatter(logging.Formatter("%(message)s"))
    access.handlers[:] = [lines]
    access.setLevel(logging.INFO if config.access_log else logging.WARNING)
    access.propagate = False
    if config.log_config:
        apply_log_config(config.log_config)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m socketify`` and the ``socketify`` script."""
    raw = list(sys.argv[1:] if argv is None else argv)
    original = _original_only(raw)
    if original is not None:
        return usage_error(original)
    raw = ["--interface=asgi" if a == "--interface=asgi3" else a for a in raw]
    raw = [
        "asgi" if a == "asgi3" and i and raw[i - 1] == "--interface" else a
        for i, a in enumerate(raw)
    ]
    args = build_parser().parse_args(raw)
    try:
        config = make_config(args)
    except UsageError as exc:
        return usage_error(str(exc))
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # the console script's sys.path[0] is its bin directory
    configure_logging(config)
    if config.workers == 1 and not config.reload:
        return serve(config)
    from .supervisor import Supervisor

    return Supervisor(config).run()
