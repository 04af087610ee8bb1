"""Middleware chains in the socketify style: ``fn(res, req, data) -> data``.

``middleware(*fns)`` builds one ``handler(res, req)`` from a chain whose last function is
the route handler (it also gets ``data``); a falsy return or an ended response stops the
chain; sync and async functions mix.  ``MiddlewareRouter(app, *middlewares)`` registers
routes behind the same chain.  Both are thin layers over socketify_router's ``compose`` and
``RouteGroup``, which preserve the request and keep body chunks when the chain goes async.
"""

from __future__ import annotations

from typing import Any, Callable

from socketify_router import RouteGroup, compose

Handler = Callable[..., Any]


def middleware(*functions: Handler) -> Handler:
    """One handler from ``functions``: every one but the last is a middleware."""
    if not functions:
        raise TypeError("middleware() needs at least one function")
    *chain, handler = functions
    return compose(chain, handler)


class MiddlewareRouter(RouteGroup):
    """Routes registered on ``app`` behind ``middlewares``: ``.get(path, handler)``..."""

    def __init__(self, app: Any, *middlewares: Handler) -> None:
        super().__init__(app, "", *middlewares)
