"""A browser-like cookie jar (RFC 6265 storage and retrieval, section 5).

Storing (``extract``): each ``Set-Cookie`` value is parsed as RFC 6265 5.2 says: the
name-value pair before the first ``;`` (no ``=`` or an empty name: ignored), then
attributes, case-insensitive, unknown ones ignored:

    Expires   cookie-date (5.1.1 algorithm); an unparsable date is ignored
    Max-Age   integer seconds, wins over Expires; 0 or negative expires the cookie now
    Domain    leading dot dropped; the request host must domain-match it, else the cookie
              is ignored; without Domain the cookie is host-only
    Path      must start with "/", else the default path (the request path up to its
              last "/")
    Secure    stored, but sent only to https URLs
    HttpOnly, SameSite   stored for inspection, no effect here

A cookie replaces the stored one with the same (name, domain, path); an expired one
deletes it.  Retrieval (``header_for``) picks unexpired cookies whose domain and path match
the URL (and not Secure on http), longest path first, then oldest first.

Values are kept exactly as the server wrote them (no unquoting or percent-decoding), as a
browser does.  The clock is injectable so tests can move time instead of sleeping.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
import time
from collections.abc import Iterator, MutableMapping
from typing import Callable, Optional

__all__ = ["Cookie", "CookieJar", "parse_cookie_date"]

DELIMITER = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?")
DAY = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?")
YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_AGE = re.compile(r"-?[0-9]+")


def parse_cookie_date(text: str) -> Optional[float]:
    """RFC 6265 5.1.1 cookie-date to a POSIX timestamp, or None when it is not one."""
    hms = day = month = year = None
    for token in DELIMITER.split(text):
        if not token:
            continue
        if hms is None:
            found = TIME.fullmatch(token)
            if found:
                hms = tuple(int(g) for g in found.groups())
                continue
        if day is None:
            found = DAY.fullmatch(token)
            if found:
                day = int(found.group(1))
                continue
        if month is None and token[:3].lower() in MONTHS:
            month = MONTHS.index(token[:3].lower()) + 1
            continue
        if year is None:
            found = YEAR.fullmatch(token)
            if found:
                year = int(found.group(1))
                continue
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def domain_match(host: str, domain: str) -> bool:
    if host == domain:
        return True
    return host.endswith("." + domain) and not is_ip(host)


def path_match(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


def default_path(request_path: str) -> str:
    if not request_path.startswith("/"):
        return "/"
    cut = request_path.rfind("/")
    return "/" if cut <= 0 else request_path[:cut]


class Cookie:
    """One stored cookie."""

    __slots__ = (
        "created",
        "domain",
        "expires",
        "host_only",
        "http_only",
        "name",
        "path",
        "same_site",
        "secure",
        "value",
    )

    def __init__(
        self,
        name: str,
        value: str,
        domain: str,
        path: str = "/",
        *,
        host_only: bool = True,
        expires: Optional[float] = None,
        secure: bool = False,
        http_only: bool = False,
        same_site: Optional[str] = None,
        created: float = 0.0,
    ) -> None:
        self.name = name
        self.value = value
        self.domain = domain
        self.path = path
        self.host_only = host_only
        self.expires = expires  # POSIX time, None for a session cookie
        self.secure = secure
        self.http_only = http_only
        self.same_site = same_site
        self.created = created

    def matches(self, host: str, path: str, secure: bool) -> bool:
        if self.secure and not secure:
            return False
        if self.host_only:
            if host != self.domain:
                return False
        elif not domain_match(host, self.domain):
            return False
        return path_match(path, self.path)

    def __repr__(self) -> str:
        return f"<Cookie {self.name}={self.value} for {self.domain}{self.path}>"


def parse_set_cookie(
    header: str, host: str, path: str, now: float, sequence: float
) -> Optional[Cookie]:
    """One Set-Cookie value received from ``host`` for ``path``; None when ignored."""
    pair, _, attributes = header.partition(";")
    name, eq, value = pair.partition("=")
    name, value = name.strip(" \t"), value.strip(" \t")
    if not eq or not name:
        return None
    cookie = Cookie(name, value, host, default_path(path), created=sequence)
    max_age: Optional[float] = None
    for attribute in attributes.split(";"):
        key, _, val = attribute.partition("=")
        key, val = key.strip(" \t").lower(), val.strip(" \t")
        if key == "expires":
            stamp = parse_cookie_date(val)
            if stamp is not None:
                cookie.expires = stamp
        elif key == "max-age":
            if MAX_AGE.fullmatch(val):
                max_age = now + int(val) if int(val) > 0 else float("-inf")
        elif key == "domain":
            domain = val.lstrip(".").lower()
            if domain:
                if not domain_match(host, domain):
                    return None
                cookie.domain = domain
                cookie.host_only = False
        elif key == "path":
            cookie.path = val if val.startswith("/") else default_path(path)
        elif key == "secure":
            cookie.secure = True
        elif key == "httponly":
            cookie.http_only = True
        elif key == "samesite":
            cookie.same_site = val
    if max_age is not None:
        cookie.expires = max_age
    return cookie


class CookieJar(MutableMapping):  # type: ignore[type-arg]
    """The client's cookies; a mapping name -> value for quick use in tests.

    ``jar["name"]`` gives the value of the most specific stored cookie of that name
    (longest path first); ``jar["name"] = "v"`` stores a host-only cookie for the base
    URL's host and path "/"; ``del jar["name"]`` removes every cookie of that name.
    ``jar.cookies()`` lists the full :class:`Cookie` objects.
    """

    def __init__(self, default_host: str, clock: Callable[[], float] = time.time) -> None:
        self.default_host = default_host
        self.clock = clock
        self._cookies: dict[tuple[str, str, str], Cookie] = {}
        self._sequence = 0.0

    # -- browser behaviour --

    def extract(self, set_cookies: list[str], host: str, path: str) -> dict[str, str]:
        """Store what a response set; return name -> value of the cookies now stored."""
        now = self.clock()
        stored: dict[str, str] = {}
        for header in set_cookies:
            self._sequence += 1
            cookie = parse_set_cookie(header, host.lower(), path, now, self._sequence)
            if cookie is None:
                continue
            key = (cookie.name, cookie.domain, cookie.path)
            if cookie.expires is not None and cookie.expires <= now:
                self._cookies.pop(key, None)
                stored.pop(cookie.name, None)
                continue
            old = self._cookies.get(key)
            if old is not None:
                cookie.created = old.created
            self._cookies[key] = cookie
            stored[cookie.name] = cookie.value
        return stored

    def matching(self, host: str, path: str, secure: bool) -> list[Cookie]:
        self._purge()
        host = host.lower()
        found = [c for c in self._cookies.values() if c.matches(host, path, secure)]
        found.sort(key=lambda c: (-len(c.path), c.created))
        return found

    def header_for(self, host: str, path: str, secure: bool) -> str:
        """The Cookie header value for a request, "" when no cookie applies."""
        if not self._cookies:  # PERF: the common case, no jar work at all
            return ""
        return "; ".join(f"{c.name}={c.value}" for c in self.matching(host, path, secure))

    def _purge(self) -> None:
        now = self.clock()
        expired = [
            k for k, c in self._cookies.items() if c.expires is not None and c.expires <= now
        ]
        for key in expired:
            del self._cookies[key]

    # -- test conveniences --

    def cookies(self) -> list[Cookie]:
        """Every unexpired cookie, most specific path first."""
        self._purge()
        return sorted(self._cookies.values(), key=lambda c: (-len(c.path), c.created))

    def set(self, name: str, value: str, domain: Optional[str] = None, path: str = "/") -> None:
        """Store a session cookie (host-only for ``domain``, default the base host)."""
        self._sequence += 1
        host = (domain or self.default_host).lower()
        self._cookies[(name, host, path)] = Cookie(name, value, host, path, created=self._sequence)

    def get(  # type: ignore[override]
        self,
        name: str,
        default: Optional[str] = None,
        domain: Optional[str] = None,
        path: Optional[str] = None,
    ) -> Optional[str]:
        for cookie in self.cookies():
            if cookie.name != name:
                continue
            if domain is not None and cookie.domain != domain.lower():
                continue
            if path is not None and cookie.path != path:
                continue
            return cookie.value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        keys = [k for k in self._cookies if k[0] == name]
        if not keys:
            raise KeyError(name)
        for key in keys:
            del self._cookies[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(c.name for c in self.cookies()))

    def __len__(self) -> int:
        return len(dict.fromkeys(c.name for c in self.cookies()))

    def clear(self) -> None:
        self._cookies.clear()

    def __repr__(self) -> str:
        return f"<CookieJar {dict(self.items())!r}>"
