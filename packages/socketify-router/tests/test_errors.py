from __future__ import annotations

import doctest

import socketify_router
from socketify_router import DuplicateRouteError, PatternError, RouterError, URLBuildError


def test_one_root_and_it_is_a_value_error() -> None:
    assert issubclass(RouterError, ValueError)
    for error in (PatternError, DuplicateRouteError, URLBuildError):
        assert issubclass(error, RouterError)


def test_pattern_error_carries_pattern_and_fault() -> None:
    error = PatternError("/a/:", "empty parameter name")
    assert error.pattern == "/a/:"
    assert error.fault == "empty parameter name"
    assert str(error) == "invalid route pattern '/a/:': empty parameter name"


def test_public_names() -> None:
    for name in socketify_router.__all__:
        assert hasattr(socketify_router, name), name
    assert {"Router", "RouteGroup", "compose", "RouterError"} <= set(socketify_router.__all__)


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(socketify_router, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
