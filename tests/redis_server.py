"""A real redis-server for the pub/sub tests: installed with apt-get when missing (CI runs
as root on a fresh machine), started on a free port (and a Unix socket), stopped after."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Optional


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"], check=True, capture_output=True
        )
        found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is not installed and apt-get could not install it")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl_binary() -> str:
    found = shutil.which("openssl")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "openssl"], check=True, capture_output=True
        )
        found = shutil.which("openssl")
    if not found:
        raise RuntimeError("openssl is not installed and apt-get could not install it")
    return found


class RedisServer:
    """One redis-server process; ``stop()`` and ``start()`` again keep port and socket.
    ``tls=True`` adds a TLS port with a self-signed certificate (``tls_url``)."""

    def __init__(self, tls: bool = False) -> None:
        self.binary = redis_server_binary()
        self.dir = tempfile.mkdtemp(prefix="sc-redis-")
        self.port = free_port()
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.tls_port = 0
        if tls:
            self.tls_port = free_port()
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            subprocess.run(
                [openssl_binary(), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True, capture_output=True,
            )  # fmt: skip

    @property
    def tls_url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0?ssl_ca_certs={self.cert}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.unix_path}?db=0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", self.unix_path,
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
        ]  # fmt: skip
        if self.tls_port:
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", self.cert,
                     "--tls-key-file", self.key, "--tls-auth-clients", "no"]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (RESP), the reply's bytes."""
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"".join(parts))
            time.sleep(0.02)
            return s.recv(65536)

    def numsub(self, channel: str) -> int:
        reply = self.command("PUBSUB", "NUMSUB", channel)
        # *2\r\n$N\r\nchannel\r\n:COUNT\r\n
        return int(reply.rsplit(b":", 1)[1].split(b"\r\n")[0])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
