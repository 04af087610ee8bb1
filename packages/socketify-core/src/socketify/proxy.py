"""Behind a load balancer: the client address and scheme from trusted proxy headers.

With ``proxy_headers=True`` (``--proxy-headers``), a request whose peer is a trusted proxy
(``forwarded_allow_ips``: addresses and networks, ``*`` for any, ``unix`` for a Unix
socket peer; default ``127.0.0.1``, or ``$FORWARDED_ALLOW_IPS``) has its client address and
scheme taken from its headers:

- ``Forwarded`` (RFC 7239) when present: its ``for=`` and ``proto=`` parameters;
- else ``X-Forwarded-For`` and ``X-Forwarded-Proto``.

Each proxy appends the address it received the request from, so the list is walked from
the right: addresses of trusted proxies are skipped and the first untrusted one is the
client (a client cannot smuggle an address past the proxies it does not control); when
every entry is trusted, the leftmost is the client.  A value that is not an address
(``unknown``, an obfuscated ``_name``) ends the walk there: the client is unknown and the
peer address is kept.  The scheme is the last proto value, when it is ``http``/``https``
(``ws``/``wss`` count as those).  An untrusted peer's headers are ignored.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, Callable, Optional, Union

from ._native import ffi, lib

__all__ = ["DEFAULT_TRUSTED", "ProxyHeaders", "forwarded", "parse_forwarded", "view_header"]

DEFAULT_TRUSTED = "127.0.0.1"
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_forwarded(header: str) -> list[dict[str, str]]:
    """The elements of a ``Forwarded`` header (RFC 7239), each a dict of lower-cased
    parameter names; a malformed element ends the list (what came before is kept)."""
    elements: list[dict[str, str]] = []
    for raw in _split_outside_quotes(header, ","):
        element: dict[str, str] = {}
        for pair in _split_outside_quotes(raw, ";"):
            if not pair.strip():
                continue
            found = _PAIR.fullmatch(pair)
            if not found:
                return elements
            element[found.group(1).lower()] = _unquote(found.group(2))
        elements.append(element)
    return elements


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _node_address(node: str) -> Optional[str]:
    """The IP of a ``for=`` node (``192.0.2.1``, ``"192.0.2.1:47011"``, ``"[2001:db8::1]:80"``),
    None for ``unknown``, an obfuscated name or anything that is not an address."""
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        node = node[1:end] if end > 0 else ""
    elif node.count(":") == 1:
        node = node.split(":", 1)[0]  # IPv4 with a port
    try:
        return str(ipaddress.ip_address(node))
    except ValueError:
        return None


class ProxyHeaders:
    """Which peers are trusted, and what their headers say about the client."""

    def __init__(self, trusted: Optional[str] = None) -> None:
        if trusted is None:
            trusted = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_TRUSTED)
        if not isinstance(trusted, str):
            raise TypeError(f"forwarded_allow_ips must be a str, not {type(trusted).__name__}")
        self.any = False
        self.unix = False
        self.networks: list[_Network] = []
        for item in (part.strip() for part in trusted.split(",")):
            if not item:
                continue
            if item == "*":
                self.any = True
            elif item.lower() in ("unix", "unix:"):
                self.unix = True
            else:
                try:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(
                        f"{item!r} is not an IP address, a network, '*' or 'unix'"
                    ) from None
        self.text = trusted

    def trusts(self, address: str) -> bool:
        """True for a trusted peer; ``""`` is a Unix socket peer."""
        if self.any:
            return True
        if not address:
            return self.unix
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def resolve(
        self, peer: str, header: Callable[[str], Optional[str]]
    ) -> tuple[Optional[str], Optional[str]]:
        """(client address or None, scheme or None) for a request from ``peer``;
        ``header(name)`` gives a lower-cased header's value (joined when repeated)."""
        if not self.trusts(peer):
            return None, None
        forwarded = header("forwarded")
        if forwarded is not None:
            elements = parse_forwarded(forwarded)
            nodes = [e["for"] for e in elements if "for" in e]
            protos = [e["proto"] for e in elements if "proto" in e]
        else:
            xff = header("x-forwarded-for")
            nodes = [n for n in xff.split(",")] if xff else []
            proto = header("x-forwarded-proto")
            protos = proto.split(",") if proto else []
        client = self._client(nodes)
        scheme = _SCHEMES.get(protos[-1].strip().lower()) if protos else None
        return client, scheme

    def _client(self, nodes: list[str]) -> Optional[str]:
        client = None
        for node in reversed(nodes):
            address = _node_address(node)
            if address is None:
                return None  # unknown / obfuscated: the client is not known
            client = address
            if not self.trusts(address):
                return address
        return client


def view_header(view: Any, name: bytes) -> Optional[str]:
    """A header of the core's request view (``name`` lower-case), repeated ones joined with
    ", " (RFC 9110 5.3), or None."""
    size = len(name)
    items = view.headers
    found: list[str] = []
    for index in range(view.num_headers):
        item = items[index]
        if item.name_len == size and ffi.unpack(item.name, size) == name:
            found.append(ffi.unpack(item.value, item.value_len).decode("latin-1"))
    return ", ".join(found) if found else None


def peer_address(native: Any, handle: int) -> str:
    """The connection's peer IP (``""`` for a Unix socket)."""
    buf = ffi.new("char[64]")
    n = lib.sc_res_remote_address(native, handle, buf, 64)
    return ffi.unpack(buf, n).decode("ascii", "replace") if n > 0 else ""


def forwarded(
    proxy: ProxyHeaders, native: Any, view: Any
) -> Optional[tuple[Optional[str], Optional[str]]]:
    """(client, scheme) from the current request's headers when its peer is trusted and
    they say something; None otherwise."""
    peer = peer_address(native, view.res)
    client, scheme = proxy.resolve(peer, lambda name: view_header(view, name.encode("latin-1")))
    if client is None and scheme is None:
        return None
    return client, scheme
