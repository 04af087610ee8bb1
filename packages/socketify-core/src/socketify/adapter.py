"""The runtime of the ASGI and WSGI adapters: the App's Runtime, with dispatch handed to the
adapter (``app._dispatch(handle)``) instead of the router.  Everything else -- live
responses, on_data/on_aborted/on_writable, tasks, error reporting, finished hooks, the
memory transport -- is the App's own, unchanged."""

from __future__ import annotations

from typing import Any, Optional

from . import _bridge
from ._native import ffi, lib
from .runtime import Runtime

_unpack = ffi.unpack
_pack_request = lib.sc_loop_pack_request
_FIELDS_CAP = 16 * 1024


def new_fields() -> Any:
    """The buffer an adapter packs each request's head into (``_FIELDS_CAP`` bytes).  One
    per adapter, not per process: its loop runs on one thread, and two servers on two
    threads must not share one between the core's write and the unpacking, where the GIL
    may change hands."""
    return ffi.new("char[]", _FIELDS_CAP)


def pack_request(native: Any, fields: Any) -> bytes:
    """What ``sc_loop_pack_request`` packs of the loop's request view (valid during the
    core's on_request): into ``fields`` (the adapter's ``new_fields()``), or
    -- a head over its 16 KiB -- into one of the size the core asked for."""
    size = _pack_request(native, fields, _FIELDS_CAP)
    if size <= _FIELDS_CAP:
        return _unpack(fields, size)  # type: ignore[no-any-return]
    bigger = ffi.new("char[]", size)
    _pack_request(native, bigger, size)
    return _unpack(bigger, size)  # type: ignore[no-any-return]


class PerConnection:
    """Values kept by connection id (``sc_res_conn_id``) for one native loop (the ASGI
    adapter's clients, the WSGI adapter's environ keys).

    A loop never gives an id to two connections, but a new loop (after release()) counts
    from 1 again, so the values are kept with their loop (``loop``).  Closed connections'
    entries are dropped all at once when there are ``limit``.  PERF: a lookup is the
    caller's ``get`` and one identity test::

        value = cache.values.get(conn, MISSING)
        if value is MISSING or cache.loop is not native:
            value = ...  # read it, then cache.keep(native, conn, value)
    """

    __slots__ = ("limit", "loop", "values")

    def __init__(self, limit: int) -> None:
        self.values: dict[int, Any] = {}
        self.limit = limit
        self.loop: Any = None

    def keep(self, native: Any, conn: int, value: Any) -> None:
        values = self.values
        if native is not self.loop:
            values.clear()
            self.loop = native
        elif len(values) >= self.limit:
            values.clear()
        values[conn] = value


class AdapterRuntime(Runtime):
    # PERF: the core's on_request goes straight to ``app._dispatch`` (the bridge's table
    # holds that bound method: no frame of ours in between) unless app.metrics_route added
    # a path the App's router must see first; then it comes through ``_on_request``.
    @property  # type: ignore[override]
    def metrics_path(self) -> Optional[bytes]:
        return self._metrics_path

    @metrics_path.setter
    def metrics_path(self, path: Optional[bytes]) -> None:
        self._metrics_path = path
        self._route_requests()

    def native_loop(self) -> Any:
        fresh = self.native is None
        native = Runtime.native_loop(self)
        if fresh:
            self._route_requests()
        return native

    def _route_requests(self) -> None:
        if self.native is not None:  # registered with the bridge (native_loop)
            target = self._on_request
            if self._metrics_path is None:
                target = self.app._dispatch  # type: ignore[attr-defined]
            _bridge.route_requests(self.owner, target)

    def _on_request(self, handle: int) -> None:
        path = self._metrics_path
        if path is not None:  # app.metrics_route: that one path goes to the App's router
            view = self.view
            if view.path_len == len(path) and ffi.unpack(view.target, view.path_len) == path:
                Runtime._on_request(self, handle)
                return
        self.app._dispatch(handle)  # type: ignore[attr-defined]
