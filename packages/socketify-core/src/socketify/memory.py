"""The in-memory transport seam: MemoryHost (what a test client drives) and MemoryConnection.

``MemoryConnection`` is one client connection with no socket, on the core's memory
transport: bytes fed in go through the same parser, dispatch and writer as a socket's; what
the core writes collects in an output buffer that ``read()`` drains.  Output that async
handlers produce later appears once the bound asyncio loop ran them.

``MemoryHost`` is the one interface a test client needs from whatever serves the bytes::

    host = app.memory_host()              # App implements it (app.AppMemoryHost)
    host.bind_loop(loop)                  # run the app's tasks on this asyncio loop
    await host.startup(); ...; await host.shutdown()   # lifespan
    previous = host.set_exception_sink(errors.append)  # every exception the app reports
    conn = host.open_connection(("127.0.0.1", 50000))  # a MemoryConnection

socketify_testing depends on this interface only (``memory_host()`` on the app object), so
an adapter that serves another kind of app on the core (ASGI, WSGI) is testable the same way
by giving it a ``memory_host()`` that returns a ``MemoryHost``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from ._native import ffi, lib

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["MemoryConnection", "MemoryHost", "host_for"]

ExceptionSink = Optional[Callable[[BaseException], Any]]

SC_ESTALE = -1
_output = lib.sc_mem_output
_consume = lib.sc_mem_consume
_unpack = ffi.unpack
# what MemoryConnection.set_tls reports as the version's and the cipher suite's numbers
_VERSION_IDS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_CIPHER_IDS = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
}


class MemoryConnection:
    __slots__ = ("_handle", "_native", "_out", "_rt", "remote")

    def __init__(self, rt: Runtime, remote: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        host, port = remote
        self._rt = rt
        self._native = rt.native_loop()
        self.remote = (host, port)
        handle = lib.sc_mem_open(self._native, host.encode("ascii"), port)
        if not handle:
            raise MemoryError("the core could not open a memory connection")
        self._handle = handle
        self._out = ffi.new("const char **")  # PERF: read() fills this one, no new per call

    def feed(self, data: bytes) -> None:
        """Deliver bytes as if the client sent them; sync handler parts run before this
        returns.  Raises ConnectionError when the server closed the connection."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"feed() takes bytes, not {type(data).__name__}")
        data = bytes(data)
        rc = lib.sc_mem_feed(self._native, self._handle, data, len(data))
        if rc == SC_ESTALE:
            raise ConnectionError("the server closed this connection")
        if rc < 0:
            raise OSError(f"sc_mem_feed failed with {rc}")

    def read(self) -> bytes:
        """Everything the server wrote since the last read (consumed)."""
        pointer = self._out
        size = _output(self._native, self._handle, pointer)
        if size == 0:
            return b""
        data = _unpack(pointer[0], size)
        _consume(self._native, self._handle, size)
        return data

    @property
    def writes(self) -> int:
        """How many writes the fake socket took (a socket would see as many send calls)."""
        return int(lib.sc_mem_writes(self._native, self._handle))

    @property
    def open(self) -> bool:
        """False once the server closed the connection."""
        return lib.sc_mem_is_open(self._native, self._handle) == 1

    def set_capacity(self, capacity: int) -> None:
        """Bytes the fake socket takes per write (0 = unlimited); read() frees room."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity must be a non-negative int, not {capacity!r}")
        lib.sc_mem_set_capacity(self._native, self._handle, capacity)

    def set_tls(
        self,
        *,
        version: str = "TLSv1.3",
        cipher: str = "TLS_AES_256_GCM_SHA384",
        cipher_bits: int = 256,
        alpn: Optional[str] = "http/1.1",
        server_name: Optional[str] = None,
        peer_cert: Optional[bytes] = None,
    ) -> None:
        """Play TLS on this connection (no handshake, no crypto): the app sees https and
        these facts, and ``peer_cert`` (DER) as the verified client certificate.  Call it
        before the first feed()."""
        values: list[tuple[int, Optional[bytes]]] = [
            (1, version.encode("ascii")),
            (2, cipher.encode("ascii")),
            (6, str(int(cipher_bits)).encode("ascii")),
            (7, str(_VERSION_IDS.get(version, 0)).encode("ascii")),
            (8, str(_CIPHER_IDS.get(cipher, 0)).encode("ascii")),
            (3, alpn.encode("ascii") if alpn else None),
            (4, server_name.encode("idna") if server_name else None),
            (5, bytes(peer_cert) if peer_cert else None),
        ]
        for key, value in values:
            if value is None:
                continue
            rc = lib.sc_mem_set_tls(self._native, self._handle, key, value, len(value))
            if rc == SC_ESTALE:
                raise ConnectionError("the server closed this connection")
            if rc < 0:
                raise OSError(f"sc_mem_set_tls failed with {rc}")

    def close(self) -> None:
        """The client goes away (EOF): a response in flight is aborted."""
        if self._handle:
            lib.sc_mem_close(self._native, self._handle, 1)
            self._handle = 0

    def __repr__(self) -> str:
        return f"<MemoryConnection {self.remote[0]}:{self.remote[1]}>"


class MemoryHost(Protocol):
    """What a test client needs from an app served on the core's memory transport."""

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the app's tasks on ``loop`` and watch the core there."""

    async def startup(self) -> None:
        """Run the app's startup (lifespan) handlers."""

    async def shutdown(self) -> None:
        """Run the app's shutdown (lifespan) handlers."""

    def set_exception_sink(self, sink: ExceptionSink) -> ExceptionSink:
        """Send every exception the app reports to ``sink``; returns the previous sink."""

    def open_connection(self, remote: tuple[str, int] = ("127.0.0.1", 50000)) -> MemoryConnection:
        """A new client connection from ``remote`` (host, port)."""


def host_for(app: Any) -> MemoryHost:
    """The MemoryHost of ``app`` (anything with a ``memory_host()`` method)."""
    factory = getattr(app, "memory_host", None)
    if not callable(factory):
        raise TypeError(
            f"{type(app).__name__} cannot be served in memory: it has no memory_host() "
            "(pass a socketify App, or an adapter that implements socketify.memory.MemoryHost)"
        )
    host: MemoryHost = factory()
    return host
