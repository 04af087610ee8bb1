"""HTTPS served by the core's TLS layer (csrc/io_tls.c), driven by Python's ssl client.

Certificates are made in the run by the openssl command line (tls_support.Certs).  Every
test goes through real TLS sockets on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_support import Certs, body_of, https_get, listen_port, make_certs, serving

from socketify import App, AppOptions, TLSConfigError
from socketify._native import lib

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the epoll core and the openssl CLI"
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


def tls_app(certs: Certs, **settings: Any) -> App:
    options = AppOptions(key_file_name=str(certs.server_key), cert_file_name=str(certs.server_cert))
    return App(options, **settings)


def facts(res: Any, req: Any) -> None:
    res.end(
        repr(
            (
                req.get_scheme(),
                req.is_secure(),
                req.get_tls_version(),
                req.get_cipher(),
                req.get_alpn_protocol(),
                req.get_server_name(),
                req.get_peer_certificate(),
            )
        )
    )


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def open_connections(app: App) -> int:
    return int(lib.sc_loop_num_connections(app._rt.native))


# ---- serving HTTPS ------------------------------------------------------------------


def test_https_request_sees_tls_facts(certs):
    app = tls_app(certs)
    app.get("/", facts)
    port = listen_port(app)
    with serving(app):
        data, tls = https_get(port, certs.client_context(alpn=["http/1.1"]))
        seen = eval(body_of(data).decode())
        scheme, secure, version, cipher, alpn, name, peer = seen
        assert (scheme, secure, version, alpn, name, peer) == (
            "https",
            True,
            "TLSv1.3",
            "http/1.1",
            "localhost",
            None,
        )
        assert cipher == tls.cipher()  # what the client negotiated, name/version/bits
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_tls12_client_is_served_and_alpn_absent(certs):
    app = tls_app(certs)
    app.get("/", facts)
    port = listen_port(app)
    with serving(app):
        ctx = certs.client_context(version=ssl.TLSVersion.TLSv1_2)
        data, tls = https_get(port, ctx)
        seen = eval(body_of(data).decode())
        assert seen[2] == "TLSv1.2"
        assert seen[3][0].startswith("ECDHE-")  # forward secrecy, AEAD (the default list)
        assert seen[4] is None  # no ALPN offered
        assert tls.version() == "TLSv1.2"


def test_alpn_without_http11_is_refused(certs):
    app = tls_app(certs)
    app.get("/", facts)
    port = listen_port(app)
    with serving(app):
        with pytest.raises(ssl.SSLError, match=r"NO_APPLICATION_PROTOCOL|no application protocol"):
            https_get(port, certs.client_context(alpn=["h2"]))
        data, _ = https_get(port, certs.client_context(alpn=["h2", "http/1.1"]))
        assert b"'http/1.1'" in body_of(data)


def test_plain_app_reports_http(certs):
    app = App()
    app.get("/", facts)
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
        raw.close()
        assert eval(body_of(data).decode()) == ("http", False, None, None, None, None, None)


def test_keep_alive_and_pipelining_over_tls(certs):
    app = tls_app(certs)
    app.get("/n/:i", lambda res, req: res.end(f"n{req.get_parameter(0)}"))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = certs.client_context().wrap_socket(raw, server_hostname="localhost")
        tls.sendall(b"".join(f"GET /n/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(20)))
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1 200 OK") < 20 and time.monotonic() < deadline:
            data += tls.recv(65536)
        for i in range(20):
            assert f"\r\n\r\nn{i}".encode() in data
        tls.sendall(b"GET /n/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rest = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            rest += chunk
        assert rest.endswith(b"nlast")
        tls.close()


def test_large_bodies_both_ways(certs):
    blob = os.urandom(3 * 1024 * 1024 + 7)

    def echo(res, req):
        parts = []

        def on_data(_res, chunk, is_end):
            parts.append(bytes(chunk))
            if is_end:
                body = b"".join(parts)
                res.end(body[::-1])

        res.on_data(on_data)

    app = tls_app(certs)
    app.post("/echo", echo)
    app.get("/big", lambda res, req: res.end(blob))
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(), path="/big")
        assert body_of(data) == blob
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        tls = certs.client_context().wrap_socket(raw, server_hostname="localhost")
        tls.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Content-Length: {len(blob)}\r\n\r\n".encode()
            + blob
        )
        out = b""
        while True:
            try:
                chunk = tls.recv(1 << 20)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            out += chunk
        assert body_of(out) == blob[::-1]


def _records(raw: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each whole TLS record in raw."""
    out = []
    pos = 0
    while pos + 5 <= len(raw):
        kind, _version, size = struct.unpack_from(">BHH", raw, pos)
        if pos + 5 + size > len(raw):
            break
        out.append((kind, size))
        pos += 5 + size
    return out


