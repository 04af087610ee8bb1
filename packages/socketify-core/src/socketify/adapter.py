"""The runtime of the ASGI and WSGI adapters: the App's Runtime, with dispatch handed to the
adapter (``app._dispatch(handle)``) instead of the router.  Everything else -- live
responses, on_data/on_aborted/on_writable, tasks, error reporting, finished hooks, the
memory transport -- is the App's own, unchanged."""

from __future__ import annotations

from .runtime import Runtime


class AdapterRuntime(Runtime):
    def _on_request(self, handle: int) -> None:
        self.app._dispatch(handle)  # type: ignore[attr-defined]
