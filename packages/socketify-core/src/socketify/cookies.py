"""Cookies: rendering one ``Set-Cookie`` value (RFC 6265) and parsing a ``Cookie`` header.

Values are percent-encoded when they hold bytes outside cookie-octet (space, ``"``, ``,``,
``;``, ``\\``, non-ASCII, ``%`` itself), and ``get_cookie`` percent-decodes, so any str
survives the round trip.  Option names are case-insensitive; ``max_age`` is accepted for
``max-age``.  A naive ``expires`` datetime is taken as UTC (``datetime.utcnow()`` style).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote, unquote

from .errors import InvalidHeader

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_ATTR_BAD = re.compile(r"[\x00-\x1f\x7f;]")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def http_date(when: datetime) -> str:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), independent of the locale."""
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} GMT"
    )


def _text(name: str, value: Any) -> str:
    text = str(value)
    if _ATTR_BAD.search(text):
        raise InvalidHeader(f"cookie option {name!r} contains ';' or a control character")
    return text


def _expires(value: Any) -> str:
    if isinstance(value, datetime):
        return http_date(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return http_date(datetime.fromtimestamp(value, timezone.utc))
    if isinstance(value, str):
        return _text("expires", value)
    raise TypeError(f"cookie expires must be a datetime, timestamp or str, not {value!r}")


def _max_age(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"cookie max-age must be a number of seconds, not {value!r}")
    return str(int(value))


def _samesite(value: Any) -> str:
    canonical = _SAMESITE.get(str(value).lower())
    if canonical is None:
        raise InvalidHeader(f"cookie samesite must be Strict, Lax or None, not {value!r}")
    return canonical


# option key -> (attribute name, renderer or None for a flag attribute)
_OPTIONS: dict[str, tuple[str, Callable[[Any], str] | None]] = {
    "expires": ("Expires", _expires),
    "max-age": ("Max-Age", _max_age),
    "path": ("Path", lambda v: _text("path", v)),
    "domain": ("Domain", lambda v: _text("domain", v)),
    "secure": ("Secure", None),
    "httponly": ("HttpOnly", None),
    "samesite": ("SameSite", _samesite),
    "comment": ("Comment", lambda v: _text("comment", v)),
    "version": ("Version", lambda v: _text("version", v)),
}


def render_set_cookie(name: str, value: Any, options: dict[str, Any] | None = None) -> str:
    """The value of one ``Set-Cookie`` header."""
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise InvalidHeader(f"cookie name {name!r} is not a valid token")
    if value is None:
        value = ""
    elif isinstance(value, bytes):
        value = value.decode("latin-1")
    parts = [f"{name}={quote(str(value), safe=_COOKIE_SAFE)}"]
    for key, option in (options or {}).items():
        normalized = str(key).lower().replace("_", "-")
        spec = _OPTIONS.get(normalized)
        if spec is None:
            known = ", ".join(_OPTIONS)
            raise ValueError(f"unknown cookie option {key!r} (known: {known})")
        attribute, render = spec
        if render is None:
            if option:
                parts.append(attribute)
        elif option is not None:
            parts.append(f"{attribute}={render(option)}")
    return "; ".join(parts)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """``"a=1; b=x%20y"`` -> ``{"a": "1", "b": "x y"}``; the first of a repeated name wins."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for item in header.split(";"):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = unquote(value) if "%" in value else value
    return cookies
