"""Behind a load balancer: proxy_headers / forwarded_allow_ips (--proxy-headers,
--forwarded-allow-ips), through the TestClient and real sockets, for the socketify API and
the ASGI/WSGI scopes."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from socketify import ASGI, WSGI, App
from socketify.errors import InvalidSetting
from socketify.proxy import ProxyHeaders, parse_forwarded
from socketify_testing import TestClient


# ---- trust and parsing ---------------------------------------------------------------------------
def test_trusted_peers_are_addresses_networks_star_and_unix():
    proxy = ProxyHeaders("127.0.0.1, 10.0.0.0/8, 2001:db8::/32")
    assert proxy.trusts("127.0.0.1") and proxy.trusts("10.1.2.3") and proxy.trusts("2001:db8::5")
    assert proxy.trusts("::ffff:127.0.0.1")  # an IPv4-mapped peer on a dual-stack socket
    assert not proxy.trusts("127.0.0.2") and not proxy.trusts("") and not proxy.trusts("junk")
    assert ProxyHeaders("unix").trusts("") and not ProxyHeaders("unix").trusts("10.0.0.1")
    assert ProxyHeaders("*").trusts("203.0.113.9") and ProxyHeaders("*").trusts("")


def test_the_default_trust_is_localhost_or_the_environment(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert ProxyHeaders().trusts("127.0.0.1") and not ProxyHeaders().trusts("10.0.0.1")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1")
    assert ProxyHeaders().trusts("10.0.0.1") and not ProxyHeaders().trusts("127.0.0.1")


@pytest.mark.parametrize("bad", ["nope", "10.0.0.0/99", "127.0.0.1,example.com"])
def test_a_bad_trust_list_is_refused_with_the_entry(bad):
    with pytest.raises(ValueError, match="is not an IP address, a network"):
        ProxyHeaders(bad)
    with pytest.raises(InvalidSetting, match="forwarded_allow_ips"):
        App(proxy_headers=True, forwarded_allow_ips=bad)
    with pytest.raises(TypeError):
        App(forwarded_allow_ips=["127.0.0.1"])


def test_forwarded_elements_quotes_and_ipv6():
    header = 'for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'
    assert parse_forwarded(header) == [
        {"for": "192.0.2.60", "proto": "https", "by": "203.0.113.43"},
        {"for": "[2001:db8:cafe::17]:4711"},
    ]
    assert parse_forwarded('for="a;b,c";proto=http') == [{"for": "a;b,c", "proto": "http"}]
    assert parse_forwarded("for=1.2.3.4, garbage") == [{"for": "1.2.3.4"}]


def headers(**values):
    lowered = {name.replace("_", "-"): value for name, value in values.items()}
    return lowered.get


def test_the_client_is_the_first_untrusted_address_from_the_right():
    proxy = ProxyHeaders("127.0.0.1,10.0.0.0/8")
    # a client-supplied first entry cannot win: the proxies' own entries are on the right
    xff = headers(x_forwarded_for="6.6.6.6, 203.0.113.7, 10.0.0.2")
    assert proxy.resolve("127.0.0.1", xff) == ("203.0.113.7", None)
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_for="10.0.0.3")) == ("10.0.0.3", None)
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_for="unknown")) == (None, None)
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_for="203.0.113.7:8080")) == (
        "203.0.113.7",
        None,
    )
    # an untrusted peer's headers are ignored
    assert proxy.resolve("198.51.100.1", xff) == (None, None)


def test_the_scheme_is_the_last_proto_and_forwarded_wins():
    proxy = ProxyHeaders("127.0.0.1")
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_proto="http, https"))[1] == "https"
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_proto="wss"))[1] == "https"
    assert proxy.resolve("127.0.0.1", headers(x_forwarded_proto="gopher"))[1] is None
    both = headers(forwarded="for=203.0.113.9;proto=https", x_forwarded_for="6.6.6.6")
    assert proxy.resolve("127.0.0.1", both) == ("203.0.113.9", "https")


# ---- the socketify API -------------------------------------------------------------------------
def who_app(**settings):
    app = App(**settings)
    app.get("/", lambda res, req: res.end(f"{res.get_remote_address()} {req.get_scheme()}"))
    return app


FORWARDED = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}


def test_a_trusted_proxy_sets_the_address_and_scheme_handlers_see():
    with TestClient(who_app(proxy_headers=True)) as client:
        assert client.get("/", headers=FORWARDED).text == "203.0.113.7 https"
        assert client.get("/").text == "127.0.0.1 http"  # no headers: the peer


def test_untrusted_peers_and_the_default_off_ignore_the_headers():
    untrusted = who_app(proxy_headers=True, forwarded_allow_ips="10.0.0.1")
    with TestClient(untrusted) as client:
        assert client.get("/", headers=FORWARDED).text == "127.0.0.1 http"
    with TestClient(who_app()) as client:  # proxy_headers is off by default
        assert client.get("/", headers=FORWARDED).text == "127.0.0.1 http"
    remote = who_app(proxy_headers=True)
    with TestClient(remote, client=("198.51.100.4", 1234)) as client:
        assert client.get("/", headers=FORWARDED).text == "198.51.100.4 http"


def test_the_forwarded_header_and_bytes_of_the_address():
    app = App(proxy_headers=True)
    app.get("/", lambda res, req: res.end(res.get_remote_address_bytes()))
    with TestClient(app) as client:
        got = client.get("/", headers={"forwarded": 'for="[2001:db8::1]:99";proto=https'})
        assert got.content == bytes.fromhex("20010db8000000000000000000000001")


def test_real_sockets_with_http_client(serve):
    with serve(who_app(proxy_headers=True)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/", headers=FORWARDED)
        assert conn.getresponse().read() == b"203.0.113.7 https"
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"127.0.0.1 http"
        conn.close()


# ---- ASGI and WSGI scopes ------------------------------------------------------------------------
async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        return
    body = f"{scope['client'][0]} {scope['client'][1]} {scope['scheme']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [
        f"{environ['REMOTE_ADDR']} {environ['REMOTE_PORT']} {environ['wsgi.url_scheme']}".encode()
    ]


def test_the_asgi_scope_sees_the_forwarded_client_and_scheme():
    with TestClient(ASGI(asgi_app, proxy_headers=True)) as client:
        assert client.get("/", headers=FORWARDED).text == "203.0.113.7 0 https"
        assert client.get("/").text == "127.0.0.1 50000 http"


def test_the_wsgi_environ_sees_the_forwarded_client_and_scheme():
    with TestClient(WSGI(wsgi_app, proxy_headers=True)) as client:
        assert client.get("/", headers=FORWARDED).text == "203.0.113.7 0 https"
        assert client.get("/").text == "127.0.0.1 50000 http"
    with TestClient(WSGI(wsgi_app)) as client:
        assert client.get("/", headers=FORWARDED).text == "127.0.0.1 50000 http"


def test_the_access_log_and_finished_hooks_see_the_forwarded_client():
    seen = []
    app = who_app(proxy_headers=True)
    app.on_finished(lambda res, info: seen.append(info.client))
    with TestClient(app) as client:
        client.get("/", headers=FORWARDED)
        client.get("/")
    assert seen == ["203.0.113.7", "127.0.0.1"]
