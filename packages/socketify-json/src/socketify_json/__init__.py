"""JSON serializers for socketify: stdlib json by default, orjson or ujson, or your own.

``resolve(x)`` gives an object whose ``dumps(obj)`` always returns ``bytes`` and whose
``loads(data)`` takes bytes or str; every failure is a ``JSONError``.  ``dumps``/``loads``
here are the default (stdlib) serializer's.
"""

from __future__ import annotations

from ._adapters import ModuleAdapter, OrjsonAdapter, Serializer, StdlibAdapter, UjsonAdapter
from ._errors import JSONDecodeError, JSONEncodeError, JSONError
from ._resolve import DEFAULT, resolve

__all__ = [
    "JSONDecodeError",
    "JSONEncodeError",
    "JSONError",
    "ModuleAdapter",
    "OrjsonAdapter",
    "Serializer",
    "StdlibAdapter",
    "UjsonAdapter",
    "dumps",
    "loads",
    "resolve",
]

__version__ = "0.1.0"

dumps = DEFAULT.dumps
loads = DEFAULT.loads
