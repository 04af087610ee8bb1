"""socketify_router: HTTP route matching for socketify, usable on its own.

>>> router = Router()
>>> router.get("/users/:id<int>", lambda res, req: None, name="user")  # doctest: +ELLIPSIS
<function <lambda> at ...>
>>> router.match("GET", "/users/42").values
{'id': 42}
>>> router.url_for("user", id=7)
'/users/7'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _dist_version

from ._errors import (
    DuplicateRouteError,
    MiddlewareStopped,
    PatternError,
    RouterError,
    URLBuildError,
)
from ._groups import RouteGroup, compose
from ._patterns import CONVERTERS
from ._router import STANDARD_METHODS, Match, Route, Router

__all__ = [
    "CONVERTERS",
    "STANDARD_METHODS",
    "DuplicateRouteError",
    "Match",
    "PatternError",
    "Route",
    "RouteGroup",
    "Router",
    "MiddlewareStopped",
    "RouterError",
    "URLBuildError",
    "__version__",
    "compose",
]

try:  # the installed distribution's version: one source, the package's pyproject.toml
    __version__ = _dist_version("socketify-router")
except _NotInstalled:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
