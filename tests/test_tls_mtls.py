"""Mutual TLS: client certificates verified by the core, seen by handlers and WebSockets.

``ca_file_name`` turns verification on; ``cert_reqs`` chooses required (the default with a
CA) or optional (verified when presented).  Certificates are made in the run by openssl.
"""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_support import Certs, body_of, https_get, listen_port, make_certs, serving

from socketify import App, AppOptions
from socketify.tls import describe_cert

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the epoll core and the openssl CLI"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


@pytest.fixture(scope="module")
def alice(certs: Certs) -> tuple[Path, Path]:
    return certs.issue(
        "alice",
        "alice",
        ["email:alice@example.test", "URI:spiffe://example.test/alice", "DNS:alice.example.test"],
        client=True,
    )


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: Any) -> tuple[Path, Path]:
    """A client certificate from a CA the server does not trust."""
    other = Certs(Path(tmp_path_factory.mktemp("other-ca")))
    return other.issue("mallory", "mallory", ["DNS:mallory.example.test"], client=True)


def mtls_app(certs: Certs, cert_reqs: Any = None) -> App:
    options = AppOptions(
        key_file_name=str(certs.server_key),
        cert_file_name=str(certs.server_cert),
        ca_file_name=str(certs.ca_cert),
        cert_reqs=cert_reqs,
    )
    app = App(options)

    def whoami(res: Any, req: Any) -> None:
        cert = req.get_peer_certificate()
        der = req.get_peer_certificate(binary_form=True)
        if cert is None:
            res.end(f"anonymous der={der!r}")
            return
        subject = dict(pair for rdn in cert["subject"] for pair in rdn)
        res.end(f"hello {subject['commonName']} der={len(der)}")

    app.get("/", whoami)
    app.get("/cert", lambda res, req: res.end(repr(req.get_peer_certificate())))
    app.get(
        "/der",
        lambda res, req: res.end(req.get_peer_certificate(binary_form=True) or b"none"),
    )
    return app


def der_of(pem_path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def _fails_handshake(port: int, ctx: ssl.SSLContext) -> None:
    """The server refuses: in TLS 1.3 the client learns it on its first read."""
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        data, _ = https_get(port, ctx)
        if not data:
            raise ssl.SSLError("closed without an answer")


def test_required_client_certificate(certs, alice, stranger):
    app = mtls_app(certs)  # cert_reqs None + ca_file_name: required
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(cert=alice))
        assert body_of(data) == f"hello alice der={len(der_of(alice[1]))}".encode()
        _fails_handshake(port, certs.client_context())
        _fails_handshake(port, certs.client_context(cert=stranger))
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            data, _ = https_get(port, certs.client_context(cert=alice, version=version))
            assert body_of(data).startswith(b"hello alice")


def test_optional_client_certificate(certs, alice, stranger):
    app = mtls_app(certs, cert_reqs="optional")
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"anonymous der=None"
        data, _ = https_get(port, certs.client_context(cert=alice))
        assert body_of(data).startswith(b"hello alice")
        # presented but not trusted: still refused (verified when presented)
        _fails_handshake(port, certs.client_context(cert=stranger))


def test_cert_reqs_none_with_ca_does_not_ask(certs, alice):
    app = mtls_app(certs, cert_reqs=ssl.CERT_NONE)
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(cert=alice))
        assert body_of(data) == b"anonymous der=None"


def test_peer_certificate_dict_and_der(certs, alice):
    app = mtls_app(certs, cert_reqs=ssl.CERT_REQUIRED)
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(cert=alice), path="/der")
        assert body_of(data) == der_of(alice[1])
        data, _ = https_get(port, certs.client_context(cert=alice), path="/cert")
        cert = eval(body_of(data).decode())
    assert cert["subject"] == ((("organizationName", "socketify"),), (("commonName", "alice"),))
    assert cert["issuer"] == (
        (("organizationName", "socketify tests"),),
        (("commonName", "socketify test CA"),),
    )
    assert cert["subjectAltName"] == (
        ("email", "alice@example.test"),
        ("URI", "spiffe://example.test/alice"),
        ("DNS", "alice.example.test"),
    )
    assert cert["version"] == 3
    assert int(cert["serialNumber"], 16) > 100
    # the dates parse the way Python's own getpeercert() dates do
    assert ssl.cert_time_to_seconds(cert["notBefore"]) < ssl.cert_time_to_seconds(cert["notAfter"])
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is not None:  # CPython: the very dict its ssl module builds
        theirs = decode(str(alice[1]))
        for key in ("subject", "issuer", "version", "serialNumber", "notBefore", "notAfter"):
            assert cert[key] == theirs[key], key
        assert cert["subjectAltName"] == theirs["subjectAltName"]


