"""The serializer protocol and its adapters.

Theory of operation
-------------------
The core needs exactly two calls from a JSON library: ``dumps(obj) -> bytes`` to write a
body and ``loads(bytes | str) -> obj`` to read one.  Libraries disagree on everything
around those calls: stdlib ``json`` returns ``str`` and pads with spaces, orjson returns
``bytes``, ujson escapes ``/``; each raises its own exceptions.  An adapter fixes that
surface and nothing else:

- ``dumps`` ALWAYS returns ``bytes`` (UTF-8, compact, non-ASCII written as is), ready to
  be handed to the socket without another copy or check in the core;
- ``loads`` takes ``bytes``, ``bytearray``, ``memoryview`` or ``str``;
- failures come out as ``JSONEncodeError`` / ``JSONDecodeError`` (see ``_errors``), the
  backend's exception chained as ``__cause__``.

What a value turns into stays the backend's business (the differences are listed in
docs/json.md and pinned by tests/test_adapters.py): orjson refuses ints beyond 64 bits
and writes NaN as null, stdlib and ujson refuse NaN, orjson refuses non-str dict keys.

Every adapter's hot path is one backend call inside ``try``: no isinstance checks before
the call, all the sorting out happens in the ``except`` branch, which costs nothing until
something fails.
"""

from __future__ import annotations

import importlib
import json
import platform
from types import ModuleType
from typing import Any, Callable, Protocol, Union, runtime_checkable

from ._errors import (
    DECODE_ERRORS,
    ENCODE_ERRORS,
    TEXT_TYPES,
    JSONError,
    decode_failed,
    encode_failed,
    reject,
)

Text = Union[bytes, bytearray, memoryview, str]


@runtime_checkable
class Serializer(Protocol):
    """What ``resolve()`` returns and the core calls: two methods, bytes out."""

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: Text) -> Any: ...


def _require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if name == "orjson" and platform.python_implementation() != "CPython":
            hint = "orjson does not exist for PyPy; use 'ujson' or the default 'json'"
        else:
            hint = f"pip install 'socketify-json[{name}]'"
        raise ImportError(f"the {name!r} serializer needs the {name} package: {hint}") from exc


def _unserializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class StdlibAdapter:
    """The stdlib ``json`` module: compact separators, ``ensure_ascii=False``, UTF-8 bytes.

    NaN and infinities are refused (``allow_nan=False``): they are not JSON.
    """

    __slots__ = ("_encode",)
    _encode: Callable[[Any], str]
    name = "json"

    def __init__(self) -> None:
        # PERF: json.dumps() with any non-default option builds a new JSONEncoder on every
        # call, and JSONEncoder.encode() builds a new C encoder on every call too.  Where
        # CPython has its C encoder, one is built here, once (0.6 us instead of 1.3 us for
        # a small dict).  It runs without a markers dict: a shared one would keep stale
        # ids after an error; a circular structure ends in RecursionError instead, which
        # is reported like the "circular reference" of json.dumps.
        make = getattr(json.encoder, "c_make_encoder", None)
        if make is not None:
            chunks = make(
                None,
                _unserializable,
                json.encoder.encode_basestring,
                None,
                ":",
                ",",
                False,
                False,
                False,
            )
            self._encode = lambda obj: "".join(chunks(obj, 0))
        else:  # PyPy: its pure-Python encoder is fast there
            encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            self._encode = encoder.encode

    def dumps(self, obj: Any) -> bytes:
        try:
            return self._encode(obj).encode("utf-8")
        except RecursionError as exc:
            raise encode_failed(
                self.name, ValueError("circular reference or nesting too deep")
            ) from exc
        except ENCODE_ERRORS as exc:
            raise encode_failed(self.name, exc) from exc

    def loads(self, data: Text) -> Any:
        try:
            # PERF: plain json.loads(data) uses the module's shared decoder.
            return json.loads(data)  # type: ignore[arg-type]  # memoryview: see below
        except DECODE_ERRORS as exc:
            raise decode_failed(self.name, exc, data) from exc
        except TypeError as exc:
            if isinstance(data, memoryview):
                return self.loads(bytes(data))
            raise decode_failed(self.name, exc, data) from exc

    def __repr__(self) -> str:
        return "<StdlibAdapter json>"


class OrjsonAdapter:
    """orjson: already bytes, already compact; CPython only.

    Differences it keeps: ints beyond 64 bits raise ``JSONEncodeError``, NaN/Infinity are
    written as ``null``, dict keys must be str, dataclasses/datetime/UUID/enum are
    serialized natively, integers beyond 64 bits in a document load as float.
    """

    __slots__ = ("_dumps", "_loads")
    name = "orjson"

    def __init__(self) -> None:
        orjson = _require("orjson")
        self._dumps: Callable[[Any], bytes] = orjson.dumps
        self._loads: Callable[[Text], Any] = orjson.loads

    def dumps(self, obj: Any) -> bytes:
        try:
            return self._dumps(obj)
        except ENCODE_ERRORS as exc:
            raise encode_failed(self.name, exc) from exc

    def loads(self, data: Text) -> Any:
        try:
            return self._loads(data)
        except (*DECODE_ERRORS, TypeError) as exc:
            raise decode_failed(self.name, exc, data) from exc

    def __repr__(self) -> str:
        return "<OrjsonAdapter orjson>"


