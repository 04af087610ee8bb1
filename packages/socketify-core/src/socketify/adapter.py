"""The runtime of the ASGI and WSGI adapters: the App's Runtime, with dispatch handed to the
adapter (``app._dispatch(handle)``) instead of the router.  Everything else -- live
responses, on_data/on_aborted/on_writable, tasks, error reporting, finished hooks, the
memory transport -- is the App's own, unchanged."""

from __future__ import annotations

from typing import Any

from ._native import ffi, lib
from .runtime import Runtime

_unpack = ffi.unpack
_pack_headers = lib.sc_request_pack_headers
_FIELDS_CAP = 16 * 1024
_FIELDS = ffi.new("char[]", _FIELDS_CAP)  # PERF: one buffer, used on the loop thread only


def header_fields(view: Any) -> list[bytes]:
    """``[name, value, name, value, ...]`` of the request view: one C call and one split
    instead of two unpacks a field (names lower-cased; neither part can hold a NUL)."""
    size = _pack_headers(view, _FIELDS, _FIELDS_CAP)
    if not size:
        return []
    if size <= _FIELDS_CAP:
        return _unpack(_FIELDS, size - 1).split(b"\0")  # type: ignore[no-any-return]
    bigger = ffi.new("char[]", size)
    _pack_headers(view, bigger, size)
    return _unpack(bigger, size - 1).split(b"\0")  # type: ignore[no-any-return]


class AdapterRuntime(Runtime):
    def _on_request(self, handle: int) -> None:
        path = self.metrics_path
        if path is not None:  # app.metrics_route: that one path goes to the App's router
            view = self.view
            if view.path_len == len(path) and ffi.unpack(view.target, view.path_len) == path:
                Runtime._on_request(self, handle)
                return
        self.app._dispatch(handle)  # type: ignore[attr-defined]
