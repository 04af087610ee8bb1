"""TestClient over https: the memory connection plays TLS, so mTLS code is testable in memory.

``base_url="https://..."`` makes the app see https (scheme, server name, TLS version);
``client_cert=`` presents a certificate (an identity dict, PEM text, a PEM/DER file or DER
bytes) that the app reads with ``req.get_peer_certificate()`` as after a real handshake.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from socketify import ASGI, WSGI, App
from socketify.tls import describe_cert, identity_certificate
from socketify_testing import InvalidRequest, TestClient

ALICE = {
    "commonName": "alice",
    "organizationName": "acme",
    "subjectAltName": [("DNS", "alice.acme.test"), ("email", "alice@acme.test")],
}


def whoami_app() -> App:
    app = App()

    def whoami(res: Any, req: Any) -> None:
        cert = req.get_peer_certificate()
        res.send(
            {
                "scheme": req.get_scheme(),
                "secure": req.is_secure(),
                "version": req.get_tls_version(),
                "alpn": req.get_alpn_protocol(),
                "server_name": req.get_server_name(),
                "subject": cert and [list(map(list, rdn)) for rdn in cert["subject"]],
                "san": cert and [list(pair) for pair in cert.get("subjectAltName", ())],
                "der": len(req.get_peer_certificate(binary_form=True) or b""),
            }
        )

    def admin(res: Any, req: Any) -> None:
        cert = req.get_peer_certificate()
        subject = dict(pair for rdn in cert["subject"] for pair in rdn) if cert else {}
        if subject.get("commonName") != "alice":
            res.write_status(403).end("forbidden")
            return
        res.end("welcome alice")

    app.get("/", whoami)
    app.get("/admin", admin)
    return app


def test_http_base_is_plain() -> None:
    with TestClient(whoami_app()) as client:
        seen = client.get("/").json()
    assert seen == {
        "scheme": "http",
        "secure": False,
        "version": None,
        "alpn": None,
        "server_name": None,
        "subject": None,
        "san": None,
        "der": 0,
    }


def test_https_base_without_client_certificate() -> None:
    with TestClient(whoami_app(), base_url="https://api.example.test") as client:
        seen = client.get("/").json()
        assert client.get("/admin").status_code == 403
    assert seen["scheme"] == "https" and seen["secure"] is True
    assert seen["version"] == "TLSv1.3" and seen["alpn"] == "http/1.1"
    assert seen["server_name"] == "api.example.test"
    assert seen["subject"] is None and seen["der"] == 0


def test_client_identity_is_a_real_certificate() -> None:
    with TestClient(whoami_app(), base_url="https://testserver", client_cert=ALICE) as client:
        seen = client.get("/").json()
        assert client.get("/admin").text == "welcome alice"
    assert seen["subject"] == [[["commonName", "alice"]], [["organizationName", "acme"]]]
    assert seen["san"] == [["DNS", "alice.acme.test"], ["email", "alice@acme.test"]]
    assert seen["der"] > 100


def test_client_cert_from_pem_text_file_and_der(tmp_path: Path) -> None:
    der = identity_certificate({"commonName": "alice"})
    pem = ssl.DER_cert_to_PEM_cert(der)
    (tmp_path / "alice.pem").write_text(pem)
    (tmp_path / "alice.der").write_bytes(der)
    for cert in (pem, pem.encode(), der, tmp_path / "alice.pem", str(tmp_path / "alice.der")):
        with TestClient(whoami_app(), base_url="https://testserver", client_cert=cert) as client:
            assert client.get("/admin").text == "welcome alice", cert
            assert client.get("/").json()["der"] == len(der)


def test_someone_else_is_forbidden() -> None:
    bob = {"commonName": "bob"}
    with TestClient(whoami_app(), base_url="https://testserver", client_cert=bob) as client:
        response = client.get("/admin")
    assert (response.status_code, response.text) == (403, "forbidden")


def test_absolute_http_url_on_an_https_client_is_plain() -> None:
    with TestClient(whoami_app(), base_url="https://testserver", client_cert=ALICE) as client:
        assert client.get("http://testserver/").json()["scheme"] == "http"
        assert client.get("/").json()["scheme"] == "https"  # a TLS connection again


def test_bad_client_cert_is_refused() -> None:
    for bad, message in (
        (b"\x30\x03abc", "not a DER certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "no END CERTIFICATE"),
        (42, "a certificate is DER, PEM, a file path or a dict"),
        ({}, "non-empty dict"),
        ({"commonName": "a\nb"}, "one-line"),
        ({"noSuchField": "x"}, "OpenSSL refused the identity"),
    ):
        with pytest.raises(InvalidRequest) as info:
            TestClient(whoami_app(), base_url="https://testserver", client_cert=bad)
        assert str(info.value).startswith("client_cert: "), str(info.value)
        assert message in str(info.value), (bad, str(info.value))


def test_identity_certificate_round_trip() -> None:
    der = identity_certificate(ALICE, days=2)
    cert = describe_cert(der)
    assert cert["subject"] == ((("commonName", "alice"),), (("organizationName", "acme"),))
    assert cert["issuer"] == cert["subject"]  # self-signed
    assert ssl.cert_time_to_seconds(cert["notAfter"]) - ssl.cert_time_to_seconds(
        cert["notBefore"]
    ) == pytest.approx(2 * 86400 + 60, abs=5)
    assert identity_certificate(ALICE) != identity_certificate(ALICE)  # a fresh key each time


def test_websocket_over_https_base_sees_the_certificate() -> None:
    app = App()

    def on_open(ws: Any) -> None:
        cert = ws.get_peer_certificate()
        ws.send(f"{ws.is_secure()} {cert['subject'][0][0][1] if cert else '-'}")

    app.ws("/ws", {"open": on_open})
    with TestClient(app, base_url="https://testserver", client_cert=ALICE) as client:
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "True alice"
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "False -"


def test_asgi_and_wsgi_apps_see_https() -> None:
    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        body = scope["scheme"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.url_scheme"].encode()]

    for app in (ASGI(asgi_app), WSGI(wsgi_app)):
        with TestClient(app, base_url="https://testserver") as client:
            assert client.get("/").text == "https"
        with TestClient(app) as client:
            assert client.get("/").text == "http"


def test_asgi_app_gets_the_tls_extension_in_memory() -> None:
    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        tls = scope["extensions"].get("tls")
        body = repr(tls and (tls["client_cert_name"], tls["tls_version"], tls["cipher_suite"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    with TestClient(ASGI(asgi_app), base_url="https://testserver", client_cert=ALICE) as client:
        assert client.get("/").text == "('O=acme,CN=alice', 772, 4866)"
    with TestClient(ASGI(asgi_app)) as client:
        assert client.get("/").text == "None"
