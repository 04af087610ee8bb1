"""Route groups and middleware chains.

``RouteGroup(target, prefix, *middlewares)`` registers into anything that has
``add(method, pattern, handler, name=None)`` (a ``Router`` or the socketify ``App``).
Groups nest: a group made on a group registers into the same target with the prefixes
joined and one chain of middlewares, the outer ones first, ``data`` flowing through.  ``group.get("/x", h)``
registers ``prefix + "/x"``; without a handler it is a decorator that returns the
function unchanged, for every method.

``compose(middlewares, handler)`` builds the handler that runs the chain::

    data = None
    for mw in middlewares:
        data = mw(res, req, data)       # sync: a value; async: an awaitable of one
        stop if not data, res.aborted or res.has_responded()
    return handler(res, req, data)      # or handler(res, req) if it takes two arguments

A chain that stops on a falsy value while the response is still unanswered raises
``MiddlewareStopped`` (the server answers with its error handling, never a hang).  The
composed handler takes an optional third argument, the initial ``data``: a chain used as
the handler of an outer chain gets the outer chain's data.

The chain stays synchronous as long as every middleware returns a plain value (no
coroutine, no task: the common case costs one call per middleware).  The first time a
middleware returns an awaitable, ``req.preserve()`` is called (when ``req`` has it: the
request view dies with the callback) and the rest of the chain continues inside a
coroutine, which the composed handler returns for the caller to schedule.  Exceptions
propagate to the caller unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Callable, Optional

from ._errors import MiddlewareStopped, PatternError

Handler = Callable[..., Any]


def _verb(method: str) -> Callable[..., Any]:
    def register(
        self: Any, path: str, handler: Optional[Handler] = None, name: Optional[str] = None
    ) -> Any:
        if handler is None:

            def decorator(function: Handler) -> Handler:
                self.add(method, path, function, name=name)
                return function

            return decorator
        self.add(method, path, handler, name=name)
        return handler

    register.__name__ = register.__qualname__ = method.lower()
    register.__doc__ = (
        f"Register ``handler`` for {method} ``path`` and return it; without a handler, "
        "return a decorator that registers the function and returns it unchanged."
    )
    return register


class RouteMethods:
    """``get``/``post``/.../``any`` on top of ``add(method, pattern, handler, name=None)``."""

    def add(self, method: str, pattern: str, handler: Handler, name: Optional[str] = None) -> Any:
        raise NotImplementedError

    get = _verb("GET")
    post = _verb("POST")
    put = _verb("PUT")
    delete = _verb("DELETE")
    patch = _verb("PATCH")
    options = _verb("OPTIONS")
    head = _verb("HEAD")
    connect = _verb("CONNECT")
    trace = _verb("TRACE")
    any = _verb("ANY")


class RouteGroup(RouteMethods):
    """Routes registered into ``target`` under ``prefix``, behind ``middlewares``."""

    def __init__(self, target: Any, prefix: str = "", *middlewares: Handler) -> None:
        if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
            raise PatternError(prefix, "a group prefix must be '' or start with '/'")
        for middleware in middlewares:
            if not callable(middleware):
                raise TypeError(f"middleware is not callable: {middleware!r}")
        prefix = prefix.rstrip("/")  # "/api/" + "/x" is "/api/x", "/" is no prefix
        if isinstance(target, RouteGroup):  # nested: one chain, so data flows through all
            outer: RouteGroup = target
            prefix = outer.prefix + prefix
            middlewares = (*outer.middlewares, *middlewares)
            target = outer.target
        self.target: Any = target
        self.prefix: str = prefix
        self.middlewares: tuple[Handler, ...] = tuple(middlewares)

    def add(self, method: str, pattern: str, handler: Handler, name: Optional[str] = None) -> Any:
        if not isinstance(pattern, str) or (pattern and not pattern.startswith("/")):
            raise PatternError(pattern, "a path in a group must be '' or start with '/'")
        if not callable(handler):
            raise TypeError(f"handler for {method} {pattern!r} is not callable: {handler!r}")
        if self.middlewares:
            handler = compose(self.middlewares, handler)
        return self.target.add(method, self.prefix + pattern, handler, name=name)

    def group(self, prefix: str = "", *middlewares: Handler) -> RouteGroup:
        """A nested group: prefix appended, middlewares run after these (one chain)."""
        return RouteGroup(self, prefix, *middlewares)


def _takes_data(handler: Handler) -> bool:
    """Does ``handler`` accept a third positional argument (the chain's data)?"""
    try:
        parameters = inspect.signature(handler, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): assume socketify's form
        return True
    positional = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 3


def _stopped(res: Any, data: Any, middleware: Handler) -> None:
    """The chain stopped: fine when the response was answered (or the client left)."""
    if res.aborted or res.has_responded():
        return
    name = getattr(middleware, "__qualname__", repr(middleware))
    raise MiddlewareStopped(
        f"middleware {name} returned {data!r} without answering the request: answer it "
        "(e.g. res.write_status(401).end()) or return a truthy value to go on"
    )


def compose(middlewares: Sequence[Handler], handler: Handler) -> Handler:
    """One ``handler(res, req)`` that runs ``middlewares`` in order, then ``handler``."""
    chain = tuple(middlewares)
    if not chain:
        return handler
    for function in (*chain, handler):
        if not callable(function):
            raise TypeError(f"middleware chain element is not callable: {function!r}")
    pass_data = _takes_data(handler)
    size = len(chain)

    async def finish(res: Any, req: Any, data: Any, index: int) -> Any:
        data = await data
        while True:
            if not data or res.aborted or res.has_responded():
                return _stopped(res, data, chain[index - 1])
            if index == size:
                break
            data = chain[index](res, req, data)
            index += 1
            if hasattr(data, "__await__"):
                data = await data
        result = handler(res, req, data) if pass_data else handler(res, req)
        if hasattr(result, "__await__"):
            result = await result
        return result

    def run_chain(res: Any, req: Any, data: Any = None) -> Any:
        # ``data`` is None unless this chain is itself the handler of an outer chain, which
        # passes its data on (a middleware() chain inside a MiddlewareRouter).
        index = 0
        for middleware in chain:
            data = middleware(res, req, data)
            index += 1
            # PERF: hasattr is the cheapest test that also catches Futures and Tasks.
            if hasattr(data, "__await__"):
                preserve = getattr(req, "preserve", None)
                if preserve is not None:
                    preserved = preserve()
                    if preserved is not None:
                        req = preserved
                return finish(res, req, data, index)
            if not data or res.aborted or res.has_responded():
                return _stopped(res, data, middleware)
        return handler(res, req, data) if pass_data else handler(res, req)

    # Named after the handler for tracebacks and logs; no __wrapped__: callers that
    # inspect it must see a plain (res, req) function, which it is.
    run_chain.__name__ = getattr(handler, "__name__", run_chain.__name__)
    run_chain.__qualname__ = getattr(handler, "__qualname__", run_chain.__qualname__)
    return run_chain
