"""TLS for App: the core's TLS setup built from AppOptions, and what handlers read about it.

``ServerTLS`` owns one native ``sc_tls`` (csrc/io_tls.c): the default certificate from the
App's ``AppOptions`` and the SNI names added with ``app.add_server_name``.  Building it reads
and checks every file, so a bad configuration raises ``TLSConfigError`` naming the file and
the reason at ``listen()`` (or ``add_server_name``), never at the first connection.

``TLSFacts`` is what one connection's TLS gave it (version, cipher, ALPN, server name, the
verified client certificate), read from the core by response or WebSocket handle; a plaintext
connection has ``version None``.  ``describe_cert(der)`` turns a certificate into the dict
``ssl.SSLSocket.getpeercert()`` returns, decoded by OpenSSL in the core.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable, NamedTuple, Optional, Union

from ._native import ffi, lib
from .errors import TLSConfigError

__all__ = [
    "TLS_FLAGS",
    "CERT_NONE",
    "CERT_OPTIONAL",
    "CERT_REQUIRED",
    "ServerTLS",
    "TLSFacts",
    "cert_reqs_value",
    "describe_cert",
    "identity_certificate",
    "to_der",
]

# The values of ssl.CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED (and uvicorn's --ssl-cert-reqs),
# which are also socketify.h's SC_TLS_VERIFY_*.
CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2
_CERT_REQS_NAMES = {
    "none": CERT_NONE,
    "cert_none": CERT_NONE,
    "optional": CERT_OPTIONAL,
    "cert_optional": CERT_OPTIONAL,
    "required": CERT_REQUIRED,
    "cert_required": CERT_REQUIRED,
}


class TLSFlag(NamedTuple):
    option: str  # the AppOptions field it sets
    metavar: str
    doc: str


# The command line's TLS flags (uvicorn's names), generated from this table by server/cli.py;
# each sets one AppOptions field.
TLS_FLAGS: dict[str, TLSFlag] = {
    "ssl-keyfile": TLSFlag("key_file_name", "FILE", "TLS private key (PEM): serve HTTPS"),
    "ssl-certfile": TLSFlag("cert_file_name", "FILE", "TLS certificate chain (PEM), leaf first"),
    "ssl-keyfile-password": TLSFlag("passphrase", "PASSWORD", "passphrase of an encrypted key"),
    "ssl-ca-certs": TLSFlag(
        "ca_file_name", "FILE", "CA certificates (PEM) for client certificates (mutual TLS)"
    ),
    "ssl-cert-reqs": TLSFlag(
        "cert_reqs",
        "0|1|2",
        "client certificates: 0 none, 1 optional (verified when sent), 2 required "
        "(default: 2 with --ssl-ca-certs)",
    ),
    "ssl-ciphers": TLSFlag("ssl_ciphers", "LIST", "TLS 1.2 ciphers, OpenSSL syntax"),
    "ssl-dh-params": TLSFlag("dh_params_file_name", "FILE", "DH parameters (PEM)"),
}

_ERR_CAP = 512
_INFO_CAP = 4096


def cert_reqs_value(value: Any) -> Optional[int]:
    """``None`` (decide from ca_file_name), 0/1/2, ``ssl.CERT_*`` or "none"/"optional"/
    "required" -> None or 0/1/2; anything else raises TLSConfigError."""
    if value is None:
        return None
    if isinstance(value, str):
        key = value.strip().lower()
        if key.isdigit():
            value = int(key)
        elif key in _CERT_REQS_NAMES:
            return _CERT_REQS_NAMES[key]
        else:
            raise TLSConfigError(
                f"cert_reqs must be none, optional or required (or 0, 1, 2), not {value!r}"
            )
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1, 2):
        raise TLSConfigError(
            f"cert_reqs must be none, optional or required (or 0, 1, 2), not {value!r}"
        )
    return int(value)


def _path_bytes(option: str, value: Any) -> Optional[bytes]:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TLSConfigError(f"{option} must be a file path, not {type(value).__name__}")
    return os.fsencode(value)


class _Config:
    """An ``sc_tls_config`` and the bytes it points to (kept alive together)."""

    __slots__ = ("_keep", "c")

    def __init__(self, options: Any, handshake_timeout: float) -> None:
        c = ffi.new("sc_tls_config *")
        keep: list[Any] = []

        def text(value: Optional[bytes]) -> Any:
            if value is None:
                return ffi.NULL
            buf = ffi.new("char[]", value)
            keep.append(buf)
            return buf

        c.key_file = text(_path_bytes("key_file_name", options.key_file_name))
        c.cert_file = text(_path_bytes("cert_file_name", options.cert_file_name))
        c.dh_params_file = text(_path_bytes("dh_params_file_name", options.dh_params_file_name))
        c.ca_file = text(_path_bytes("ca_file_name", options.ca_file_name))
        passphrase = options.passphrase
        if passphrase is not None and not isinstance(passphrase, (str, bytes)):
            raise TLSConfigError(f"passphrase must be a str, not {type(passphrase).__name__}")
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        c.passphrase = text(passphrase or None)
        ciphers = options.ssl_ciphers
        if ciphers is not None and not isinstance(ciphers, str):
            raise TLSConfigError(f"ssl_ciphers must be a str, not {type(ciphers).__name__}")
        c.ciphers = text(ciphers.encode("ascii", "replace") if ciphers else None)
        reqs = cert_reqs_value(getattr(options, "cert_reqs", None))
        if reqs is None:
            reqs = CERT_REQUIRED if options.ca_file_name else CERT_NONE
        if reqs != CERT_NONE and not options.ca_file_name:
            raise TLSConfigError(
                "cert_reqs optional/required verifies client certificates: it needs ca_file_name"
            )
        c.verify = reqs
        c.low_memory = 1 if options.ssl_prefer_low_memory_usage else 0
        c.handshake_timeout_ms = int(handshake_timeout * 1000)
        if _TICKET_KEYS is not None:
            c.ticket_keys = text(_TICKET_KEYS)
            c.ticket_keys_len = len(_TICKET_KEYS)
        self.c = c
        self._keep = keep


# Session ticket keys shared by the processes forked after share_ticket_keys() (None: each
# TLS context makes its own, OpenSSL's default).
_TICKET_KEYS: Optional[bytes] = None


def share_ticket_keys() -> None:
    """Make the session ticket keys every TLS setup of this process and of the processes it
    forks will use (the supervisor calls it before forking workers), so a client resumes its
    session on any worker, not only on the one that issued its ticket.  The keys live as
    long as the supervisor, as a single process's own keys live as long as it."""
    global _TICKET_KEYS
    _TICKET_KEYS = os.urandom(lib.SC_TLS_TICKET_KEYS_LEN)


