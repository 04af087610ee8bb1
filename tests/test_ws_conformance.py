"""Run the WebSocket conformance matrix (tests/ws_conformance.py) against our echo server."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _matrix():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("ws_conformance", HERE / "ws_conformance.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_conformance_case_passes() -> None:
    matrix = _matrix()
    app = matrix.echo_app()
    ports: list[int] = []
    app.listen({"port": 0, "host": "127.0.0.1"}, lambda config: ports.append(config.port))
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while app._stop is None and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        results = matrix.run_cases("127.0.0.1", ports[0], "/echo")
    finally:
        app.close()
        thread.join(5)
    failed = {name: why for name, why in results.items() if why is not None}
    assert len(results) > 90
    assert failed == {}
    groups = {name.split(".")[0] for name in results}
    assert {"1", "2", "3", "4", "5", "6", "7", "9", "12", "13"} <= groups
