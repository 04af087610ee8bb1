"""SNI: add_server_name / remove_server_name / missing_server_name, wildcards, per-name mTLS.

The certificate a client is shown is read back with Python's ssl client (getpeercert), so
each test checks which certificate the core chose for the name the client sent.
"""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_support import Certs, body_of, https_get, listen_port, make_certs, serving

from socketify import App, AppOptions, TLSConfigError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the epoll core and the openssl CLI"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


def options_for(pair: tuple[Path, Path], **extra: Any) -> AppOptions:
    return AppOptions(key_file_name=str(pair[0]), cert_file_name=str(pair[1]), **extra)


@pytest.fixture(scope="module")
def alpha(certs: Certs) -> AppOptions:
    return options_for(certs.issue("alpha", "alpha.test", ["DNS:alpha.test"]))


@pytest.fixture(scope="module")
def wild(certs: Certs) -> AppOptions:
    return options_for(certs.issue("wild", "*.wild.test", ["DNS:*.wild.test"]))


def sni_app(certs: Certs) -> App:
    app = App(options_for((certs.server_key, certs.server_cert)))
    app.get("/", lambda res, req: res.end(f"name={req.get_server_name()}"))
    return app


def served_cn(port: int, certs: Certs, name: Optional[str]) -> str:
    """The common name of the certificate the server shows for SNI ``name``."""
    ctx = certs.client_context(server_hostname_check=False)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname=name)
    cert = tls.getpeercert()
    tls.close()
    assert cert is not None
    return dict(pair for rdn in cert["subject"] for pair in rdn)["commonName"]


def test_exact_and_wildcard_names(certs, alpha, wild):
    app = sni_app(certs)
    app.add_server_name("alpha.test", alpha)
    app.add_server_name("*.wild.test", wild)
    port = listen_port(app)
    with serving(app):
        assert served_cn(port, certs, "alpha.test") == "alpha.test"
        assert served_cn(port, certs, "ALPHA.Test") == "alpha.test"  # names are case-blind
        assert served_cn(port, certs, "a.wild.test") == "*.wild.test"
        assert served_cn(port, certs, "zz-9.wild.test") == "*.wild.test"
        assert served_cn(port, certs, "a.b.wild.test") == "localhost"  # one label only
        assert served_cn(port, certs, "wild.test") == "localhost"
        assert served_cn(port, certs, "unknown.test") == "localhost"  # the default
        assert served_cn(port, certs, None) == "localhost"  # no SNI at all
        # hostname verification on: the client accepts exactly the right certificate
        data, _ = https_get(port, certs.client_context(), server_hostname="alpha.test")
        assert body_of(data) == b"name=alpha.test"
        data, _ = https_get(port, certs.client_context(), server_hostname="x.wild.test")
        assert body_of(data) == b"name=x.wild.test"


def test_remove_server_name_while_serving(certs, alpha):
    app = sni_app(certs)
    app.add_server_name("alpha.test", alpha)

    def drop(res: Any, req: Any) -> None:
        app.remove_server_name("alpha.test")
        res.end("dropped")

    app.get("/drop", drop)
    port = listen_port(app)
    with serving(app):
        assert served_cn(port, certs, "alpha.test") == "alpha.test"
        data, _ = https_get(port, certs.client_context(server_hostname_check=False), "/drop")
        assert body_of(data) == b"dropped"
        assert served_cn(port, certs, "alpha.test") == "localhost"
        app.remove_server_name("never.added")  # unknown: nothing happens


def test_missing_server_name_handler_may_add(certs, alpha, wild):
    app = sni_app(certs)
    asked: list[str] = []

    @app.missing_server_name
    def missing(hostname: str) -> None:
        asked.append(hostname)
        if hostname == "alpha.test":
            app.add_server_name("alpha.test", alpha)
        if hostname.endswith(".wild.test"):
            app.add_server_name("*.wild.test", wild)

    port = listen_port(app)
    with serving(app):
        assert served_cn(port, certs, "alpha.test") == "alpha.test"  # added during the handshake
        assert served_cn(port, certs, "alpha.test") == "alpha.test"  # and kept
        assert served_cn(port, certs, "q.wild.test") == "*.wild.test"
        assert served_cn(port, certs, "r.wild.test") == "*.wild.test"
        assert served_cn(port, certs, "other.test") == "localhost"
    assert asked == ["alpha.test", "q.wild.test", "other.test"]


def test_missing_server_name_handler_errors_are_reported(certs):
    app = sni_app(certs)
    errors: list[BaseException] = []
    app.set_error_handler(lambda exc, res, req: errors.append(exc))

    @app.missing_server_name
    def missing(hostname: str) -> None:
        raise LookupError(f"no certificate for {hostname}")

    port = listen_port(app)
    with serving(app):
        assert served_cn(port, certs, "boom.test") == "localhost"  # the default still answers
    assert [str(e) for e in errors] == ["no certificate for boom.test"]


def test_per_name_client_certificates(certs):
    pair = certs.issue("secure", "secure.test", ["DNS:secure.test"])
    alice = certs.issue("alice-sni", "alice", ["DNS:alice.test"], client=True)
    app = sni_app(certs)
    app.get("/who", lambda res, req: res.end(repr(req.get_peer_certificate() is not None)))
    app.add_server_name("secure.test", options_for(pair, ca_file_name=str(certs.ca_cert)))
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(), "/who", server_hostname="localhost")
        assert body_of(data) == b"False"  # the default name asks for no certificate
        data, _ = https_get(
            port, certs.client_context(cert=alice), "/who", server_hostname="secure.test"
        )
        assert body_of(data) == b"True"
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            data, _ = https_get(port, certs.client_context(), "/who", server_hostname="secure.test")
            if not data:
                raise ssl.SSLError("closed without an answer")


def test_server_name_errors(certs, tmp_path):
    plain = App()
    with pytest.raises(TLSConfigError, match="needs an App serving TLS"):
        plain.add_server_name("a.test", options_for((certs.server_key, certs.server_cert)))
    app = sni_app(certs)
    missing = tmp_path / "none.pem"
    with pytest.raises(TLSConfigError, match=r"none\.pem"):
        app.add_server_name(
            "a.test", AppOptions(key_file_name=str(missing), cert_file_name=str(certs.server_cert))
        )
    good = options_for((certs.server_key, certs.server_cert))
    with pytest.raises(TLSConfigError, match=r"server name .bad name\.test."):
        app.add_server_name("bad name.test", good)  # checked before listen() too
    port = listen_port(app)
    try:
        for bad in ("bad name.test", "a*.test", "*", "*.", "x" * 300, ""):
            with pytest.raises(TLSConfigError, match="server name"):
                app.add_server_name(bad, good)
        with pytest.raises(TypeError):
            app.add_server_name("a.test", {"key_file_name": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            app.missing_server_name("not callable")  # type: ignore[arg-type]
        with pytest.raises(TLSConfigError, match=r"none\.pem"):  # after listen() as well
            app.add_server_name(
                "a.test",
                AppOptions(key_file_name=str(missing), cert_file_name=str(certs.server_cert)),
            )
        assert port > 0
    finally:
        app.close()


def test_names_added_before_listen_are_checked_at_once(certs, tmp_path):
    app = sni_app(certs)
    key, cert = certs.issue_dated("old", "old.test", "20200101000000Z", "20200201000000Z")
    with pytest.raises(TLSConfigError, match="expired"):
        app.add_server_name("old.test", options_for((key, cert)))
    app.close()
