"""``resolve()``: turn whatever the user handed to ``app.json_serializer()`` into a Serializer.

Accepted, in the order they are tried:

=====================================  ==============================================
``None``                               the shared default (``StdlibAdapter``)
one of our adapters (instance)         itself
one of our adapter classes             a new instance
``"json"``, ``"orjson"``, ``"ujson"``  that adapter (``ImportError`` with the pip
                                       command when the library is missing)
the ``json``/``orjson``/``ujson``      that adapter, so passing the module gives the
module itself                          same tuned output as passing its name
anything with callable dumps/loads     wrapped in ``ModuleAdapter``
=====================================  ==============================================

Anything else is refused with a ``TypeError`` that names what is missing; an unknown
name is a ``ValueError`` listing the known ones.  ``resolve()`` runs once per app, so it
may take its time; the objects it returns are what runs per request.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable

from ._adapters import ModuleAdapter, OrjsonAdapter, Serializer, StdlibAdapter, UjsonAdapter

DEFAULT = StdlibAdapter()

_BY_NAME: dict[str, Callable[[], Serializer]] = {
    "json": lambda: DEFAULT,
    "orjson": OrjsonAdapter,
    "ujson": UjsonAdapter,
}
_OURS = (StdlibAdapter, OrjsonAdapter, UjsonAdapter, ModuleAdapter)
_REPR_LIMIT = 80


def _describe(obj: object) -> str:
    text = repr(obj)
    if len(text) > _REPR_LIMIT:
        text = text[:_REPR_LIMIT] + "..."
    return f"{type(obj).__name__} {text}"


def resolve(serializer: Any = None) -> Serializer:
    """Return a Serializer (``dumps() -> bytes``, ``loads()``) for ``serializer``.

    ``serializer`` is None (stdlib json, the default), a name (``"json"``, ``"orjson"``,
    ``"ujson"``), one of our adapters, or any module or object with callable ``dumps``
    and ``loads``; its ``str`` results are encoded to UTF-8 and its errors mapped to
    ``JSONEncodeError``/``JSONDecodeError``.
    """
    if serializer is None:
        return DEFAULT
    if isinstance(serializer, _OURS):
        return serializer
    if isinstance(serializer, str):
        factory = _BY_NAME.get(serializer)
        if factory is None:
            known = ", ".join(repr(name) for name in _BY_NAME)
            raise ValueError(
                f"unknown JSON serializer name {serializer!r}: expected one of {known}, "
                "or pass the module itself"
            )
        return factory()
    if isinstance(serializer, type) and issubclass(serializer, _OURS[:3]):
        return serializer()
    if isinstance(serializer, ModuleType):
        name = serializer.__name__
        if name in _BY_NAME and sys.modules.get(name) is serializer:
            return _BY_NAME[name]()
    missing = [
        f"{attr}()" for attr in ("dumps", "loads") if not callable(getattr(serializer, attr, None))
    ]
    if missing:
        raise TypeError(
            "a JSON serializer needs callable dumps() and loads(); "
            f"{_describe(serializer)} has no callable {' and no '.join(missing)}"
        )
    return ModuleAdapter(serializer)
