"""Exceptions of socketify_router.

Every error this package raises derives from one root, and that root is a ``ValueError``
because every one of them is a bad value handed in by the program (a pattern, a route
name, a parameter for ``url_for``), never a problem of a request::

    ValueError
    └── RouterError                 root: catch this to catch everything below
        ├── PatternError            a pattern that cannot be parsed (empty parameter name,
        │                           '*' not last, unknown type, duplicate names, ...)
        ├── DuplicateRouteError     same method and same pattern registered twice, or a
        │                           route name reused for another pattern
        ├── URLBuildError           url_for: unknown name, missing/unknown/invalid value
        └── MiddlewareStopped       a middleware chain stopped without answering

A request that matches nothing is not an error: ``Router.match`` returns ``None`` and
``Router.allowed_methods`` tells 404 from 405.
"""

from __future__ import annotations


class RouterError(ValueError):
    """Root of every error raised by socketify_router."""


class PatternError(RouterError):
    """A route pattern is malformed; the message names the pattern and the fault."""

    def __init__(self, pattern: object, fault: str) -> None:
        super().__init__(f"invalid route pattern {pattern!r}: {fault}")
        self.pattern = pattern
        self.fault = fault


class DuplicateRouteError(RouterError):
    """A route with the same method and pattern (or the same name) already exists."""


class URLBuildError(RouterError):
    """``url_for`` cannot build a path: unknown route name or bad parameter values."""


class MiddlewareStopped(RouterError):
    """A middleware stopped the chain (a falsy return) without answering the request.

    Raised by the composed handler so the server's error handling answers (socketify: the
    error handler, else 500) instead of leaving the client waiting for the idle timeout.
    """