def _name_bytes(hostname: str) -> bytes:
    """A server name as the core stores it: IDNA (ASCII), "*." kept in front.  What IDNA
    refuses goes to the core as is (ASCII): it names the precise reason."""
    wildcard = hostname.startswith("*.")
    rest = hostname[2:] if wildcard else hostname
    try:
        name = rest.encode("idna")
    except UnicodeError:
        name = rest.encode("ascii", "replace")
    return b"*." + name if wildcard else name


class ServerTLS:
    """The native TLS setup of one App: default certificate + SNI names."""

    __slots__ = ("_handshake_timeout", "_native", "names")

    def __init__(self, options: Any, handshake_timeout: float) -> None:
        self._handshake_timeout = handshake_timeout
        config = _Config(options, handshake_timeout)
        err = ffi.new("char[]", _ERR_CAP)
        native = lib.sc_tls_new(config.c, err, _ERR_CAP)
        if native == ffi.NULL:
            raise TLSConfigError(ffi.string(err).decode("utf-8", "replace"))
        self._native = native
        self.names: dict[str, Any] = {}

    @property
    def native(self) -> Any:
        if self._native is None:
            raise RuntimeError("this TLS setup was freed")
        return self._native

    def add_server_name(self, hostname: str, options: Any) -> None:
        if not isinstance(hostname, str):
            raise TypeError(f"server name must be a str, not {type(hostname).__name__}")
        config = _Config(options, self._handshake_timeout)
        err = ffi.new("char[]", _ERR_CAP)
        name = _name_bytes(hostname)
        rc = lib.sc_tls_add_server_name(self.native, name, config.c, err, _ERR_CAP)
        if rc < 0:
            raise TLSConfigError(
                f"server name {hostname!r}: {ffi.string(err).decode('utf-8', 'replace')}"
            )
        self.names[hostname.lower()] = options

    def remove_server_name(self, hostname: str) -> bool:
        if not isinstance(hostname, str):
            raise TypeError(f"server name must be a str, not {type(hostname).__name__}")
        self.names.pop(hostname.lower(), None)
        name = _name_bytes(hostname)
        return bool(lib.sc_tls_remove_server_name(self.native, name) == 1)

    def watch_server_names(self, on: bool) -> None:
        lib.sc_tls_watch_server_names(self.native, 1 if on else 0)

    def attach(self, native_loop: Any, listener: int) -> None:
        rc = lib.sc_listen_set_tls(native_loop, listener, self.native)
        if rc < 0:
            raise RuntimeError(f"the core refused TLS on listener {listener} ({rc})")

    def free(self) -> None:
        """Drop our reference: listeners and connections keep theirs until they close."""
        native = self._native
        self._native = None
        if native is not None:
            lib.sc_tls_free(native)