def _memory_client(certs: Certs, sock: socket.socket) -> tuple[Any, Any, Any]:
    """A TLS client over memory BIOs on sock, handshake done: the raw records stay visible."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    sock.settimeout(0.5)  # session tickets may follow the handshake: drain them
    with contextlib.suppress(socket.timeout):
        for chunk in iter(lambda: sock.recv(65536), b""):
            incoming.write(chunk)
    sock.settimeout(10)
    return client, incoming, outgoing


def _read_until(sock: socket.socket, client: Any, incoming: Any, want: bytes, count: int = 1):
    """(raw bytes, plaintext) received until want was seen count times (or 10 s, or EOF)."""
    raw = b""
    plain = b""
    deadline = time.monotonic() + 10
    while plain.count(want) < count and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
        incoming.write(chunk)
        try:
            while True:
                plain += client.read(65536)
        except ssl.SSLWantReadError:
            pass
    return raw, plain


def test_cork_leaves_as_one_record_per_poll(certs):
    """Three pipelined requests answered in one poll: one SSL_write, so one TLS record."""
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("hello"))
    port = listen_port(app)
    with serving(app):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        client, incoming, outgoing = _memory_client(certs, sock)
        client.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        sock.sendall(outgoing.read())
        raw, plain = _read_until(sock, client, incoming, b"hello", 3)
        sock.close()
        assert plain.count(b"HTTP/1.1 200 OK") == 3
        assert len(_records(raw)) == 1, _records(raw)


def _libcrypto() -> Any:
    """The libcrypto the core is linked with (ldd of the core's module), already loaded."""
    import ctypes
    import subprocess

    from socketify import _native

    out = subprocess.run(["ldd", _native.__file__], capture_output=True, text=True).stdout
    paths = [
        line.split("=>")[1].split("(")[0].strip()
        for line in out.splitlines()
        if "libcrypto" in line and "=>" in line
    ]
    if not paths:  # linked statically, or no ldd: the queue cannot be reached from here
        pytest.skip(f"no separate libcrypto in the core's dependencies (ldd said: {out!r})")
    crypto = ctypes.CDLL(paths[0])
    crypto.ERR_peek_error.restype = ctypes.c_ulong
    return crypto


def _leave_openssl_error(crypto: Any) -> int:
    """Push an error on this thread's OpenSSL error queue, leave it there, return the
    queue's first error code (not 0 once pushed)."""
    if hasattr(crypto, "ERR_new"):  # OpenSSL 3
        crypto.ERR_new()
        crypto.ERR_set_error(20, 1, None)  # ERR_LIB_SSL, any reason, no text
    else:  # OpenSSL 1.1.1
        crypto.ERR_put_error(20, 0, 1, b"test", 1)
    return int(crypto.ERR_peek_error())


def test_error_left_on_the_loop_thread_does_not_fail_tls_reads(certs):
    """Other code on the loop thread (a handler using OpenSSL) leaves an error on the
    thread's queue; the next record then arrives in two pieces, so the first read of it
    stops for more (SSL_get_error must say "want read", which it only can with an
    empty queue): the connection goes on and answers."""
    crypto = _libcrypto()
    left: list[int] = []

    def dirty(res, req):
        left.append(_leave_openssl_error(crypto))
        res.end("dirty")

    app = tls_app(certs)
    app.get("/dirty", dirty)
    app.get("/", lambda res, req: res.end("clean"))
    port = listen_port(app)
    with serving(app):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        client, incoming, outgoing = _memory_client(certs, sock)
        for _ in range(3):
            client.write(b"GET /dirty HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.sendall(outgoing.read())
            _, plain = _read_until(sock, client, incoming, b"dirty")
            assert plain.endswith(b"dirty")
            client.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            record = outgoing.read()
            sock.sendall(record[:9])  # the header and a few bytes: the read waits for more
            time.sleep(0.2)
            sock.sendall(record[9:])
            _, plain = _read_until(sock, client, incoming, b"clean")
            assert plain.endswith(b"clean"), plain
        assert open_connections(app) == 1
        assert len(left) == 3 and all(left), left  # the errors were on the queue
        sock.close()
        assert wait_for(lambda: open_connections(app) == 0)


# ---- configuration errors at listen() -----------------------------------------------


def _listen_error(options: AppOptions, **settings: Any) -> str:
    app = App(options, **settings)
    try:
        with pytest.raises(TLSConfigError) as info:
            app.listen(0)
        assert app._listeners == []  # nothing was bound
        return str(info.value)
    finally:
        app.close()


def test_config_missing_files(certs, tmp_path):
    missing = str(tmp_path / "nope.pem")
    key, cert = str(certs.server_key), str(certs.server_cert)
    msg = _listen_error(AppOptions(key_file_name=missing, cert_file_name=cert))
    assert "key_file_name" in msg and missing in msg and "No such file" in msg
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=missing))
    assert "cert_file_name" in msg and missing in msg and "No such file" in msg
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=cert, ca_file_name=missing))
    assert "ca_file_name" in msg and missing in msg
    msg = _listen_error(
        AppOptions(key_file_name=key, cert_file_name=cert, dh_params_file_name=missing)
    )
    assert "dh_params_file_name" in msg and missing in msg
    msg = _listen_error(AppOptions(key_file_name=key))
    assert "both key_file_name and cert_file_name" in msg


