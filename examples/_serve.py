"""Shared by the examples: build an App, let the example add its routes, serve it.

Every example serves on http://127.0.0.1:8000 (or the port in the PORT environment
variable) when run as ``python examples/<name>.py``.
"""

from __future__ import annotations

import os
from typing import Callable

from socketify import App


def serve(register: Callable[[App], None]) -> None:
    app = App()
    register(app)
    port = int(os.environ.get("PORT", "8000"))
    app.listen(
        {"port": port, "host": "127.0.0.1"},
        lambda config: print(f"Listening on http://127.0.0.1:{config.port}", flush=True),
    )
    app.run()
