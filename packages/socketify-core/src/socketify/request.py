"""AppRequest: a lazy view over the core's request, valid during the callback only.

The core hands Python one ``sc_request`` view per request; it points into the connection's
read buffer and is overwritten by the next request.  So an AppRequest keeps the view and a
*token*; the runtime bumps its current token for every request and clears it when the callback
returns.  Every getter first compares the two: after the callback, a request that was not
``preserve()``-d raises RequestExpired (a RuntimeError) before any C memory is read.

Nothing is copied unless asked: the path and method were decoded for routing anyway; the
full URL, headers, query and cookies are read from the view on first use.  ``preserve()``
copies all of it into Python objects so the request stays usable after an ``await``.

Text is decoded as latin-1 (HTTP's own charset for the head; never fails, and keeps every
byte).  Query values, cookies and route parameters are percent-decoded as UTF-8.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs

from ._native import ffi, lib
from .cookies import parse_cookie_header
from .errors import RequestExpired
from .proxy import forwarded
from .tls import TLSFacts

if TYPE_CHECKING:
    from .runtime import Runtime

_unpack = ffi.unpack
_EXPIRED = (
    "this AppRequest was used after its handler's synchronous part returned; "
    "call req.preserve() before the first await to keep using it"
)


class _Copied:
    """What a request has read out of the view so far (all of it after preserve())."""

    __slots__ = ("cookies", "headers", "minor", "queries", "scheme", "target", "tls")

    def __init__(self) -> None:
        self.tls: Optional[TLSFacts] = None
        self.scheme: Optional[str] = None
        self.target: Optional[str] = None
        self.headers: Optional[list[tuple[str, str]]] = None
        self.queries: Optional[dict[str, list[str]]] = None
        self.cookies: Optional[dict[str, str]] = None
        self.minor = -1


_PRESERVED = -1  # the token of a preserved request: valid forever


class AppRequest:
    __slots__ = ("_copied", "_match", "_method", "_path", "_rt", "_token", "_view", "_yield")

    def __init__(self, rt: Runtime, token: int, view: Any, method: str, path: str, match: Any):
        # PERF: eight slot stores; what is read lazily lives in one _Copied made on demand.
        self._rt = rt
        self._token = token
        self._view = view
        self._method = method
        self._path = path
        self._match = match
        self._yield = False
        self._copied: Optional[_Copied] = None

    # ---- validity ---------------------------------------------------------------
    def _check(self) -> None:
        token = self._token
        if token != self._rt.token and token != _PRESERVED:
            raise RequestExpired(_EXPIRED)

    def _cache(self) -> _Copied:
        copied = self._copied
        if copied is None:
            copied = self._copied = _Copied()
        return copied

    def preserve(self) -> AppRequest:
        """Copy everything out of the view so the request stays valid after the callback."""
        if self._token == _PRESERVED:
            return self
        self._check()
        self.get_full_url()
        self._header_pairs()
        self.is_ancient()
        self._tls()
        self.get_scheme()  # the proxy headers are read from the view: before it goes
        self._token = _PRESERVED
        self._view = None
        return self

    # ---- request line -----------------------------------------------------------
    def get_method(self) -> str:
        """The method as sent (``"GET"``)."""
        self._check()
        return self._method

    def get_url(self) -> str:
        """The path without the query string, percent-encoding kept."""
        self._check()
        return self._path

    def get_full_url(self) -> str:
        """The path with ``?query`` when there is one."""
        self._check()
        copied = self._cache()
        target = copied.target
        if target is None:
            view = self._view
            target = copied.target = _unpack(view.target, view.target_len).decode("latin-1")
        return target

    def is_ancient(self) -> bool:
        """True for an HTTP/1.0 request."""
        self._check()
        copied = self._cache()
        if copied.minor < 0:
            copied.minor = self._view.http_minor
        return copied.minor == 0

    # ---- TLS --------------------------------------------------------------------
    def _tls(self) -> TLSFacts:
        copied = self._cache()
        facts = copied.tls
        if facts is None:
            facts = copied.tls = TLSFacts.read(lib.sc_res_tls_info, self._rt.native, self._view.res)
        return facts

    def is_secure(self) -> bool:
        """True when the request came over TLS."""
        self._check()
        return self._tls().secure

    def get_scheme(self) -> str:
        """``"https"`` over TLS, else ``"http"``; with ``proxy_headers`` and a trusted peer,
        the scheme its proxy headers name (``X-Forwarded-Proto``, ``Forwarded: proto=``)."""
        self._check()
        copied = self._cache()
        scheme = copied.scheme
        if scheme is None:
            scheme = "https" if self._tls().secure else "http"
            proxy = self._rt.proxy
            if proxy is not None:
                fwd = forwarded(proxy, self._rt.native, self._view)
                if fwd is not None and fwd[1]:
                    scheme = fwd[1]
            copied.scheme = scheme
        return scheme

    def get_peer_certificate(self, binary_form: bool = False) -> Any:
        """The client's verified certificate (mutual TLS) as the dict
        ``ssl.SSLSocket.getpeercert()`` gives (subject, issuer, serialNumber, notBefore,
        notAfter, subjectAltName), or its DER bytes with ``binary_form=True``; None without
        a client certificate (or TLS)."""
        self._check()
        return self._tls().certificate(binary_form)

    def get_tls_version(self) -> Optional[str]:
        """The negotiated protocol (``"TLSv1.3"``), None on a plaintext connection."""
        self._check()
        return self._tls().version

    def get_cipher(self) -> Optional[tuple[str, str, int]]:
        """(cipher name, protocol version, secret bits), as ``ssl.SSLSocket.cipher()``."""
        self._check()
        return self._tls().cipher_tuple()

    def get_alpn_protocol(self) -> Optional[str]:
        """The protocol chosen with ALPN (``"http/1.1"``), None when the client sent none."""
        self._check()
        return self._tls().alpn

    def get_server_name(self) -> Optional[str]:
        """The server name the client asked for in its TLS handshake (SNI), or None."""
        self._check()
        return self._tls().server_name

    # ---- headers ----------------------------------------------------------------
    def _header_pairs(self) -> list[tuple[str, str]]:
        copied = self._cache()
        pairs = copied.headers
        if pairs is None:
            view = self._view
            items = view.headers
            pairs = []
            for index in range(view.num_headers):
                item = items[index]
                pairs.append(
                    (
                        _unpack(item.name, item.name_len).decode("latin-1"),
                        _unpack(item.value, item.value_len).decode("latin-1"),
                    )
                )
            copied.headers = pairs
        return pairs

    def get_header(self, lowercase_name: str) -> Optional[str]:
        """The first value of a header (name case-insensitive), or None."""
        self._check()
        name = lowercase_name.lower()
        copied = self._copied
        pairs = copied.headers if copied is not None else None
        if pairs is None:
            # PERF: scan the view by name and decode only the matching value.
            key = name.encode("latin-1")
            size = len(key)
            view = self._view
            items = view.headers
            for index in range(view.num_headers):
                item = items[index]
                if item.name_len == size and _unpack(item.name, size) == key:
                    return _unpack(item.value, item.value_len).decode("latin-1")
            return None
        for header_name, value in pairs:
            if header_name == name:
                return value
        return None

    def get_headers(self) -> dict[str, str]:
        """Every header by lower-case name; repeated headers joined with ``", "``."""
        self._check()
        headers: dict[str, str] = {}
        for name, value in self._header_pairs():
            previous = headers.get(name)
            headers[name] = value if previous is None else f"{previous}, {value}"
        return headers

    def for_each_header(self, handler: Callable[[str, str], Any]) -> None:
        """Call ``handler(name, value)`` for every header line, in order."""
        self._check()
        for name, value in self._header_pairs():
            handler(name, value)

    # ---- query string -----------------------------------------------------------
    def get_queries(self) -> dict[str, list[str]]:
        """Every query parameter: name -> list of values (percent-decoded, ``+`` as space)."""
        self._check()
        return {name: list(values) for name, values in self._query_dict().items()}

    def _query_dict(self) -> dict[str, list[str]]:
        copied = self._cache()
        queries = copied.queries
        if queries is None:
            _, _, query = self.get_full_url().partition("?")
            queries = copied.queries = parse_qs(query, keep_blank_values=True) if query else {}
        return queries

    def get_query(self, name: str) -> Optional[str]:
        """The first value of a query parameter, or None."""
        self._check()
        values = self._query_dict().get(name)
        return values[0] if values else None

    # ---- route parameters ---------------------------------------------------------
    def get_parameter(self, index: int) -> Optional[str]:
        """The route parameter at ``index`` (percent-decoded), or None."""
        self._check()
        match = self._match
        if match is None:
            return None
        params = match.params
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"parameter index must be an int, not {type(index).__name__}")
        if -len(params) <= index < len(params):
            return params[index]
        return None

    def get_parameters(self, index: Optional[int] = None) -> Any:
        """Every route parameter, in pattern order; with ``index``, that one parameter (the
        seed page's ``get_parameters(index)`` spelling of ``get_parameter``)."""
        if index is not None:
            return self.get_parameter(index)
        self._check()
        match = self._match
        return list(match.params) if match is not None else []

    @property
    def app(self) -> Any:
        """The App serving this request."""
        return self._rt.app

    def get_parameters_dict(self) -> dict[str, Any]:
        """Route parameters by name (converted when the pattern says so, e.g. ``<id:int>``)."""
        self._check()
        match = self._match
        return dict(match.values) if match is not None else {}

    # ---- cookies ------------------------------------------------------------------
    def get_cookies(self) -> dict[str, str]:
        """Every request cookie (percent-decoded values)."""
        self._check()
        return dict(self._cookie_dict())

    def _cookie_dict(self) -> dict[str, str]:
        copied = self._cache()
        cookies = copied.cookies
        if cookies is None:
            cookies = copied.cookies = parse_cookie_header(self.get_header("cookie"))
        return cookies

    def get_cookie(self, name: str) -> Optional[str]:
        """One request cookie, or None."""
        self._check()
        return self._cookie_dict().get(name)

    # ---- routing control ------------------------------------------------------------
    def set_yield(self, value: bool) -> AppRequest:
        """``True``: after this handler returns, the next matching route gets the request."""
        self._yield = bool(value)
        return self

    def get_yield(self) -> bool:
        return self._yield

    def __repr__(self) -> str:
        if self._token in (_PRESERVED, self._rt.token):
            return f"<AppRequest {self._method} {self._path}>"
        return "<AppRequest (expired)>"


Request = AppRequest
