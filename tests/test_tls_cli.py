"""``python -m socketify`` with the --ssl-* flags: HTTPS, mutual TLS, --workers, --uds.

Each test runs the command line in a subprocess, reads the ``listening on https://...`` line
and talks to it with Python's ssl client.  Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tls_support import Certs, make_certs

import socketify

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the epoll core and the openssl CLI"
)

SRC = str(Path(socketify.__file__).resolve().parents[1])
APP = """
import os
from socketify import App, AppOptions

app = App()


def whoami(res, req):
    cert = req.get_peer_certificate()
    name = dict(p for rdn in cert["subject"] for p in rdn)["commonName"] if cert else "-"
    res.end(f"{os.getpid()} {req.get_scheme()} {name}")


app.get("/", whoami)
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: Any) -> Certs:
    return make_certs(tmp_path_factory)


class Cli:
    """``python -m socketify`` in ``directory``; stdout lines collected by a thread."""

    def __init__(self, directory: Path, *args: str) -> None:
        (directory / "tlsapp.py").write_text(APP)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
        self.stderr_path = directory / "stderr.txt"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "socketify", "tlsapp:app", *args],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<EOF>")
            self._cond.notify_all()

    def listening(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    found = re.search(r"listening on (\S+)$", line)
                    if found:
                        return found.group(1)
                left = deadline - time.monotonic()
                if left <= 0 or "<EOF>" in self.lines:
                    raise AssertionError(f"not listening: {self.lines} {self.stderr()}")
                self._cond.wait(left)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._stderr.close()


def get(
    ctx: ssl.SSLContext,
    port: int = 0,
    uds: Optional[str] = None,
    timeout: float = 10.0,
    session: Any = None,
    seen: Optional[dict[str, Any]] = None,
) -> str:
    """GET / over TLS (resuming ``session`` when given); ``seen`` gets the connection's
    ``session`` and whether it was ``reused``."""
    if uds is not None:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        raw.connect(uds)
    else:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except ssl.SSLZeroReturnError:
                break
            if not chunk:
                break
            data += chunk
        if seen is not None:
            seen.update(session=tls.session, reused=tls.session_reused)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:200]
    return body.decode()


def tls_args(certs: Certs) -> list[str]:
    return ["--ssl-keyfile", str(certs.server_key), "--ssl-certfile", str(certs.server_cert)]


def test_cli_serves_https(tmp_path, certs):
    cli = Cli(tmp_path, "--port", "0", "--host", "127.0.0.1", *tls_args(certs))
    try:
        url = cli.listening()
        assert url.startswith("https://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        pid, scheme, name = get(certs.client_context(), port).split()
        assert (int(pid), scheme, name) == (cli.proc.pid, "https", "-")
    finally:
        assert cli.stop() == 0


def test_cli_mutual_tls_and_passphrase(tmp_path, certs):
    key, cert = certs.issue("cli-locked", "localhost", ["DNS:localhost"], passphrase="pw")
    alice = certs.issue("cli-alice", "alice", ["DNS:alice.test"], client=True)
    args = [
        "--port", "0", "--host", "127.0.0.1", "--ssl-keyfile", str(key), "--ssl-certfile",
        str(cert), "--ssl-keyfile-password", "pw", "--ssl-ca-certs", str(certs.ca_cert),
    ]  # fmt: skip
    cli = Cli(tmp_path, *args, "--ssl-cert-reqs", "1")  # optional
    try:
        port = int(cli.listening().rsplit(":", 1)[1])
        assert get(certs.client_context(), port).endswith("https -")
        assert get(certs.client_context(cert=alice), port).endswith("https alice")
    finally:
        assert cli.stop() == 0
    (tmp_path / "required").mkdir()
    cli = Cli(tmp_path / "required", *args)  # --ssl-ca-certs alone: required
    try:
        port = int(cli.listening().rsplit(":", 1)[1])
        assert get(certs.client_context(cert=alice), port).endswith("https alice")
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, AssertionError)):
            get(certs.client_context(), port)
    finally:
        assert cli.stop() == 0


def test_cli_workers_share_tls(tmp_path, certs):
    cli = Cli(tmp_path, "--port", "0", "--host", "127.0.0.1", "--workers", "2", *tls_args(certs))
    try:
        port = int(cli.listening().rsplit(":", 1)[1])
        pids = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            pid, scheme, _ = get(certs.client_context(), port).split()
            assert scheme == "https"
            pids.add(int(pid))
        assert len(pids) == 2 and cli.proc.pid not in pids  # both workers answer over TLS
    finally:
        assert cli.stop() == 0


def test_cli_workers_resume_each_others_sessions(tmp_path, certs):
    cli = Cli(tmp_path, "--port", "0", "--host", "127.0.0.1", "--workers", "2", *tls_args(certs))
    try:
        port = int(cli.listening().rsplit(":", 1)[1])
        ctx = certs.client_context()
        first: dict[str, Any] = {}
        issuer = get(ctx, port, seen=first).split()[0]
        assert first["session"] is not None and not first["reused"]
        resumed: dict[str, list[bool]] = {}
        for _ in range(40):  # the kernel spreads connections over the workers by hash
            seen: dict[str, Any] = {}
            pid = get(ctx, port, session=first["session"], seen=seen).split()[0]
            resumed.setdefault(pid, []).append(seen["reused"])
            if len(resumed) == 2 and len(resumed[issuer]) > 1:
                break
        assert len(resumed) == 2, resumed  # both workers were asked
        other = next(pid for pid in resumed if pid != issuer)
        assert all(resumed[other]) and all(resumed[issuer]), resumed  # one key for both
    finally:
        assert cli.stop() == 0


def test_cli_unix_socket_workers_with_tls(tmp_path, certs):
    path = str(tmp_path / "tls.sock")
    cli = Cli(tmp_path, "--uds", path, "--workers", "2", *tls_args(certs))
    try:
        assert cli.listening() == f"unix:{path}"
        for _ in range(4):
            assert get(certs.client_context(), uds=path).split()[1] == "https"
    finally:
        assert cli.stop() == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ssl-keyfile", "/no/such.key", "--ssl-certfile", "CERT"], "'/no/such.key': No such"),
        (["--ssl-keyfile", "KEY", "--ssl-certfile", "/no/such.pem"], "'/no/such.pem': No such"),
        (["--ssl-certfile", "CERT"], "TLS needs both key_file_name and cert_file_name"),
        (["--ssl-cert-reqs", "required", "--ssl-keyfile", "KEY", "--ssl-certfile", "CERT"],
         "needs ca_file_name"),
        (["--ssl-cert-reqs", "7"], "--ssl-cert-reqs: cert_reqs must be"),
        (["--ssl-ciphers", "BOGUS", "--ssl-keyfile", "KEY", "--ssl-certfile", "CERT"],
         "ssl_ciphers 'BOGUS'"),
    ],
)  # fmt: skip
def test_cli_bad_tls_configuration_exits_2(tmp_path, certs, extra, message):
    extra = [
        str(certs.server_key) if a == "KEY" else str(certs.server_cert) if a == "CERT" else a
        for a in extra
    ]
    cli = Cli(tmp_path, "--port", "0", *extra)
    try:
        assert cli.proc.wait(30) == 2
        err = cli.stderr()
        assert "socketify: error:" in err and message in err, err
    finally:
        cli.close()