def test_describe_cert_ip_and_errors(certs):
    _, cert = certs.issue("ips", "ips", ["IP:127.0.0.1", "IP:2001:db8::1", "DNS:x.test"])
    described = describe_cert(der_of(cert))
    assert described["subjectAltName"] == (
        ("IP Address", "127.0.0.1"),
        ("IP Address", "2001:DB8:0:0:0:0:0:1"),
        ("DNS", "x.test"),
    )
    with pytest.raises(ValueError, match="not a DER certificate"):
        describe_cert(b"\x30\x03garbage")
    with pytest.raises(ValueError, match="not a DER certificate"):
        describe_cert(b"")


def test_websocket_sees_the_client_certificate(certs, alice):
    import asyncio
    import time

    from websockets.asyncio.client import (
        connect,  # one thread per connection: see test_tls_ws_files
    )

    seen: list[Any] = []
    app = mtls_app(certs, cert_reqs="optional")

    def on_open(ws: Any) -> None:
        cert = ws.get_peer_certificate()
        seen.append(("open", ws.is_secure(), ws.get_tls_version(), cert and cert["subject"]))

    def on_message(ws: Any, message: Any, opcode: Any) -> None:
        der = ws.get_peer_certificate(binary_form=True)
        ws.send(f"{message}:{len(der) if der else 0}", opcode)

    def on_close(ws: Any, code: int, message: Any) -> None:
        cert = ws.get_peer_certificate()  # captured at the upgrade: still there
        seen.append(("close", cert and cert["subject"][1][0][1]))

    app.ws("/ws", {"open": on_open, "message": on_message, "close": on_close})
    port = listen_port(app)

    async def talk(ctx: ssl.SSLContext, text: str) -> str:
        async with connect(f"wss://localhost:{port}/ws", ssl=ctx, ping_interval=None) as ws:
            await ws.send(text)
            return str(await asyncio.wait_for(ws.recv(), 10))

    with serving(app):
        assert asyncio.run(talk(certs.client_context(cert=alice), "hi")) == (
            f"hi:{len(der_of(alice[1]))}"
        )
        assert asyncio.run(talk(certs.client_context(), "anon")) == "anon:0"
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert seen[0] == (
        "open",
        True,
        "TLSv1.3",
        ((("organizationName", "socketify"),), (("commonName", "alice"),)),
    )
    assert ("close", "alice") in seen
    assert ("open", True, "TLSv1.3", None) in seen


def test_plain_socket_client_gets_no_answer_without_certificate(certs):
    """A raw TLS 1.2 client without a certificate: the handshake itself fails."""
    app = mtls_app(certs)
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        ctx = certs.client_context(version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()


def test_asgi_app_gets_the_tls_extension(certs, alice):
    from socketify import ASGI

    seen: list[Any] = []

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append((scope["scheme"], scope["extensions"].get("tls")))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = ASGI(asgi_app, lifespan="off")
    app.configure_tls(
        AppOptions(
            key_file_name=str(certs.server_key),
            cert_file_name=str(certs.server_cert),
            ca_file_name=str(certs.ca_cert),
            cert_reqs="optional",
        )
    )
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(cert=alice))
        assert body_of(data) == b"ok"
        https_get(port, certs.client_context(version=ssl.TLSVersion.TLSv1_2))
    (scheme, ext), (scheme12, ext12) = seen
    assert scheme == scheme12 == "https"
    assert ext["tls_version"] == 0x0304 and ext12["tls_version"] == 0x0303
    assert ext["cipher_suite"] in (0x1301, 0x1302, 0x1303)
    assert ssl.PEM_cert_to_DER_cert(ext["server_cert"]) == der_of(certs.server_cert)
    assert [ssl.PEM_cert_to_DER_cert(p) for p in ext["client_cert_chain"]] == [der_of(alice[1])]
    assert ext["client_cert_name"] == "CN=alice,O=socketify"
    assert ext["client_cert_error"] is None
    assert ext12["client_cert_chain"] == [] and ext12["client_cert_name"] is None


def test_rfc4514_names():
    from socketify.tls import rfc4514_name

    name = ((("countryName", "DE"),), (("organizationName", "A, B + C"),), (("commonName", " x "),))
    assert rfc4514_name(name) == "CN=\\ x\\ ,O=A\\, B \\+ C,C=DE"
    multi = ((("commonName", "a"), ("userId", "7")),)
    assert rfc4514_name(multi) == "CN=a+UID=7"
    assert rfc4514_name(((("1.2.3.4", "#v"),),)) == "1.2.3.4=\\#v"