# ---- what a connection's TLS gave it -------------------------------------------------

_KEYS = {
    "version": 1,
    "cipher": 2,
    "alpn": 3,
    "server_name": 4,
    "peer_cert": 5,
    "cipher_bits": 6,
    "version_id": 7,
    "cipher_id": 8,
    "server_cert": 9,
}

InfoCall = Callable[[Any, int, int, Any, int], int]


def _read(call: InfoCall, native: Any, handle: int, key: int) -> Optional[bytes]:
    buf = ffi.new("char[]", _INFO_CAP)
    n = call(native, handle, key, buf, _INFO_CAP)
    if n <= 0:
        return None
    if n > _INFO_CAP:
        buf = ffi.new("char[]", n)
        n = call(native, handle, key, buf, n)
        if n <= 0:
            return None
    return ffi.unpack(buf, n)


class TLSFacts:
    """One connection's TLS: ``version`` is None on a plaintext connection."""

    __slots__ = (
        "alpn",
        "cipher",
        "cipher_bits",
        "cipher_id",
        "peer_cert",
        "server_cert",
        "server_name",
        "version",
        "version_id",
    )

    def __init__(
        self,
        version: Optional[str] = None,
        cipher: Optional[str] = None,
        cipher_bits: int = 0,
        alpn: Optional[str] = None,
        server_name: Optional[str] = None,
        peer_cert: Optional[bytes] = None,
        version_id: Optional[int] = None,
        cipher_id: Optional[int] = None,
        server_cert: Optional[bytes] = None,
    ) -> None:
        self.version = version
        self.cipher = cipher
        self.cipher_bits = cipher_bits
        self.alpn = alpn
        self.server_name = server_name
        self.peer_cert = peer_cert
        self.version_id = version_id
        self.cipher_id = cipher_id
        self.server_cert = server_cert

    @classmethod
    def read(cls, call: InfoCall, native: Any, handle: int) -> TLSFacts:
        """Ask the core (``lib.sc_res_tls_info`` or ``lib.sc_ws_tls_info``) about a handle:
        one call on a plaintext connection."""
        if native is None:
            return _PLAIN
        version = _read(call, native, handle, _KEYS["version"])
        if version is None:
            return _PLAIN

        def text(key: str) -> Optional[str]:
            value = _read(call, native, handle, _KEYS[key])
            return value.decode("latin-1") if value else None

        def number(key: str) -> Optional[int]:
            value = text(key)
            return int(value) if value and value.isdigit() else None

        return cls(
            version.decode("latin-1"),
            text("cipher"),
            number("cipher_bits") or 0,
            text("alpn"),
            text("server_name"),
            _read(call, native, handle, _KEYS["peer_cert"]),
            number("version_id"),
            number("cipher_id"),
            _read(call, native, handle, _KEYS["server_cert"]),
        )

    @property
    def secure(self) -> bool:
        return self.version is not None

    def cipher_tuple(self) -> Optional[tuple[str, str, int]]:
        """(name, protocol version, secret bits), as ``ssl.SSLSocket.cipher()``."""
        if self.version is None or self.cipher is None:
            return None
        return (self.cipher, self.version, self.cipher_bits)

    def certificate(self, binary_form: bool = False) -> Union[dict[str, Any], bytes, None]:
        if self.peer_cert is None:
            return None
        if binary_form:
            return self.peer_cert
        return describe_cert(self.peer_cert)

    def asgi_extension(self) -> dict[str, Any]:
        """The ASGI TLS extension (``scope["extensions"]["tls"]``) for this connection."""
        import ssl

        peer = self.peer_cert
        return {
            "server_cert": ssl.DER_cert_to_PEM_cert(self.server_cert) if self.server_cert else None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(peer)] if peer else [],
            "client_cert_name": rfc4514_name(describe_cert(peer)["subject"]) if peer else None,
            "client_cert_error": None,  # an unverified certificate fails the handshake
            "tls_version": self.version_id,
            "cipher_suite": self.cipher_id,
        }


