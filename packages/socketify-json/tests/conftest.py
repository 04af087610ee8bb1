"""Fixtures shared by the tests: every serializer, each skipped only when not installed."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from socketify_json import Serializer, resolve

OUR_ADAPTERS = ["json", "orjson", "ujson"]
# "custom" is a user's own module: dumps() returns str, loads() only takes str.
ALL_SERIALIZERS = [*OUR_ADAPTERS, "custom"]


def user_module() -> types.ModuleType:
    module = types.ModuleType("userjson")

    def dumps(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False)

    def loads(text: str) -> Any:
        if not isinstance(text, str):
            raise TypeError(f"userjson.loads() takes str, not {type(text).__name__}")
        return json.loads(text)

    module.dumps = dumps  # type: ignore[attr-defined]
    module.loads = loads  # type: ignore[attr-defined]
    return module


def make_serializer(name: str) -> Serializer:
    if name == "custom":
        return resolve(user_module())
    if name != "json":
        pytest.importorskip(name, reason=f"{name} is not installed")
    return resolve(name)


@pytest.fixture(params=ALL_SERIALIZERS)
def serializer(request: pytest.FixtureRequest) -> Serializer:
    return make_serializer(request.param)


@pytest.fixture(params=OUR_ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> Serializer:
    return make_serializer(request.param)
