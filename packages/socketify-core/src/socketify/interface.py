"""Which interface an application object speaks, and the server that runs it.

``detect(obj)`` tells a socketify ``App`` (or ASGI/WSGI adapter) from an ASGI 3 callable
(``async def app(scope, receive, send)``, or an object whose ``__call__`` is one) and a
WSGI callable (an object whose ``__call__`` takes two arguments, like Flask and Django's
handlers; a function ``(environ, start_response)``; or a sync wrapper taking ``*args``, like
``wsgiref.validate``'s), the way uvicorn and granian do.  A plain function of two other
arguments is not guessed at.
Anything it cannot tell apart is an InterfaceError naming the object and the choices.
``serve(obj, interface, **options)`` returns an App for it (the object itself for an App).
"""

from __future__ import annotations

import inspect
from typing import Any

from .errors import InterfaceError

INTERFACES = ("auto", "socketify", "asgi", "wsgi")


def _positional_count(function: Any) -> int:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return -1
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind == parameter.VAR_POSITIONAL:
            return -1
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _names_wsgi(function: Any) -> bool:
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return len(names) >= 2 and "start_response" in names[1]


def detect(obj: Any) -> str:
    """``"socketify"``, ``"asgi"`` or ``"wsgi"``; InterfaceError when it cannot tell."""
    from .app import App

    if isinstance(obj, App):
        return "socketify"
    if not callable(obj):
        raise InterfaceError(f"{obj!r} is not an application (not callable)")
    call = obj if inspect.isroutine(obj) else type(obj).__call__
    bound = obj if inspect.isroutine(obj) else obj.__call__
    if inspect.isclass(obj):
        raise InterfaceError(
            f"{obj!r} is a class; pass an application instance (or module:factory())"
        )
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(bound):
        count = _positional_count(bound)
        if count in (3, -1):
            return "asgi"
        raise InterfaceError(
            f"{obj!r} is a coroutine function taking {count} arguments; "
            "an ASGI 3 application takes (scope, receive, send)"
        )
    count = _positional_count(bound)
    if count == -1 or (count == 2 and (bound is not obj or _names_wsgi(obj))):
        return "wsgi"
    raise InterfaceError(
        f"cannot tell whether {obj!r} is an ASGI or a WSGI application "
        f"({'unknown' if count < 0 else count} positional arguments, not a coroutine "
        "function): choose with --interface asgi|wsgi|socketify"
    )


def serve(obj: Any, interface: str = "auto", **options: Any) -> Any:
    """An App serving ``obj``: ``options`` go to ASGI()/WSGI() (root_path, lifespan,
    threads, settings...); an App is returned as it is."""
    from .app import App

    if interface not in INTERFACES:
        raise InterfaceError(f"interface must be one of {', '.join(INTERFACES)}, not {interface!r}")
    if interface == "auto":
        interface = detect(obj)
    if interface == "socketify":
        if not isinstance(obj, App):
            raise InterfaceError(f"{obj!r} is not a socketify App")
        return obj
    if isinstance(obj, App):
        raise InterfaceError(f"{obj!r} is a socketify App, not an {interface.upper()} application")
    if interface == "asgi":
        from .asgi import ASGI

        options.pop("threads", None)
        return ASGI(obj, **options)
    from .wsgi import WSGI

    options.pop("lifespan", None)
    options.pop("websocket", None)
    return WSGI(obj, **options)
