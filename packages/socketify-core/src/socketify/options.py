"""AppOptions (TLS files, for App) and AppListenOptions (where to listen).

``App(AppOptions(key_file_name=..., cert_file_name=...))`` serves HTTPS on every listener
(socketify/tls.py builds the core's TLS setup from it at ``listen()``; a bad file raises
TLSConfigError there).  ``ca_file_name`` turns on client certificates (mutual TLS):
``cert_reqs`` says whether one is required (the default with ``ca_file_name``) or only
verified when the client presents one ("optional"); see docs/deploying.md.
"""

from __future__ import annotations

from typing import Any, Optional

LISTEN_EXCLUSIVE_PORT = 1  # socketify.h SC_LISTEN_EXCLUSIVE_PORT


class AppOptions:
    __slots__ = (
        "ca_file_name",
        "cert_file_name",
        "cert_reqs",
        "dh_params_file_name",
        "key_file_name",
        "passphrase",
        "ssl_ciphers",
        "ssl_prefer_low_memory_usage",
    )

    def __init__(
        self,
        key_file_name: Optional[str] = None,
        cert_file_name: Optional[str] = None,
        passphrase: Optional[str] = None,
        dh_params_file_name: Optional[str] = None,
        ca_file_name: Optional[str] = None,
        ssl_ciphers: Optional[str] = None,
        ssl_prefer_low_memory_usage: int = 0,
        cert_reqs: Any = None,
    ) -> None:
        self.key_file_name = key_file_name
        self.cert_file_name = cert_file_name
        self.passphrase = passphrase
        self.dh_params_file_name = dh_params_file_name
        self.ca_file_name = ca_file_name
        self.ssl_ciphers = ssl_ciphers
        self.ssl_prefer_low_memory_usage = ssl_prefer_low_memory_usage
        # None: required with ca_file_name, else none; 0/1/2, ssl.CERT_*, or the names
        self.cert_reqs = cert_reqs

    def wants_tls(self) -> bool:
        """True when any TLS file is named: the App serves HTTPS (or refuses to listen)."""
        return bool(self.key_file_name or self.cert_file_name or self.ca_file_name)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"AppOptions({fields})"


class AppListenOptions:
    """Where to listen: TCP ``host``/``port`` (0 picks a free port) or a Unix ``domain`` path.

    The ``listen`` handler receives one of these with the port actually bound.
    """

    __slots__ = ("domain", "host", "options", "port")

    def __init__(
        self,
        port: int = 0,
        host: Optional[str] = None,
        options: int = 0,
        domain: Optional[str] = None,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"listen port must be an int, not {type(port).__name__}")
        if not 0 <= port <= 65535:
            raise ValueError(f"listen port must be between 0 and 65535, not {port}")
        if host is not None and not isinstance(host, str):
            raise TypeError(f"listen host must be a str or None, not {type(host).__name__}")
        if isinstance(options, bool) or not isinstance(options, int) or options < 0:
            raise TypeError(f"listen options must be a non-negative int, not {options!r}")
        if domain is not None and not isinstance(domain, str):
            raise TypeError(f"listen domain must be a path str or None, not {domain!r}")
        if domain == "":
            raise ValueError("listen domain (Unix socket path) must not be empty")
        self.port = port
        self.host = host
        self.options = options
        self.domain = domain

    @classmethod
    def coerce(cls, value: Any) -> AppListenOptions:
        """int port, dict ``{port, host, options, domain}``, AppListenOptions or None (0)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return cls(value.port, value.host, value.options, value.domain)
        if isinstance(value, dict):
            unknown = set(value) - {"port", "host", "options", "domain"}
            if unknown:
                raise ValueError(f"unknown listen option {sorted(unknown)[0]!r}")
            return cls(
                value.get("port", 0),
                value.get("host"),
                value.get("options", 0),
                value.get("domain"),
            )
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise TypeError(
            f"listen() takes a port int, a dict or AppListenOptions, not {type(value).__name__}"
        )

    def __repr__(self) -> str:
        return (
            f"AppListenOptions(port={self.port!r}, host={self.host!r}, "
            f"options={self.options!r}, domain={self.domain!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AppListenOptions):
            return NotImplemented
        return (self.port, self.host, self.options, self.domain) == (
            other.port,
            other.host,
            other.options,
            other.domain,
        )

    __hash__ = None  # type: ignore[assignment]
