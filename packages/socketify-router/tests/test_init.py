from __future__ import annotations

import socketify_router


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert socketify_router.__version__ == version("socketify-router")


def test_all_names_exist() -> None:
    for name in socketify_router.__all__:
        assert hasattr(socketify_router, name), name