def test_config_bad_key_files(certs, tmp_path):
    cert = str(certs.server_cert)
    junk = tmp_path / "junk.key"
    junk.write_text("this is not a key\n")
    msg = _listen_error(AppOptions(key_file_name=str(junk), cert_file_name=cert))
    assert str(junk) in msg and "not a PEM private key" in msg
    other_key = certs.key("other")
    msg = _listen_error(AppOptions(key_file_name=str(other_key), cert_file_name=cert))
    assert "does not match" in msg and str(other_key) in msg and cert in msg


def test_config_passphrase(certs):
    key, cert = certs.issue("locked", "localhost", ["DNS:localhost"], passphrase="s3cret")
    msg = _listen_error(AppOptions(key_file_name=str(key), cert_file_name=str(cert)))
    assert str(key) in msg and "encrypted" in msg and "passphrase" in msg
    msg = _listen_error(
        AppOptions(key_file_name=str(key), cert_file_name=str(cert), passphrase="wrong")
    )
    assert str(key) in msg and "wrong passphrase" in msg
    app = App(AppOptions(key_file_name=str(key), cert_file_name=str(cert), passphrase="s3cret"))
    app.get("/", lambda res, req: res.end("unlocked"))
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"unlocked"


def test_config_bad_certificates(certs, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    msg = _listen_error(AppOptions(key_file_name=str(certs.server_key), cert_file_name=str(junk)))
    assert str(junk) in msg and "not a PEM certificate" in msg
    key, cert = certs.issue_dated("expired", "localhost", "20200101000000Z", "20200201000000Z")
    msg = _listen_error(AppOptions(key_file_name=str(key), cert_file_name=str(cert)))
    assert str(cert) in msg and "expired on Feb  1 00:00:00 2020 GMT" in msg
    key, cert = certs.issue_dated("future", "localhost", "20991201000000Z", "21000101000000Z")
    msg = _listen_error(AppOptions(key_file_name=str(key), cert_file_name=str(cert)))
    assert str(cert) in msg and "not valid before Dec  1 00:00:00 2099 GMT" in msg


def test_config_other_errors(certs, tmp_path):
    key, cert = str(certs.server_key), str(certs.server_cert)
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=cert, ssl_ciphers="NOPE"))
    assert "ssl_ciphers 'NOPE'" in msg
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=cert, cert_reqs="required"))
    assert "needs ca_file_name" in msg
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=cert, cert_reqs="maybe"))
    assert "cert_reqs must be none, optional or required" in msg
    junk = tmp_path / "dh.pem"
    junk.write_text("nothing\n")
    msg = _listen_error(
        AppOptions(key_file_name=key, cert_file_name=cert, dh_params_file_name=str(junk))
    )
    assert str(junk) in msg and "DH parameters" in msg
    msg = _listen_error(AppOptions(key_file_name=key, cert_file_name=cert, ca_file_name=str(junk)))
    assert str(junk) in msg and "no PEM CA certificate" in msg


