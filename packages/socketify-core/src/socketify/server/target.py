"""Resolve the CLI's ``module:attr`` target to an App.

``attr`` (case preserved, dotted paths allowed) may be

* an ``App``: served as it is;
* a factory: ``module:make()``, ``--factory``, or any callable taking no argument;
  it must return an App;
* a function ``run(app)`` taking one argument: the CLI creates the App (with the
  command line's settings) and passes it in to register routes, as the socketify examples
  are written;
* an ASGI 3 or WSGI application (or a factory returning one), served by socketify.ASGI /
  socketify.WSGI: with ``--interface asgi|wsgi`` as told, with ``auto`` when
  socketify.interface.detect recognizes it (an async ``(scope, receive, send)`` callable,
  a ``(environ, start_response)`` callable).

A target that cannot be found raises ``TargetError`` with one line naming what is missing:
the module, the attribute, or the type that is not usable.  Anything else the app's own
code raises while importing or building (a syntax error, a missing dependency inside the
app) propagates with its traceback: that is a bug in the app, not a wrong target.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Optional

from ..app import App
from ..errors import TargetError

__all__ = ["TargetError", "load_behavior", "load_target"]


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise TargetError(f"cannot import module {module_name!r}: not found") from None
        raise


def load_behavior(spec: str) -> dict[str, Any]:
    """``--ws module:attr`` (the original's form): a dict of WebSocket handlers/options."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TargetError(f"--ws expects auto, none or module:attr, not {spec!r}")
    module = _import(module_name)
    try:
        behavior = getattr(module, attr)
    except AttributeError:
        raise TargetError(f"module {module_name!r} has no attribute {attr!r} (--ws)") from None
    if not isinstance(behavior, dict):
        raise TargetError(
            f"--ws {spec}: expected a dict of WebSocket handlers and options (as app.ws() "
            f"takes), not {type(behavior).__name__}"
        )
    return behavior


def _positional_arity(function: Any) -> Optional[int]:
    """How many positional arguments ``function`` requires (None: cannot tell)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    required = 0
    for p in parameters:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            required += 1
        elif p.kind is p.VAR_POSITIONAL:
            return max(required, 1)
    return required


def load_target(
    target: str,
    factory: bool = False,
    settings: Optional[dict] = None,
    interface: str = "auto",
    adapter_options: Optional[dict] = None,
) -> App:
    """Import ``module:attr`` and return the App serving it (see the module docstring)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError(f"target must look like module:app, got {target!r}")
    if attribute.endswith("()"):
        attribute = attribute[:-2]
        factory = True
    module = _import(module_name)
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if factory:
        if isinstance(obj, App):
            raise TargetError(f"{target!r} is an App, not a factory: drop () or --factory")
        if not callable(obj):
            raise TargetError(f"{target!r} is not callable: it cannot be a factory")
        obj = obj()
        if isinstance(obj, App) or interface in ("asgi", "wsgi"):
            return _adapt(obj, target, interface, settings, adapter_options)
        if interface == "socketify" or not _is_application(obj):
            raise TargetError(
                f"factory {target!r} returned {type(obj).__name__}, not a socketify App"
                + ("" if interface == "socketify" else " or an ASGI/WSGI application")
            )
        return _adapt(obj, target, interface, settings, adapter_options)
    if isinstance(obj, App) or interface in ("asgi", "wsgi"):
        return _adapt(obj, target, interface, settings, adapter_options)
    if not callable(obj):
        raise TargetError(
            f"{target!r} is not a socketify App, a factory or run(app) (got {type(obj).__name__})"
        )
    if interface == "auto" and _is_application(obj):
        return _adapt(obj, target, interface, settings, adapter_options)
    arity = _positional_arity(obj)
    if arity == 0:
        app = obj()
        if isinstance(app, App):
            return app
        if interface == "auto" and _is_application(app):
            return _adapt(app, target, interface, settings, adapter_options)
        raise TargetError(f"factory {target!r} returned {type(app).__name__}, not a socketify App")
    if arity == 1:
        app = App(**(settings or {}))
        obj(app)
        return app
    raise TargetError(
        f"{target!r} takes {arity} arguments: expected an App, a factory, run(app) or an "
        "ASGI/WSGI application (choose with --interface asgi|wsgi)"
    )


def _is_application(obj: Any) -> bool:
    from ..interface import InterfaceError, detect

    try:
        return detect(obj) in ("asgi", "wsgi")
    except InterfaceError:
        return False


def _adapt(
    obj: Any,
    target: str,
    interface: str,
    settings: Optional[dict],
    adapter_options: Optional[dict],
) -> App:
    from ..interface import InterfaceError, serve

    if isinstance(obj, App) and interface == "auto":
        return obj
    try:
        options = {**(settings or {}), **(adapter_options or {})}
        return serve(obj, interface, **options)  # type: ignore[no-any-return]
    except InterfaceError as exc:
        raise TargetError(f"{target!r}: {exc}") from None