_PLAIN = TLSFacts()

_RFC4514_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "streetAddress": "STREET",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "domainComponent": "DC",
    "userId": "UID",
}


def _rfc4514_value(value: str) -> str:
    out = []
    for index, char in enumerate(value):
        if char in ',+"\\<>;' or (char == "#" and index == 0):
            out.append("\\" + char)
        elif char == " " and (index == 0 or index == len(value) - 1):
            out.append("\\ ")
        else:
            out.append(char)
    return "".join(out)


def rfc4514_name(name: Any) -> str:
    """A distinguished name as ``getpeercert()`` gives it (a tuple of RDNs, each a tuple of
    (attribute, value)) in RFC 4514 text: the last RDN first, ``CN=alice,O=acme``."""
    return ",".join(
        "+".join(f"{_RFC4514_NAMES.get(key, key)}={_rfc4514_value(value)}" for key, value in rdn)
        for rdn in reversed(name)
    )


# ---- certificates -----------------------------------------------------------------

_SUBJECT_RDN, _SUBJECT_ATTR, _ISSUER_RDN, _ISSUER_ATTR = 1, 2, 3, 4
_VERSION, _SERIAL, _NOT_BEFORE, _NOT_AFTER, _SAN = 5, 6, 7, 8, 9


def describe_cert(der: bytes) -> dict[str, Any]:
    """The dict ``ssl.SSLSocket.getpeercert()`` gives for this DER certificate: subject,
    issuer, version, serialNumber, notBefore, notAfter and subjectAltName when present.
    ValueError for bytes that are not a certificate."""
    data = bytes(der)
    n = lib.sc_tls_describe_cert(data, len(data), ffi.NULL, 0)
    if n < 0:
        raise ValueError("not a DER certificate")
    buf = ffi.new("char[]", max(n, 1))
    lib.sc_tls_describe_cert(data, len(data), buf, n)
    raw = ffi.unpack(buf, n)
    subject: list[list[tuple[str, str]]] = []
    issuer: list[list[tuple[str, str]]] = []
    san: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    pos = 0
    while pos + 5 <= len(raw):
        kind = raw[pos]
        (size,) = struct.unpack_from("<I", raw, pos + 1)
        value = raw[pos + 5 : pos + 5 + size]
        pos += 5 + size
        if kind == _SUBJECT_RDN:
            subject.append([])
        elif kind == _ISSUER_RDN:
            issuer.append([])
        elif kind in (_SUBJECT_ATTR, _ISSUER_ATTR, _SAN):
            name, _, text = value.partition(b"\0")
            pair = (name.decode("utf-8", "replace"), text.decode("utf-8", "replace"))
            if kind == _SAN:
                san.append(pair)
            else:
                (subject if kind == _SUBJECT_ATTR else issuer)[-1].append(pair)
        elif kind == _VERSION:
            out["version"] = int(value)
        elif kind == _SERIAL:
            out["serialNumber"] = value.decode("ascii")
        elif kind == _NOT_BEFORE:
            out["notBefore"] = value.decode("ascii")
        elif kind == _NOT_AFTER:
            out["notAfter"] = value.decode("ascii")
    cert: dict[str, Any] = {
        "subject": tuple(tuple(rdn) for rdn in subject),
        "issuer": tuple(tuple(rdn) for rdn in issuer),
        **out,
    }
    if san:
        cert["subjectAltName"] = tuple(san)
    return cert