def test_dh_params_and_low_memory_and_ciphers(certs):
    options = AppOptions(
        key_file_name=str(certs.server_key),
        cert_file_name=str(certs.server_cert),
        dh_params_file_name=str(certs.dh_params()),
        ssl_ciphers="ECDHE-ECDSA-CHACHA20-POLY1305",
        ssl_prefer_low_memory_usage=1,
    )
    app = App(options)
    app.get("/", facts)
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(version=ssl.TLSVersion.TLSv1_2))
        assert eval(body_of(data).decode())[3][0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
        for _ in range(3):  # buffers released between requests, still serving
            data, _ = https_get(port, certs.client_context())
            assert b"TLSv1.3" in body_of(data)


# ---- hostile and broken clients ---------------------------------------------------


def _closed_within(sock: socket.socket, timeout: float) -> bytes:
    """Read until the server closes (b"" or a reset); what arrived.  Fails on timeout."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got
    except socket.timeout:
        pytest.fail(f"the server kept the connection open for {timeout}s")


def test_plain_http_to_tls_port_is_closed(certs):
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = _closed_within(raw, 5)
        raw.close()
        assert b"HTTP/1.1" not in got  # at most a TLS alert, never plaintext
        if got:
            assert got[0] == 21  # alert record
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"ok"
        assert wait_for(lambda: open_connections(app) == 0)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x00\x05hello",  # a handshake record holding no ClientHello
        b"\x16\x03\x01\xff\xff" + b"\x01" * 100,  # a record longer than allowed
        os.urandom(64) + b"\x00",
        b"\x80\x2e\x01\x03\x01" + b"\x00" * 45,  # SSLv2-style hello
    ],
)
def test_garbage_client_hello_is_closed(certs, garbage):
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(garbage)
        if garbage[:1] == b"\x16" and garbage[3:5] == b"\xff\xff":
            raw.shutdown(socket.SHUT_WR)  # truncated: the record never completes
        _closed_within(raw, 5)
        raw.close()
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"ok"
        assert wait_for(lambda: open_connections(app) == 0)


def _client_hello(certs: Certs) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("setting", [0.3, 1])
def test_stalled_handshake_times_out(certs, setting):
    app = tls_app(certs, tls_handshake_timeout=setting, idle_timeout=0, header_timeout=0)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    hello = _client_hello(certs)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(hello[: len(hello) // 2])  # half a ClientHello, then nothing
        started = time.monotonic()
        _closed_within(raw, 10)
        waited = time.monotonic() - started
        raw.close()
        assert waited >= setting * 0.9  # not before the setting
        assert wait_for(lambda: open_connections(app) == 0)


def test_slow_handshake_within_the_timeout_is_served(certs):
    """Below the limit: a ClientHello sent in two halves 0.3 s apart, timeout 2 s."""
    app = tls_app(certs, tls_handshake_timeout=2)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = certs.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            client.do_handshake()
        hello = outgoing.read()
        raw.sendall(hello[:40])
        time.sleep(0.3)
        raw.sendall(hello[40:])
        while True:
            try:
                client.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        client.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw.sendall(outgoing.read())
        plain = b""
        while not plain.endswith(b"ok"):
            chunk = raw.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
            try:
                plain += client.read(65536)
            except ssl.SSLWantReadError:
                pass
        raw.close()
        assert plain.startswith(b"HTTP/1.1 200") and plain.endswith(b"ok")


def test_handshake_timeout_zero_keeps_waiting(certs):
    app = tls_app(certs, tls_handshake_timeout=0, idle_timeout=0, header_timeout=0)
    port = listen_port(app)
    hello = _client_hello(certs)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(hello[:20])
        raw.settimeout(1.0)
        with pytest.raises(socket.timeout):
            raw.recv(1)  # no limit: still open after a second
        assert open_connections(app) == 1
        raw.close()
        assert wait_for(lambda: open_connections(app) == 0)


def test_reset_mid_record_frees_the_connection(certs):
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        for _ in range(5):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            tls = certs.client_context().wrap_socket(raw, server_hostname="localhost")
            # the start of an application-data record on the raw socket, then a reset
            raw_fd = socket.socket(fileno=os.dup(tls.fileno()))
            raw_fd.sendall(b"\x17\x03\x03\x40\x00" + b"\x00" * 100)
            raw_fd.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw_fd.close()
            tls.close()
        assert wait_for(lambda: open_connections(app) == 0)
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"ok"


def test_client_renegotiation_is_refused(certs):
    openssl = os.environ.get("OPENSSL", "openssl")
    import shutil
    import subprocess

    if shutil.which(openssl) is None:
        pytest.fail("the openssl command line is needed")
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        proc = subprocess.Popen(
            [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
             "-CAfile", str(certs.ca_cert), "-servername", "localhost"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            # s_client starts a renegotiation on a line "R"; then a request
            out, _ = proc.communicate(b"R\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        text = out.decode("latin-1")
        assert "RENEGOTIATING" in text
        assert "no renegotiation" in text.lower() or "alert" in text.lower()
        assert wait_for(lambda: open_connections(app) == 0)
        data, _ = https_get(port, certs.client_context())
        assert body_of(data) == b"ok"


def test_many_handshakes_do_not_grow_connections(certs):
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        ctx = certs.client_context()
        for _ in range(30):
            data, tls = https_get(port, ctx)
            tls.close()
            assert body_of(data) == b"ok"
        assert wait_for(lambda: open_connections(app) == 0)


def test_session_resumption_with_tickets(certs):
    app = tls_app(certs)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        ctx = certs.client_context(version=ssl.TLSVersion.TLSv1_2)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        first = ctx.wrap_socket(raw, server_hostname="localhost")
        first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.recv(4096).startswith(b"HTTP/1.1 200")
        session = first.session
        first.close()
        assert session is not None and session.has_ticket
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        second = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert second.recv(4096).startswith(b"HTTP/1.1 200")
        assert second.session_reused
        second.close()


def test_preserved_request_keeps_scheme_and_tls_facts(certs):
    import asyncio

    app = tls_app(certs, proxy_headers=True, forwarded_allow_ips="127.0.0.1")

    async def later(res, req):
        req.preserve()
        await asyncio.sleep(0.01)
        res.end(f"{req.get_scheme()} {req.get_tls_version()} {req.is_secure()}")

    app.get("/later", later)
    port = listen_port(app)
    with serving(app):
        data, _ = https_get(port, certs.client_context(), "/later")
        assert body_of(data) == b"https TLSv1.3 True"
        data, _ = https_get(
            port, certs.client_context(), "/later", extra=b"X-Forwarded-Proto: http\r\n"
        )
        assert body_of(data) == b"http TLSv1.3 True"  # the trusted proxy's word for the scheme


def _v2_header(src: str, dst: str, sport: int, dport: int) -> bytes:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return sig + b"\x21\x11" + struct.pack(">H", len(body)) + body


@pytest.mark.parametrize(
    "header, seen",
    [
        (b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n", b"192.0.2.7"),
        (b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n", b"2001:db8::7"),
        (_v2_header("198.51.100.9", "10.0.0.1", 1234, 443), b"198.51.100.9"),
    ],
)
def test_proxy_protocol_header_before_the_handshake(certs, header, seen):
    """A load balancer sends its PROXY header in the clear, then the client's TLS."""
    app = tls_app(certs, proxy_protocol=True)
    app.get("/", lambda res, req: res.end(f"{res.get_proxied_remote_address()} {req.get_scheme()}"))
    port = listen_port(app)
    with serving(app):
        for split in (False, True):  # the header alone, or in the same packet as the hello
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            if split:
                raw.sendall(header)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            client = certs.client_context().wrap_bio(
                incoming, outgoing, server_hostname="localhost"
            )
            first = True
            while True:
                try:
                    client.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    data = outgoing.read()
                    if first and not split:
                        data = header + data
                    first = False
                    raw.sendall(data)
                    incoming.write(raw.recv(65536))
            client.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw.sendall(outgoing.read())
            plain = b""
            while not plain.endswith(b" https"):
                chunk = raw.recv(65536)
                if not chunk:
                    break
                incoming.write(chunk)
                try:
                    plain += client.read(65536)
                except ssl.SSLWantReadError:
                    pass
            raw.close()
            assert body_of(plain) == seen + b" https"


@pytest.mark.parametrize(
    "first",
    [
        b"",  # a client that skipped the load balancer: straight to TLS
        b"PROXY " + b"x" * 200,  # a v1 line longer than allowed
        b"\r\n\r\n\x00\r\nQUIX\n" + b"\x00" * 8,  # a broken v2 signature
    ],
)
def test_missing_or_bad_proxy_header_before_tls_is_closed(certs, first):
    app = tls_app(certs, proxy_protocol=True)
    app.get("/", lambda res, req: res.end("ok"))
    port = listen_port(app)
    with serving(app):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(first or _client_hello(certs))
        _closed_within(raw, 5)
        raw.close()
        assert wait_for(lambda: open_connections(app) == 0)


@pytest.mark.parametrize("size", [0, 16, 79, 81])
def test_session_ticket_keys_of_the_wrong_size_are_refused(certs: Certs, size: int) -> None:
    from socketify._native import ffi

    config = ffi.new("sc_tls_config *")
    key, cert = (
        ffi.new("char[]", str(certs.server_key).encode()),
        ffi.new("char[]", str(certs.server_cert).encode()),
    )
    config.key_file, config.cert_file = key, cert
    keys = ffi.new("char[]", b"k" * max(size, 1))
    config.ticket_keys = keys if size else ffi.NULL
    config.ticket_keys_len = size if size else 80  # 0: a length without keys
    err = ffi.new("char[]", 512)
    assert lib.sc_tls_new(config, err, 512) == ffi.NULL
    assert f"session ticket keys must be 80 bytes, not {size or 80}" in ffi.string(err).decode()
    right = ffi.new("char[]", b"k" * 80)  # kept alive: the struct holds a raw pointer
    config.ticket_keys, config.ticket_keys_len = right, 80
    made = lib.sc_tls_new(config, err, 512)
    assert made != ffi.NULL  # the right size is taken
    lib.sc_tls_free(made)
