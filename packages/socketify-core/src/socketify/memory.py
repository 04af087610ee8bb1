"""MemoryConnection: one client connection with no socket, on the core's memory transport.

Bytes fed in go through the same parser, dispatch and writer as a socket's; what the core
writes collects in an output buffer that ``read()`` drains.  The TestClient is built on
this; so are the core's own tests.  Output that async handlers produce later appears once
the bound asyncio loop ran them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._native import ffi, lib

if TYPE_CHECKING:
    from .app import App

SC_ESTALE = -1


class MemoryConnection:
    __slots__ = ("_app", "_handle", "_native", "remote")

    def __init__(self, app: App, remote: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        host, port = remote
        self._app = app
        self._native = app._native_loop()
        self.remote = (host, port)
        handle = lib.sc_mem_open(self._native, host.encode("ascii"), port)
        if not handle:
            raise MemoryError("the core could not open a memory connection")
        self._handle = handle

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
        pointer = ffi.new("const char **")
        size = lib.sc_mem_output(self._native, self._handle, pointer)
        if size == 0:
            return b""
        data = ffi.unpack(pointer[0], size)
        lib.sc_mem_consume(self._native, self._handle, size)
        return data

    @property
    def open(self) -> bool:
        """False once the server closed the connection."""
        return lib.sc_mem_is_open(self._native, self._handle) == 1

    def set_capacity(self, capacity: int) -> None:
        """Bytes the fake socket takes per write (0 = unlimited); read() frees room."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity must be a non-negative int, not {capacity!r}")
        lib.sc_mem_set_capacity(self._native, self._handle, capacity)

    def close(self) -> None:
        """The client goes away (EOF): a response in flight is aborted."""
        if self._handle:
            lib.sc_mem_close(self._native, self._handle, 1)
            self._handle = 0

    def __repr__(self) -> str:
        return f"<MemoryConnection {self.remote[0]}:{self.remote[1]}>"
