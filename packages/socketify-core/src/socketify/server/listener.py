"""Where the CLI's workers listen: bound once by the supervisor, shared by every worker.

TCP: the supervisor binds (never listens on) a socket with SO_REUSEPORT, which holds the
port for the life of the service (and picks it when ``--port 0``).  Each worker then
listens on its own SO_REUSEPORT socket of the same address, so the kernel spreads new
connections over the workers by hashing them: fair even when they come one at a time.
Before that, a probe socket without SO_REUSEPORT checks the port is not already served,
so a second service on the same port fails with EADDRINUSE instead of joining the group.

Unix socket: there is no SO_REUSEPORT for AF_UNIX, so the supervisor binds and listens
once, and every worker adopts the same descriptor (``sc_listen_fd``).  The core treats an
adopted listener as shared: one accept per wakeup, then it yields the CPU (csrc/listen.c),
so a burst of connections spreads over the workers instead of landing on the first one
awake.  A socket file left by a dead server (connecting is refused) is replaced; the file
is removed when the supervisor closes, unless someone replaced it meanwhile.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ..app import App

__all__ = ["BACKLOG", "Listener"]

BACKLOG = 1024
_DUAL_STACK_HOSTS = ("", "::")


def _tcp_socket(family: int, dual_stack: bool, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
    return sock


def _addresses(host: str, port: int) -> list[tuple[int, Any, bool]]:
    if host in _DUAL_STACK_HOSTS:
        return [(socket.AF_INET6, ("::", port), True)]
    infos = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    return [(family, address, False) for family, _, _, _, address in infos]


class Listener:
    """A TCP address (``host``, ``port``) or a Unix socket ``path``, bound once."""

    def __init__(self, host: str, port: int, path: Optional[str], sock: socket.socket) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.sock: Optional[socket.socket] = sock
        self._identity: Optional[tuple[int, int]] = None
        if path is not None:
            st = os.stat(path)
            self._identity = (st.st_dev, st.st_ino)

    # ---- in the supervisor --------------------------------------------------------------
    @classmethod
    def bind_tcp(cls, host: str, port: int) -> Listener:
        error: Optional[OSError] = None
        for family, address, dual_stack in _addresses(host, port):
            probe = _tcp_socket(family, dual_stack, reuse_port=False)
            try:
                probe.bind(address)
                bound = probe.getsockname()[1]
                sock = _tcp_socket(family, dual_stack, reuse_port=True)
                try:
                    sock.bind((address[0], bound, *address[2:]))
                except OSError:
                    sock.close()
                    raise
                return cls(host, bound, None, sock)
            except OSError as exc:
                error = exc
            finally:
                probe.close()
        assert error is not None
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}")

    @classmethod
    def bind_unix(cls, path: str) -> Listener:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.bind(path)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or not _stale(path):
                    raise
                os.unlink(path)
                sock.bind(path)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {path}: {exc.strerror}") from None
        return cls("", 0, path, sock)

    @property
    def url(self) -> str:
        return self.url_for("http")

    def url_for(self, scheme: str) -> str:
        """Where clients connect: ``scheme://host:port`` or ``unix:path``."""
        if self.path is not None:
            return f"unix:{self.path}"
        host = self.host or "::"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.path is not None and self._identity is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._identity:
                    os.unlink(self.path)
            except OSError:
                pass
            self._identity = None

    # ---- in a worker ------------------------------------------------------------------------
    def attach(self, app: App) -> None:
        """Make ``app`` accept on this address: its own SO_REUSEPORT socket (TCP) or the
        shared descriptor (Unix)."""
        if self.path is None:
            app.listen({"port": self.port, "host": self.host or None})
            return
        assert self.sock is not None
        fd = self.sock.detach()  # the core owns it now and closes it when the app stops
        self.sock = None
        try:
            app.adopt_listener(fd)
        except OSError as exc:
            os.close(fd)
            raise OSError(exc.errno, f"cannot adopt the socket of {self.path}: {exc}") from None

    def forget(self) -> None:
        """In a worker: drop the supervisor's copy (TCP; the worker has its own socket)."""
        if self.path is None and self.sock is not None:
            self.sock.close()
            self.sock = None
        self._identity = None  # the supervisor removes the file, never a worker


def _stale(path: str) -> bool:
    """True when ``path`` is a socket nobody accepts on (connecting is refused)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False
