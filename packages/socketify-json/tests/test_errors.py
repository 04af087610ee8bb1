from __future__ import annotations

import json

import pytest

import socketify_json
from socketify_json import JSONDecodeError, JSONEncodeError, JSONError
from socketify_json._errors import decode_failed, encode_failed, reject


def test_one_root_that_is_a_value_error():
    assert issubclass(JSONError, ValueError)
    assert issubclass(JSONEncodeError, JSONError)
    assert issubclass(JSONDecodeError, JSONError)


def test_encode_error_is_also_a_type_error_like_json_dumps():
    assert issubclass(JSONEncodeError, TypeError)
    assert not issubclass(JSONDecodeError, TypeError)


def test_catching_the_stdlib_kinds_still_works():
    with pytest.raises(TypeError):
        socketify_json.dumps({1, 2})
    with pytest.raises(ValueError):
        socketify_json.loads("{")


def test_encode_failed_keeps_backend_and_message():
    err = encode_failed("json", TypeError("Object of type set is not JSON serializable"))
    assert isinstance(err, JSONEncodeError)
    assert (
        str(err) == "cannot encode to JSON with json: Object of type set is not JSON serializable"
    )


def test_terse_backend_messages_are_reworded():
    err = encode_failed("ujson", OverflowError("Invalid value when encoding double"))
    assert (
        str(err) == "cannot encode to JSON with ujson: NaN and Infinity are not valid JSON numbers"
    )
    err = encode_failed("ujson", OverflowError("Maximum recursion level reached"))
    assert "nesting too deep, or a circular reference" in str(err)


def test_recursion_error_reads_as_nesting_too_deep():
    assert str(encode_failed("json", RecursionError("maximum recursion depth"))).endswith(
        ": nesting too deep"
    )
    err = decode_failed("json", RecursionError("maximum recursion depth"), b"[[[")
    assert isinstance(err, JSONDecodeError)
    assert str(err) == "invalid JSON document (json): nesting too deep"


def test_unicode_errors_say_what_is_wrong_with_the_text():
    try:
        "ok \udc80".encode("utf-8")
    except UnicodeEncodeError as exc:
        err = encode_failed("json", exc)
    assert "lone surrogate U+DC80" in str(err)
    try:
        b"ok \xff".decode("utf-8")
    except UnicodeDecodeError as exc:
        err2 = decode_failed("json", exc, b"ok \xff")
    assert (
        str(err2)
        == "invalid JSON document (json): input is not valid UTF-8 (invalid start byte at byte 3)"
    )


def test_long_backend_messages_are_cut():
    err = encode_failed("x", TypeError("y" * 1000))
    assert len(str(err)) < 300
    assert str(err).endswith("...")


def test_empty_backend_message_falls_back_to_the_exception_name():
    assert str(decode_failed("x", ValueError(), b"")) == "invalid JSON document (x): ValueError"


def test_decode_failed_on_non_text_input_is_a_plain_type_error():
    err = decode_failed("json", TypeError("whatever"), 12)
    assert type(err) is TypeError
    assert str(err) == "loads() expects bytes, bytearray, memoryview or str, not int"


def test_decode_error_keeps_the_backend_position():
    with pytest.raises(JSONDecodeError, match=r"line 1 column 5") as caught:
        socketify_json.loads(b"[1] x")
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


def test_reject_names_the_type():
    with pytest.raises(TypeError, match=r"^Object of type frozenset is not JSON serializable$"):
        reject(frozenset())
