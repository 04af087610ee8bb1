"""Certificates made in the test run (the openssl command line) and a server in a thread.

``Certs(directory)`` makes a private CA and, on demand, certificates it signs: the server's
(``localhost``, ``127.0.0.1``), clients' (mutual TLS), SNI names, an encrypted key, an expired
and a not-yet-valid certificate (``openssl ca`` with explicit dates), DH parameters.  EC P-256
keys: quick to make on a loaded machine.  ``make_certs`` caches one set per session.

``serving(app)`` runs ``app.run()`` in a thread after the test's ``listen()`` and stops it
(close(), join) afterwards, every wait bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

START_TIMEOUT_S = 10.0


def ensure_openssl() -> str:
    """The openssl command line, installed with apt-get on a fresh CI machine."""
    found = shutil.which("openssl")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "openssl"], check=False, timeout=600)
        found = shutil.which("openssl")
    if found is None:
        raise RuntimeError("the openssl command line is needed to make test certificates")
    return found


OPENSSL = ensure_openssl()


def _run(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None, "the openssl command line is needed to make certificates"
    done = subprocess.run(
        [OPENSSL, *args], cwd=str(cwd), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.strip()}")


class Certs:
    """A CA and the certificates a test asks for, as files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_key = directory / "ca.key"
        self.ca_cert = directory / "ca.pem"
        _run(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(self.ca_key), "-out", str(self.ca_cert),
            "-subj", "/O=socketify tests/CN=socketify test CA", "-days", "30",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
        self._serial = 100
        self.server_key, self.server_cert = self.issue(
            "server", "localhost", ["DNS:localhost", "IP:127.0.0.1"]
        )

    def key(self, name: str, passphrase: Optional[str] = None) -> Path:
        path = self.dir / f"{name}.key"
        args = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        if passphrase is not None:
            args += ["-aes-256-cbc", "-pass", f"pass:{passphrase}"]
        _run(*args, "-out", str(path), cwd=self.dir)
        return path

    def _csr(self, name: str, cn: str, key: Path, passphrase: Optional[str]) -> Path:
        csr = self.dir / f"{name}.csr"
        args = ["req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/O=socketify/CN={cn}"]
        if passphrase is not None:
            args += ["-passin", f"pass:{passphrase}"]
        _run(*args, cwd=self.dir)
        return csr

    def issue(
        self,
        name: str,
        cn: str,
        sans: Optional[list[str]] = None,
        client: bool = False,
        passphrase: Optional[str] = None,
        days: int = 30,
    ) -> tuple[Path, Path]:
        """(key, certificate) for ``cn`` signed by the CA."""
        key = self.key(name, passphrase)
        csr = self._csr(name, cn, key, passphrase)
        ext = self.dir / f"{name}.ext"
        lines = [
            "basicConstraints=CA:FALSE",
            "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"),
        ]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        cert = self.dir / f"{name}.pem"
        self._serial += 1
        _run(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
            "-set_serial", str(self._serial), "-days", str(days), "-sha256",
            "-extfile", str(ext), "-out", str(cert),
            cwd=self.dir,
        )  # fmt: skip
        return key, cert

    def issue_dated(self, name: str, cn: str, start: str, end: str) -> tuple[Path, Path]:
        """A server certificate valid from ``start`` to ``end`` (YYYYMMDDHHMMSSZ), past or
        future: ``openssl ca`` is the command that takes explicit dates."""
        key = self.key(name)
        csr = self._csr(name, cn, key, None)
        db = self.dir / f"{name}-db"
        db.mkdir(exist_ok=True)
        (db / "index.txt").write_text("")
        self._serial += 1
        (db / "serial").write_text(f"{self._serial:04X}\n")
        config = db / "ca.cnf"
        config.write_text(
            "[ca]\ndefault_ca = here\n[here]\n"
            f"database = {db}/index.txt\nnew_certs_dir = {db}\nserial = {db}/serial\n"
            "default_md = sha256\npolicy = any\nunique_subject = no\n"
            "[any]\ncommonName = supplied\norganizationName = optional\n"
        )
        cert = self.dir / f"{name}.pem"
        _run(
            "ca", "-batch", "-config", str(config), "-cert", str(self.ca_cert),
            "-keyfile", str(self.ca_key), "-in", str(csr), "-out", str(cert),
            "-startdate", start, "-enddate", end, "-notext",
            cwd=self.dir,
        )  # fmt: skip
        return key, cert

    def dh_params(self) -> Path:
        path = self.dir / "dh.pem"
        if not path.exists():
            _run(
                "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
                "-out", str(path),
                cwd=self.dir,
            )  # fmt: skip
        return path

    def client_context(
        self,
        cert: Optional[tuple[Path, Path]] = None,
        server_hostname_check: bool = True,
        alpn: Optional[list[str]] = None,
        version: Optional[ssl.TLSVersion] = None,
    ) -> ssl.SSLContext:
        """A client that trusts the CA, optionally with a client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        ctx.check_hostname = server_hostname_check
        if cert is not None:
            ctx.load_cert_chain(str(cert[1]), str(cert[0]))
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        if version is not None:
            ctx.minimum_version = version
            ctx.maximum_version = version
        return ctx


_CACHE: dict[str, Certs] = {}


def make_certs(tmp_path_factory: Any) -> Certs:
    """One CA and server certificate per test session."""
    certs = _CACHE.get("main")
    if certs is None:
        certs = _CACHE["main"] = Certs(Path(tmp_path_factory.mktemp("tls")))
    return certs


@contextlib.contextmanager
def serving(app: Any) -> Iterator[None]:
    """Run ``app`` (already listening) in a thread until the block ends."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            app.run()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while app._stop is None and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        yield
    finally:
        app.close()
        thread.join(START_TIMEOUT_S)
        assert not thread.is_alive(), "the server did not stop"
        assert not errors, errors


def listen_port(app: Any) -> int:
    ports: list[int] = []
    app.listen({"port": 0, "host": "127.0.0.1"}, lambda config: ports.append(config.port))
    return ports[0]


def https_get(
    port: int,
    ctx: ssl.SSLContext,
    path: str = "/",
    server_hostname: str = "localhost",
    extra: bytes = b"",
    timeout: float = 10.0,
) -> tuple[bytes, ssl.SSLSocket]:
    """One request with Connection: close over a new TLS connection: (response, socket)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    tls = ctx.wrap_socket(raw, server_hostname=server_hostname)
    tls.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n".encode()
        + extra
        + b"\r\n"
    )
    data = b""
    while True:
        try:
            chunk = tls.recv(65536)
        except ssl.SSLZeroReturnError:
            break
        if not chunk:
            break
        data += chunk
    return data, tls


def body_of(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), response[:200]
    return body