def identity_certificate(identity: dict[str, Any], days: int = 30) -> bytes:
    """A real, self-signed DER certificate for an identity dict shaped like the subject
    of ``getpeercert()`` flattened: ``{"commonName": "alice", "organizationName": "acme",
    "subjectAltName": [("DNS", "alice.test"), ("email", "a@acme.test")]}``.  Made by
    OpenSSL in the core (a fresh key each time): what the TestClient presents as a client
    certificate, so the app reads it exactly as over a real handshake."""
    if not isinstance(identity, dict) or not identity:
        raise ValueError("an identity is a non-empty dict: {'commonName': ..., ...}")
    lines = []
    sans = []
    for key, value in identity.items():
        if key == "subjectAltName":
            for kind, text in value:
                if "," in str(text) or "\n" in str(text):
                    raise ValueError(f"subjectAltName entry {text!r} contains ',' or a newline")
                sans.append(f"{kind}:{text}")
            continue
        if not isinstance(key, str) or not isinstance(value, str) or "\n" in value:
            raise ValueError(f"identity field {key!r}: a name and a one-line str value")
        lines.append(f"{key}={value}")
    if not lines:
        raise ValueError("an identity needs at least one subject field, e.g. commonName")
    subject = "\n".join(lines).encode("utf-8")
    san_text = ",".join(sans).encode("utf-8")
    cap = 16384  # each call makes a new key and signature: one buffer that surely fits
    while True:
        buf = ffi.new("char[]", cap)
        n = lib.sc_tls_identity_cert(subject, san_text, days, buf, cap)
        if n < 0:
            raise ValueError(f"OpenSSL refused the identity {identity!r} (unknown field name?)")
        if n <= cap:
            return ffi.unpack(buf, n)
        cap = n * 2


def to_der(cert: Any) -> bytes:
    """A certificate as DER: DER bytes, PEM text or bytes, a path to a PEM or DER file,
    or an identity dict (``identity_certificate``).  ValueError when it is none of them."""
    import ssl

    if isinstance(cert, dict):
        return identity_certificate(cert)
    data: Union[str, bytes]
    if isinstance(cert, os.PathLike) or (
        isinstance(cert, str) and "-----BEGIN" not in cert and os.path.exists(cert)
    ):
        with open(cert, "rb") as handle:
            data = handle.read()
    elif isinstance(cert, (str, bytes, bytearray, memoryview)):
        data = cert if isinstance(cert, str) else bytes(cert)
    else:
        raise ValueError(f"a certificate is DER, PEM, a file path or a dict, not {cert!r}")
    if isinstance(data, bytes) and b"-----BEGIN CERTIFICATE-----" in data:
        data = data.decode("ascii", "replace")
    if isinstance(data, str):
        if "-----BEGIN CERTIFICATE-----" not in data:
            raise ValueError("not a PEM certificate (no BEGIN CERTIFICATE line)")
        start = data.index("-----BEGIN CERTIFICATE-----")
        end = data.find("-----END CERTIFICATE-----", start)
        if end < 0:
            raise ValueError("not a PEM certificate (no END CERTIFICATE line)")
        data = ssl.PEM_cert_to_DER_cert(data[start : end + len("-----END CERTIFICATE-----")])
    describe_cert(data)  # ValueError when it does not parse
    return data