class UjsonAdapter:
    """ujson with stdlib-like output: UTF-8, ``/`` unescaped, NaN refused, bytes refused.

    Differences it keeps: objects with a ``toDict()`` or ``__json__()`` method and
    ``decimal.Decimal`` are serialized, any dict key is turned into a string, a few
    invalid documents are accepted (``[01]`` reads as ``[1]``).
    """

    __slots__ = ("_dumps", "_loads")
    name = "ujson"

    def __init__(self) -> None:
        ujson = _require("ujson")
        self._dumps: Callable[..., str] = ujson.dumps
        self._loads: Callable[[Text], Any] = ujson.loads

    def dumps(self, obj: Any) -> bytes:
        try:
            # bytes are refused by ujson's default (reject_bytes=True since ujson 3).
            return self._dumps(
                obj, ensure_ascii=False, escape_forward_slashes=False, allow_nan=False
            ).encode("utf-8")
        except ENCODE_ERRORS as exc:
            raise encode_failed(self.name, self._named(obj, exc)) from exc

    def _named(self, obj: Any, exc: BaseException) -> BaseException:
        # ujson's "not serializable" message shows the object's repr, not its type.
        # PERF: passing default=reject on every call costs ~10% on small payloads, so
        # only the call that already failed is repeated with it, to get the type's name.
        if not isinstance(exc, TypeError):
            return exc
        try:
            self._dumps(obj, ensure_ascii=False, allow_nan=False, default=reject)
        except TypeError as named:
            return named
        except ENCODE_ERRORS:
            pass
        return exc

    def loads(self, data: Text) -> Any:
        try:
            return self._loads(data)
        except DECODE_ERRORS as exc:
            raise decode_failed(self.name, exc, data) from exc
        except TypeError as exc:
            if isinstance(data, memoryview):
                return self.loads(bytes(data))
            raise decode_failed(self.name, exc, data) from exc

    def __repr__(self) -> str:
        return "<UjsonAdapter ujson>"


ErrorTypes = tuple[type[BaseException], ...]


def _own_errors(target: object, attr: str, base: ErrorTypes) -> ErrorTypes:
    # json, simplejson, orjson and ujson expose their error class as JSONDecodeError /
    # JSONEncodeError; a custom module following that habit gets its errors mapped too.
    own = getattr(target, attr, None)
    if isinstance(own, type) and issubclass(own, Exception) and not issubclass(own, base):
        return (*base, own)
    return base


class ModuleAdapter:
    """Any object with callable ``dumps``/``loads`` (a module, an instance, a class).

    ``dumps`` may return ``str`` (encoded to UTF-8), ``bytes``, ``bytearray`` or
    ``memoryview``.  ``loads`` is first given the input as is; if it refuses bytes with a
    ``TypeError`` it gets the UTF-8 decoded ``str``.  Its ``TypeError``/``ValueError``/
    ``OverflowError``/``RecursionError`` (and its own ``JSONEncodeError``/
    ``JSONDecodeError`` attributes, when they are exception classes) become ours; any
    other exception is a bug in it and propagates unchanged.
    """

    __slots__ = ("_decode_errors", "_dumps", "_encode_errors", "_loads", "name", "target")

    def __init__(self, target: Any, name: str | None = None) -> None:
        self.target = target
        self.name: str = name or getattr(target, "__name__", None) or type(target).__name__
        # PERF: bound once; each call then costs one slot read instead of a getattr.
        self._dumps: Callable[[Any], Any] = target.dumps
        self._loads: Callable[[Any], Any] = target.loads
        self._encode_errors = _own_errors(target, "JSONEncodeError", ENCODE_ERRORS)
        self._decode_errors = _own_errors(target, "JSONDecodeError", DECODE_ERRORS)

    def dumps(self, obj: Any) -> bytes:
        try:
            out = self._dumps(obj)
        except JSONError:
            raise
        except self._encode_errors as exc:
            raise encode_failed(self.name, exc) from exc
        if type(out) is bytes:  # PERF: the common answers first, by exact type
            return out
        if isinstance(out, str):
            try:
                return out.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise encode_failed(self.name, exc) from exc
        if isinstance(out, (bytes, bytearray, memoryview)):
            return bytes(out)
        raise TypeError(f"{self.name}.dumps() returned {type(out).__name__}, not str or bytes")

    def loads(self, data: Text) -> Any:
        try:
            return self._loads(data)
        except JSONError:
            raise
        except TypeError as exc:
            if not isinstance(data, TEXT_TYPES) or isinstance(data, str):
                raise decode_failed(self.name, exc, data) from exc
        except self._decode_errors as exc:
            raise decode_failed(self.name, exc, data) from exc
        # It refused bytes: give it text.
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise decode_failed(self.name, exc, data) from exc
        try:
            return self._loads(text)
        except JSONError:
            raise
        except TypeError as exc:
            raise decode_failed(self.name, exc, text) from exc
        except self._decode_errors as exc:
            raise decode_failed(self.name, exc, text) from exc

    def __repr__(self) -> str:
        return f"<ModuleAdapter {self.name}>"
