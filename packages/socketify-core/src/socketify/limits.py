"""Settings: one table for the App's settings and one for the WebSocket route options.

``App(**settings)`` validates here before anything native exists, so a bad value raises
``InvalidSetting`` (a ValueError) or TypeError naming the setting.  Settings with a C field
are copied onto ``sc_settings`` (after ``sc_settings_default``); the others are Python-side.
Durations are seconds (int or float) for the user and milliseconds for the core.

``WS_SETTINGS`` holds the options of ``app.ws()`` (checked in websocket/routes.py).  The
command line's flags are generated from both tables (server/cli.py): ``--NAME`` for an App
setting, ``--ws-FLAG`` for a WebSocket default.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from .errors import InvalidSetting

U32 = 2**32 - 1
U64 = 2**64 - 1


class Setting(NamedTuple):
    kind: str  # "bytes"/"count" (int), "seconds"/"minutes" (int or float), "bool", "text",
    # "compression"
    low: float
    high: float
    default: Any
    c_field: Optional[str]  # None: Python-side only (or set through another call)
    doc: str
    flag: Optional[str] = None  # the CLI flag when it is not the name with dashes


SETTINGS: dict[str, Setting] = {
    "max_header_size": Setting(
        "bytes", 256, U32, 16384, "max_header_size", "request line + headers (431 above)"
    ),
    "max_headers": Setting("count", 1, 65535, 100, "max_headers", "header fields (431 above)"),
    "max_url_size": Setting("bytes", 16, U32, 8192, "max_url_size", "request target (414)"),
    "max_body_size": Setting(
        "bytes", 0, U64, 16 * 1024 * 1024, "max_body_size", "request body (413 above)"
    ),
    "idle_timeout": Setting(
        "seconds", 0, U32 // 1000, 10, "idle_timeout_ms", "no byte read/written (0 = never)"
    ),
    "header_timeout": Setting(
        "seconds", 0, U32 // 1000, 10, "header_timeout_ms", "a request head must arrive in"
    ),
    "max_backpressure": Setting(
        "bytes", 1, U32, 16 * 1024 * 1024, "max_backpressure", "bytes buffered per connection"
    ),
    "body_window": Setting(
        "bytes",
        0,
        U64,
        64 * 1024,
        None,
        "body bytes read before a handler asks for them",
    ),
    "max_pipelined_output": Setting(
        "bytes",
        0,
        U32,
        64 * 1024,
        "max_pipelined_output",
        "answered bytes unread before pipelined requests wait",
    ),
    "lingering_timeout": Setting(
        "seconds",
        0,
        U32 // 1000,
        5,
        "lingering_timeout_ms",
        "after an error answer, read and drop input this long (0 = close at once)",
    ),
    "max_lingering_bytes": Setting(
        "bytes", 0, U32, 64 * 1024 * 1024, "max_lingering_bytes", "... or this many bytes"
    ),
    "max_buffered_bytes": Setting(
        "bytes",
        0,
        U64,
        0,
        "max_buffered_bytes",
        "all connections together (0 = no cap); past it the largest holders close",
    ),
    "malloc_trim_threshold": Setting(
        "bytes",
        0,
        2**31 - 1,
        0,
        None,
        "glibc gives freed heap back past this (0 = its own policy); process-wide",
    ),
    "proxy_protocol": Setting("bool", 0, 1, False, "proxy_protocol", "accept PROXY v1/v2"),
    "proxy_headers": Setting(
        "bool", 0, 1, False, None, "client address and scheme from trusted X-Forwarded-*/Forwarded"
    ),
    "forwarded_allow_ips": Setting(
        "text",
        0,
        0,
        None,
        None,
        "proxies trusted with proxy_headers: IPs, networks, * or unix "
        "(default $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    ),
    "lifespan": Setting("bool", 0, 1, True, None, "run on_start/on_shutdown handlers"),
    "shutdown_timeout": Setting(
        "seconds", 0, 86400, 10, None, "close() waits this long for in-flight responses"
    ),
    "use_uvloop": Setting("bool", 0, 1, True, None, "run() uses uvloop when it is installed"),
    "tls_handshake_timeout": Setting(
        "seconds", 0, U32 // 1000, 10, None, "a TLS handshake must finish in (0 = no limit)"
    ),
}


KIB = 1024
MIB = 1024 * 1024
# app.ws() options: defaults are uWebSockets' (16 KiB messages, 64 KiB buffered), small enough
# that a crowd of slow or hostile clients cannot make the process large; a route raises them; the CLI's --ws-* flags set them for every
# route that does not set them itself.
WS_SETTINGS: dict[str, Setting] = {
    "compression": Setting(
        "compression", 0, 0, 0, None, "permessage-deflate, shared contexts", "per-message-deflate"
    ),
    "max_payload_length": Setting("bytes", 1, 2**40, 16 * KIB, None, "largest message", "max-size"),
    "idle_timeout": Setting("seconds", 0, 960, 120, None, "close after this long without traffic"),
    "max_backpressure": Setting("bytes", 0, 2**40, 64 * KIB, None, "buffered bytes per connection"),
    "max_lifetime": Setting("minutes", 0, 240, 0, None, "close connections older than this"),
    "close_on_backpressure_limit": Setting(
        "bool", 0, 1, False, None, "close instead of dropping past the limit"
    ),
    "reset_idle_timeout_on_send": Setting(
        "bool", 0, 1, False, None, "sending resets idle", "reset-idle-on-send"
    ),
    "send_pings_automatically": Setting(
        "bool", 0, 1, True, None, "ping idle connections", "auto-ping"
    ),
}


def cli_flag(name: str, spec: Setting) -> str:
    """The command-line flag (without ``--``) of an App setting or a WebSocket option."""
    return spec.flag or name.replace("_", "-")


def _check(name: str, spec: Setting, value: Any) -> Any:
    if spec.kind == "text":
        if value is not None and not isinstance(value, str):
            raise TypeError(f"setting {name!r} must be a str, not {type(value).__name__}")
        if name == "forwarded_allow_ips":
            from .proxy import ProxyHeaders

            try:
                ProxyHeaders(value)
            except ValueError as exc:
                raise InvalidSetting(f"setting {name!r}: {exc}") from None
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"setting {name!r} must be True or False, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"setting {name!r} must be a number, not {type(value).__name__}")
    if spec.kind != "seconds" and not isinstance(value, int):
        raise TypeError(f"setting {name!r} must be an int, not {type(value).__name__}")
    if not spec.low <= value <= spec.high or value != value:
        raise InvalidSetting(
            f"setting {name!r} must be between {spec.low} and {spec.high}, not {value!r}"
        )
    return value


def validate(settings: dict[str, Any]) -> dict[str, Any]:
    """Every setting with its validated value (defaults filled in)."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        known = ", ".join(SETTINGS)
        raise TypeError(f"unknown App setting {unknown[0]!r} (known settings: {known})")
    resolved = {name: spec.default for name, spec in SETTINGS.items()}
    for name, value in settings.items():
        resolved[name] = _check(name, SETTINGS[name], value)
    return resolved


def apply(resolved: dict[str, Any], c_settings: Any) -> None:
    """Copy the native settings onto an ``sc_settings *`` already filled with defaults."""
    for name, spec in SETTINGS.items():
        if spec.c_field is None:
            continue
        value = resolved[name]
        if spec.kind == "seconds":
            value = round(value * 1000)
        setattr(c_settings, spec.c_field, int(value))
