"""Exceptions of socketify_json, and the helpers that map a backend's errors onto them.

One family, whatever serializer the app uses, so the core catches one thing::

    ValueError
    └── JSONError                       root: catch this to catch everything below
        ├── JSONEncodeError (+TypeError) dumps(): the object cannot become JSON (a set,
        │                               bytes, an arbitrary object, a circular or too deep
        │                               structure, a lone surrogate, NaN where refused,
        │                               an int beyond the backend's range)
        └── JSONDecodeError             loads(): the input is not a JSON document (syntax,
                                        invalid UTF-8, nesting too deep)

``JSONEncodeError`` is also a ``TypeError`` because "cannot serialize this" is what
``json.dumps`` reports as ``TypeError``; code written against the stdlib keeps working.
The backend's own exception stays reachable as ``__cause__``.

Not part of the family: ``loads()`` given something that is not text at all (an int,
None) raises a plain ``TypeError``: that is a bug in the caller, not a bad document.
"""

from __future__ import annotations

# Everything a backend's dumps() is known to raise for bad input: TypeError (unsupported
# type, bad key), ValueError (circular reference, NaN, UnicodeEncodeError of a lone
# surrogate), OverflowError (ujson: recursion, NaN), RecursionError (stdlib: nesting).
ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)
# loads(): ValueError covers json/orjson/ujson JSONDecodeError and UnicodeDecodeError.
DECODE_ERRORS = (ValueError, OverflowError, RecursionError)
TEXT_TYPES = (bytes, str, bytearray, memoryview)

_DETAIL_LIMIT = 200
# Backend messages too terse to tell a user what went wrong, reworded.
_REWORDED = {
    "Invalid value when encoding double": "NaN and Infinity are not valid JSON numbers",
    "Maximum recursion level reached": "nesting too deep, or a circular reference",
    "Recursion limit reached": "nesting too deep, or a circular reference",
}


class JSONError(ValueError):
    """Root of every error socketify_json raises about a JSON document or value."""


class JSONEncodeError(JSONError, TypeError):
    """``dumps()`` cannot turn the object into JSON; the message says why."""


class JSONDecodeError(JSONError):
    """``loads()`` was given something that is not a JSON document; the message says why."""


def _detail(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    if isinstance(exc, UnicodeEncodeError):
        char = exc.object[exc.start : exc.start + 1]
        return f"a str holds the lone surrogate U+{ord(char):04X}, which UTF-8 cannot encode"
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    text = str(exc) or type(exc).__name__
    text = _REWORDED.get(text, text)
    if len(text) > _DETAIL_LIMIT:
        text = text[:_DETAIL_LIMIT] + "..."
    return text


def encode_failed(backend: str, exc: BaseException) -> JSONEncodeError:
    """Our error for ``exc``, raised by ``backend`` while serializing."""
    return JSONEncodeError(f"cannot encode to JSON with {backend}: {_detail(exc)}")


def decode_failed(backend: str, exc: BaseException, data: object) -> Exception:
    """Our error for ``exc``, raised by ``backend`` while parsing ``data``.

    A ``data`` that is not text at all gives a plain ``TypeError`` (a caller's bug),
    whatever the backend said about it (orjson says JSONDecodeError, the others TypeError).
    """
    if not isinstance(data, TEXT_TYPES):
        return TypeError(
            f"loads() expects bytes, bytearray, memoryview or str, not {type(data).__name__}"
        )
    return JSONDecodeError(f"invalid JSON document ({backend}): {_detail(exc)}")


def reject(obj: object) -> object:
    """``default=`` hook for backends whose own message names a repr, not a type (ujson)."""
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
