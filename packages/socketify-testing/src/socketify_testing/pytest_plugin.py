"""pytest fixtures for socketify apps (registered through the ``pytest11`` entry point).

``socketify_client_factory``
    A function ``factory(app, **options) -> TestClient``: the client is entered (the
    app's startup ran) and closed at teardown (its shutdown runs).  ``options`` are
    TestClient's (``base_url``, ``raise_server_exceptions``, ``client``, ``timeout``...).

``socketify_client``
    ``socketify_client_factory(socketify_app)``: define a ``socketify_app`` fixture in
    your conftest.py and use ``socketify_client`` in tests.

``socketify_app``
    Placeholder that fails with instructions until your conftest.py overrides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from ._client import TestClient

__all__ = ["socketify_app", "socketify_client", "socketify_client_factory"]


@pytest.fixture
def socketify_client_factory() -> Iterator[Callable[..., TestClient]]:
    """Make started TestClients for apps; every one is closed at teardown."""
    clients: list[TestClient] = []

    def factory(app: Any, **options: Any) -> TestClient:
        client = TestClient(app, **options)
        clients.append(client)
        client.__enter__()
        return client

    yield factory
    errors = []
    for client in reversed(clients):
        try:
            client.close()
        except Exception as error:  # keep closing the others, then report
            errors.append(error)
    if errors:
        raise errors[0]


@pytest.fixture
def socketify_app() -> Any:
    """Override in conftest.py: return the App that ``socketify_client`` should test."""
    pytest.fail(
        "the socketify_client fixture needs a `socketify_app` fixture returning your App: "
        "define one in conftest.py",
        pytrace=False,
    )


@pytest.fixture
def socketify_client(
    socketify_client_factory: Callable[..., TestClient], socketify_app: Any
) -> TestClient:
    """A started TestClient for the ``socketify_app`` fixture, closed at teardown."""
    return socketify_client_factory(socketify_app)
