"""The runtime of the ASGI and WSGI adapters: the App's Runtime, with dispatch handed to the
adapter (``app._dispatch(handle)``) instead of the router.  Everything else -- live
responses, on_data/on_aborted/on_writable, tasks, error reporting, finished hooks, the
memory transport -- is the App's own, unchanged."""

from __future__ import annotations

from ._native import ffi
from .runtime import Runtime


class AdapterRuntime(Runtime):
    def _on_request(self, handle: int) -> None:
        path = self.metrics_path
        if path is not None:  # app.metrics_route: that one path goes to the App's router
            view = self.view
            if view.path_len == len(path) and ffi.unpack(view.target, view.path_len) == path:
                Runtime._on_request(self, handle)
                return
        self.app._dispatch(handle)  # type: ignore[attr-defined]
