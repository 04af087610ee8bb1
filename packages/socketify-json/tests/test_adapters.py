"""Conformance: the same inputs through every serializer, equivalent results.

Where backends really differ (documented in docs/json.md), a table states what each one
does, so a change in a backend's behaviour fails here instead of surprising an app.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from socketify_json import JSONDecodeError, JSONEncodeError, JSONError, Serializer


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 != 1.0 != True, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def nested(depth: int) -> Any:
    doc: Any = {"leaf": [1, "two", None]}
    for level in range(depth):
        doc = {f"level{level}": [doc, level, {"empty": {}}]}
    return doc


RECORDS = [
    {"id": i, "name": f"user {i}", "email": f"u{i}@example.com", "score": i / 7, "ok": i % 2 == 0}
    for i in range(200)
]

# (value, what it reads back as)
CASES = {
    "ascii-dict": ({"hello": "world", "n": 1}, {"hello": "world", "n": 1}),
    "unicode": ("é ü ß 中文 Ωμέγα ñ", "é ü ß 中文 Ωμέγα ñ"),
    "non-bmp": ("😀 𝄞 \U0010ffff 𐍈", "😀 𝄞 \U0010ffff 𐍈"),
    "unicode-keys": ({"ключ": "значение", "😀": 1}, {"ключ": "значение", "😀": 1}),
    "escapes": (
        'quote" backslash\\ nl\n tab\t nul\x00 bell\x07 ls\u2028 </script>',
        'quote" backslash\\ nl\n tab\t nul\x00 bell\x07 ls\u2028 </script>',
    ),
    "constants": ([None, True, False], [None, True, False]),
    "empty-containers": ([[], {}, "", [[]], {"a": {}}], [[], {}, "", [[]], {"a": {}}]),
    "top-level-str": ("text", "text"),
    "top-level-int": (42, 42),
    "top-level-null": (None, None),
    "top-level-empty-dict": ({}, {}),
    "top-level-empty-list": ([], []),
    "int64": (
        [0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)],
        [0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)],
    ),
    "uint64": ([2**63, 2**64 - 1], [2**63, 2**64 - 1]),
    "floats": (
        [0.1, -0.0, 1.5, 1e16, 1e-7, 1e300, 5e-324, 1.7976931348623157e308, 1 / 3, -2.5e-5],
        [0.1, -0.0, 1.5, 1e16, 1e-7, 1e300, 5e-324, 1.7976931348623157e308, 1 / 3, -2.5e-5],
    ),
    "float-integral": (1.0, 1.0),
    "tuple-is-list": ((1, (2, 3)), [1, [2, 3]]),
    "nested": (nested(20), nested(20)),
    "records": (RECORDS, RECORDS),
}
IDS = list(CASES)


@pytest.mark.parametrize("case", IDS)
def test_dumps_gives_utf8_bytes_that_stdlib_reads_back_equal(serializer: Serializer, case: str):
    value, expected = CASES[case]
    out = serializer.dumps(value)
    assert type(out) is bytes
    assert same(json.loads(out.decode("utf-8")), expected)


@pytest.mark.parametrize("case", IDS)
def test_loads_reads_reference_documents(serializer: Serializer, case: str):
    _, expected = CASES[case]
    utf8 = json.dumps(expected, ensure_ascii=False)
    escaped = json.dumps(expected)  # non-BMP as \\ud83d\\ude00 surrogate pairs
    for doc in (utf8.encode("utf-8"), utf8, escaped, escaped.encode("ascii")):
        assert same(serializer.loads(doc), expected)


@pytest.mark.parametrize("case", IDS)
def test_round_trip(serializer: Serializer, case: str):
    value, expected = CASES[case]
    assert same(serializer.loads(serializer.dumps(value)), expected)


def test_our_adapters_write_compact_utf8(adapter: Serializer):
    assert adapter.dumps({"a": [1, "é/😀"], "b": None}) == '{"a":[1,"é/😀"],"b":null}'.encode()


def test_custom_module_str_output_is_encoded_to_utf8(serializer: Serializer):
    # the user module's own separators stay; what matters is bytes, UTF-8
    out = serializer.dumps({"k": "é"})
    assert out.replace(b" ", b"") == '{"k":"é"}'.encode()


class Opaque:
    pass


UNSERIALIZABLE = {
    "set": ({1, 2}, "set"),
    "frozenset": (frozenset({1}), "frozenset"),
    "object": (object(), "object"),
    "custom-class": (Opaque(), "Opaque"),
    "bytes": (b"raw", "bytes"),
    "bytearray": (bytearray(b"raw"), "bytearray"),
    "complex": (1j, "complex"),
    "function": (len, type(len).__name__),
    "set-inside-dict": ({"ok": [1, {"bad": {3}}]}, "set"),
}


@pytest.mark.parametrize("case", list(UNSERIALIZABLE))
def test_unserializable_input_raises_encode_error_naming_the_type(
    serializer: Serializer, case: str
):
    value, type_name = UNSERIALIZABLE[case]
    with pytest.raises(JSONEncodeError) as caught:
        serializer.dumps(value)
    message = str(caught.value)
    if getattr(serializer, "name", "") == "ujson" and type_name.startswith("byte"):
        # ujson before 6.1 refuses bytes before calling default=: its message shows the repr
        assert type_name in message or repr(value) in message
    else:
        assert type_name in message
    assert "cannot encode to JSON" in message
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.__cause__ is not None


def test_circular_reference_raises_encode_error(serializer: Serializer):
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(JSONEncodeError, match=r"[Cc]ircular|nesting too deep"):
        serializer.dumps(loop)


def test_too_deep_nesting_raises_encode_error(serializer: Serializer):
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(JSONEncodeError, match="nesting too deep"):
        serializer.dumps(deep)


def test_lone_surrogate_raises_encode_error(serializer: Serializer):
    with pytest.raises(JSONEncodeError, match="surrogate"):
        serializer.dumps({"text": "bad \ud800 half"})


# ---- where backends differ: one table per difference --------------------------------

BEYOND_64_BITS = [2**64, -(2**63) - 1, 10**30]


@pytest.mark.parametrize("number", BEYOND_64_BITS, ids=["2**64", "-2**63-1", "10**30"])
def test_int_beyond_64_bits(serializer: Serializer, number: int):
    name = getattr(serializer, "name", "")
    if name == "orjson":
        with pytest.raises(JSONEncodeError, match="64-bit"):
            serializer.dumps([number])
    else:
        assert serializer.dumps([number]) == f"[{number}]".encode()


def test_document_int_beyond_64_bits(serializer: Serializer):
    value = serializer.loads(b"[18446744073709551616]")
    if getattr(serializer, "name", "") == "orjson":
        assert value == [1.8446744073709552e19]  # orjson reads it as a float
        assert type(value[0]) is float
    else:
        assert same(value, [2**64])


NAN_RESULT = {"json": JSONEncodeError, "ujson": JSONEncodeError, "orjson": b"[null,null]"}


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_nan_and_infinity(serializer: Serializer, value: float):
    name = getattr(serializer, "name", "")
    expected = NAN_RESULT.get(name)
    if expected is JSONEncodeError:
        with pytest.raises(JSONEncodeError, match=r"(?i)nan|out of range"):
            serializer.dumps([value, -value])
    elif expected is not None:
        assert serializer.dumps([value, -value]) == expected
    else:  # a user module keeps its own rules: stdlib json.dumps writes NaN/Infinity
        assert serializer.dumps([value, -value]).replace(b" ", b"") in (
            b"[NaN,NaN]",
            b"[Infinity,-Infinity]",
        )


def test_non_str_dict_keys(serializer: Serializer):
    value = {1: "a", 2.5: "b", None: "c"}
    if getattr(serializer, "name", "") == "orjson":
        with pytest.raises(JSONEncodeError, match="key"):
            serializer.dumps(value)
    else:
        assert json.loads(serializer.dumps(value)) == {"1": "a", "2.5": "b", "null": "c"}


def test_nan_literal_in_document(serializer: Serializer):
    if getattr(serializer, "name", "") == "orjson":
        with pytest.raises(JSONDecodeError):
            serializer.loads(b"[NaN]")
    else:
        assert math.isnan(serializer.loads(b"[NaN]")[0])


UJSON_LENIENT = {"leading-zero": (b"[01]", [1]), "lone-minus": (b"-", 0)}


@pytest.mark.parametrize("case", list(UJSON_LENIENT))
def test_documents_only_ujson_accepts(serializer: Serializer, case: str):
    doc, ujson_reads = UJSON_LENIENT[case]
    if getattr(serializer, "name", "") == "ujson":
        assert same(serializer.loads(doc), ujson_reads)
    else:
        with pytest.raises(JSONDecodeError):
            serializer.loads(doc)


# ---- loads ---------------------------------------------------------------------------

INVALID = {
    "empty": b"",
    "only-space": b"   ",
    "unclosed-object": b"{",
    "unclosed-string": b'"abc',
    "trailing-comma": b"[1,]",
    "single-quotes": b"{'a': 1}",
    "unquoted-key": b"{a: 1}",
    "trailing-data": b"[1] x",
    "two-documents": b"{} {}",
    "bad-literal": b"nul",
    "bad-escape": b'"\\x41"',
    "comment": b"[1 /* no */]",
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_document_raises_decode_error(serializer: Serializer, case: str):
    doc = INVALID[case]
    for data in (doc, doc.decode("ascii")):
        with pytest.raises(JSONDecodeError) as caught:
            serializer.loads(data)
        assert "invalid JSON document" in str(caught.value)
        assert isinstance(caught.value, ValueError)
        assert not isinstance(caught.value, TypeError)


def test_invalid_utf8_raises_decode_error(serializer: Serializer):
    with pytest.raises(JSONDecodeError, match=r"(?i)utf-8"):
        serializer.loads(b'{"a": "\xff\xfe"}')


def test_too_deep_document_raises_decode_error(serializer: Serializer):
    doc = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(JSONDecodeError):
        serializer.loads(doc)


@pytest.mark.parametrize("kind", [bytes, str, bytearray, memoryview])
def test_loads_accepts_bytes_and_text(serializer: Serializer, kind: type):
    doc = '{"name": "é😀", "items": [1, 2.5, null]}'
    data = doc if kind is str else kind(doc.encode("utf-8"))
    assert same(serializer.loads(data), {"name": "é😀", "items": [1, 2.5, None]})


@pytest.mark.parametrize("data", [42, None, ["[1]"], 1.5], ids=["int", "None", "list", "float"])
def test_loads_of_a_non_text_value_is_a_plain_type_error(serializer: Serializer, data: Any):
    with pytest.raises(TypeError, match="expects bytes, bytearray, memoryview or str") as caught:
        serializer.loads(data)
    assert not isinstance(caught.value, JSONError)


def test_error_messages_name_the_backend(adapter: Serializer):
    name = adapter.name  # type: ignore[attr-defined]
    with pytest.raises(JSONEncodeError, match=f"with {name}:"):
        adapter.dumps({1, 2})
    with pytest.raises(JSONDecodeError, match=rf"\({name}\)"):
        adapter.loads(b"{")
