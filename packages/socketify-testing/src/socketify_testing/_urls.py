"""From what a test passes (``"/items?x=1"``, ``params=``) to the request line and Host.

A relative URL is appended to the base URL's path (``base_url="http://testserver/api"``
and ``"/items"`` give ``/api/items``, as httpx does); an absolute URL is used as it is
(its host goes into the Host header; the request still goes to the app).  ``params``
are appended to the query already in the URL.  Characters not allowed in a request
target are percent-encoded (UTF-8); existing ``%XX`` escapes are kept, a stray ``%`` is
encoded.  The fragment is dropped, as browsers do.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Optional
from urllib.parse import quote, urlsplit

from ._errors import InvalidRequest
from ._multipart import encode_form

__all__ = ["Target", "resolve", "split_base"]

STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
PATH_SAFE = "/%!$&'()*+,;=:@-._~"
QUERY_SAFE = PATH_SAFE + "?"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class Target(NamedTuple):
    url: str  # full URL, for Response.url and redirects
    scheme: str
    host: str  # lower-case host name, for cookies
    host_header: str
    path: str  # percent-encoded path
    target: str  # request line target: path + "?" + query


class Base(NamedTuple):
    scheme: str
    netloc: str
    host: str
    host_header: str
    path: str  # without a trailing "/"


def _authority(scheme: str, netloc: str, url: str) -> tuple[str, str]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InvalidRequest(f"invalid port in URL {url!r}") from None
    if not host:
        raise InvalidRequest(f"URL {url!r} has no host")
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        shown = f"{shown}:{port}"
    return host.lower(), shown


def split_base(base_url: str) -> Base:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"base_url must be an http or https URL, got {base_url!r}")
    host, header = _authority(parts.scheme, parts.netloc, base_url)
    return Base(
        parts.scheme, parts.netloc, host, header, _encode(parts.path, PATH_SAFE).rstrip("/")
    )


def _encode(text: str, safe: str) -> str:
    return quote(STRAY_PERCENT.sub("%25", text), safe=safe)


def _params(params: Any) -> str:
    if params is None:
        return ""
    if isinstance(params, str):
        return params.lstrip("?")
    if isinstance(params, bytes):
        return params.decode("ascii").lstrip("?")
    return encode_form(params).decode("ascii")


_TARGETS: dict[tuple[Base, str], Target] = {}
_TARGETS_MAX = 1024


def resolve(base: Base, url: str, params: Any = None) -> Target:
    """The request target and Host header for ``url`` relative to ``base``."""
    if params is None and type(url) is str:
        # PERF: a test suite asks for the same URLs again and again; a Target is immutable
        target = _TARGETS.get((base, url))
        if target is None:
            target = _resolve(base, url, None)
            if len(_TARGETS) < _TARGETS_MAX:
                _TARGETS[base, url] = target
        return target
    return _resolve(base, url, params)


def _resolve(base: Base, url: str, params: Any) -> Target:
    if not isinstance(url, str):
        raise InvalidRequest(f"url must be a str, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        scheme = parts.scheme or base.scheme
        if scheme not in ("http", "https"):
            raise InvalidRequest(f"unsupported URL scheme in {url!r}")
        host, host_header = _authority(scheme, parts.netloc or base.netloc, url)
        netloc = parts.netloc or base.netloc
        path = _encode(parts.path or "/", PATH_SAFE)
    else:
        scheme, host, host_header, netloc = base.scheme, base.host, base.host_header, base.netloc
        path = parts.path
        if path and not path.startswith("/"):
            path = "/" + path
        path = base.path + _encode(path, PATH_SAFE) if path else (base.path or "/")
    query = _encode(parts.query, QUERY_SAFE)
    extra = _params(params)
    if extra:
        query = f"{query}&{extra}" if query else extra
    target = f"{path}?{query}" if query else path
    return Target(f"{scheme}://{netloc}{target}", scheme, host, host_header, path, target)


def location_url(current: str, location: Optional[str]) -> str:
    """Resolve a redirect's Location against the URL that answered it."""
    from urllib.parse import urljoin

    if not location:
        raise InvalidRequest("redirect response without a Location header")
    return urljoin(current, location)
