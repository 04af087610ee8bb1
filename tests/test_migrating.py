"""docs/migrating.md's tables of the original's public names match our classes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from socketify import App, AppRequest, AppResponse, WebSocket

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migrating.md"
CLASSES = {"App": App, "AppResponse": AppResponse, "AppRequest": AppRequest, "WebSocket": WebSocket}
STATUSES = {"same", "fixed", "changed", "renamed", "not provided"}


def tables() -> dict[str, list[tuple[str, str, str]]]:
    found: dict[str, list[tuple[str, str, str]]] = {}
    current = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### (\w+)$", line)
        if heading:
            current = heading.group(1)
            found[current] = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current and len(cells) == 4 and cells[0] not in ("original", "---"):
            found[current].append((cells[0], cells[1], cells[2]))
    return found


def test_the_page_has_a_table_per_class() -> None:
    assert set(tables()) == set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_row_matches_the_code(name: str) -> None:
    ours = CLASSES[name]
    rows = tables()[name]
    assert len(rows) >= 10
    originals = [row[0] for row in rows]
    assert len(originals) == len(set(originals)), "a name listed twice"
    for original, our_name, status in rows:
        assert status in STATUSES, (original, status)
        if status in ("same", "fixed", "changed"):
            assert our_name == original, original
            assert hasattr(ours, original), f"{name}.{original} is marked {status}"
        elif status == "renamed":
            assert our_name != original and hasattr(ours, our_name), original
            assert not hasattr(ours, original), f"{name}.{original} exists: not renamed"
        else:
            assert our_name == "-"
            assert not hasattr(ours, original), f"{name}.{original} exists: not 'not provided'"


def test_the_object_graph_users_reach_for() -> None:
    """res.app, req.app, ws.app and app.loop (the asyncio loop, while serving)."""
    from socketify_testing import TestClient

    app = App()
    seen: dict[str, object] = {}

    async def handler(res, req):
        seen["res.app"] = res.app
        seen["req.app"] = req.app
        future = app.loop.create_future()
        app.loop.call_soon(future.set_result, "from the loop")
        res.end(await future)

    app.get("/", handler)
    app.ws("/ws", {"open": lambda ws: ws.send("same" if ws.app is app else "other")})
    with TestClient(app) as client:
        assert client.get("/").text == "from the loop"
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "same"
    assert seen == {"res.app": app, "req.app": app}
