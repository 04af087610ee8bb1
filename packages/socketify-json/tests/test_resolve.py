from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

import socketify_json
from socketify_json import (
    JSONDecodeError,
    JSONEncodeError,
    ModuleAdapter,
    OrjsonAdapter,
    Serializer,
    StdlibAdapter,
    UjsonAdapter,
    resolve,
)


def module(name: str = "mine", **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def test_public_names():
    assert sorted(socketify_json.__all__) == [
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
    for name in socketify_json.__all__:
        assert getattr(socketify_json, name) is not None


def test_module_level_dumps_and_loads_are_the_default():
    assert socketify_json.dumps({"a": "é"}) == '{"a":"é"}'.encode()
    assert socketify_json.loads(b'{"a":1}') == {"a": 1}


def test_none_gives_the_shared_stdlib_default():
    default = resolve(None)
    assert isinstance(default, StdlibAdapter)
    assert resolve() is default
    assert resolve("json") is default
    assert resolve(json) is default


def test_adapters_satisfy_the_protocol():
    assert isinstance(resolve(None), Serializer)
    assert isinstance(resolve(module(dumps=json.dumps, loads=json.loads)), Serializer)


def test_our_adapter_is_returned_as_is():
    adapter = StdlibAdapter()
    assert resolve(adapter) is adapter
    wrapped = resolve(module(dumps=json.dumps, loads=json.loads))
    assert resolve(wrapped) is wrapped


def test_our_adapter_class_gives_an_instance():
    assert type(resolve(StdlibAdapter)) is StdlibAdapter


@pytest.mark.parametrize(
    ("name", "cls"), [("orjson", OrjsonAdapter), ("ujson", UjsonAdapter)], ids=["orjson", "ujson"]
)
def test_names_and_modules_of_known_backends(name: str, cls: type):
    backend = pytest.importorskip(name, reason=f"{name} is not installed")
    assert type(resolve(name)) is cls
    assert type(resolve(backend)) is cls
    assert resolve(name).name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["orjson", "ujson"])
def test_missing_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    with pytest.raises(ImportError, match=rf"the '{name}' serializer needs the {name} package"):
        resolve(name)


def test_missing_orjson_on_pypy_says_it_does_not_exist_there(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "orjson", None)
    monkeypatch.setattr("platform.python_implementation", lambda: "PyPy")
    with pytest.raises(ImportError, match="orjson does not exist for PyPy"):
        resolve("orjson")


def test_install_hint_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ujson", None)
    monkeypatch.setattr("platform.python_implementation", lambda: "CPython")
    with pytest.raises(ImportError, match=r"pip install 'socketify-json\[ujson\]'"):
        resolve("ujson")


def test_unknown_name_is_a_value_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown JSON serializer name 'simplejson'") as caught:
        resolve("simplejson")
    assert "'json', 'orjson', 'ujson'" in str(caught.value)


def test_a_module_named_like_a_backend_but_not_it_is_wrapped():
    fake = module("orjson", dumps=lambda obj: "[]", loads=json.loads)
    adapter = resolve(fake)
    assert type(adapter) is ModuleAdapter
    assert adapter.dumps(1) == b"[]"


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (42, "dumps() and no loads()"),
        (object(), "dumps() and no loads()"),
        (b"json", "dumps() and no loads()"),
        (module(dumps=json.dumps), "loads()"),
        (module(loads=json.loads), "dumps()"),
        (module(dumps="not callable", loads=json.loads), "dumps()"),
    ],
    ids=["int", "object", "bytes", "no-loads", "no-dumps", "dumps-not-callable"],
)
def test_anything_else_is_a_type_error_naming_what_is_missing(value: Any, missing: str):
    with pytest.raises(TypeError) as caught:
        resolve(value)
    message = str(caught.value)
    assert message.startswith("a JSON serializer needs callable dumps() and loads(); ")
    assert message.endswith(f"has no callable {missing}")


def test_type_error_message_cuts_a_long_repr():
    with pytest.raises(TypeError) as caught:
        resolve(list(range(1000)))
    assert len(str(caught.value)) < 200


def test_object_instance_with_methods_works():
    class Codec:
        def dumps(self, obj: Any) -> bytes:
            return json.dumps(obj).encode()

        def loads(self, data: Any) -> Any:
            return json.loads(data)

    adapter = resolve(Codec())
    assert adapter.dumps([1]) == b"[1]"
    assert adapter.loads(b"[2]") == [2]
    assert adapter.name == "Codec"  # type: ignore[attr-defined]


def test_class_with_static_methods_works():
    class Codec:
        dumps = staticmethod(json.dumps)
        loads = staticmethod(json.loads)

    assert resolve(Codec).dumps({"a": 1}) == b'{"a": 1}'
    assert resolve(Codec).name == "Codec"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_custom_dumps_result_becomes_bytes(kind: type):
    text = '{"k":"é"}'
    result = text if kind is str else kind(text.encode("utf-8"))
    adapter = resolve(module(dumps=lambda obj: result, loads=json.loads))
    out = adapter.dumps({"k": "é"})
    assert type(out) is bytes
    assert out == text.encode("utf-8")


def test_custom_dumps_returning_something_else_is_a_type_error():
    adapter = resolve(module("weird", dumps=lambda obj: 12, loads=json.loads))
    with pytest.raises(TypeError, match=r"^weird.dumps\(\) returned int, not str or bytes$"):
        adapter.dumps({})


def test_custom_dumps_str_with_lone_surrogate_is_an_encode_error():
    adapter = resolve(module("mine", dumps=lambda obj: '"\ud800"', loads=json.loads))
    with pytest.raises(JSONEncodeError, match=r"with mine: .*lone surrogate U\+D800"):
        adapter.dumps("x")


def test_custom_errors_are_mapped_and_chained():
    def dumps(obj: Any) -> str:
        raise ValueError("no floats please")

    def loads(data: Any) -> Any:
        raise ValueError("bad input")

    adapter = resolve(module("strict", dumps=dumps, loads=loads))
    with pytest.raises(
        JSONEncodeError, match=r"^cannot encode to JSON with strict: no floats"
    ) as e1:
        adapter.dumps(1.5)
    assert isinstance(e1.value.__cause__, ValueError)
    with pytest.raises(JSONDecodeError, match=r"^invalid JSON document \(strict\): bad input$"):
        adapter.loads(b"[]")


def test_custom_module_own_error_classes_are_mapped():
    class EncodeProblem(Exception):
        pass

    class DecodeProblem(Exception):
        pass

    def dumps(obj: Any) -> str:
        raise EncodeProblem("cannot do that")

    def loads(data: Any) -> Any:
        raise DecodeProblem("broken")

    adapter = resolve(
        module(
            "lib",
            dumps=dumps,
            loads=loads,
            JSONEncodeError=EncodeProblem,
            JSONDecodeError=DecodeProblem,
        )
    )
    with pytest.raises(JSONEncodeError, match="cannot do that"):
        adapter.dumps(1)
    with pytest.raises(JSONDecodeError, match="broken"):
        adapter.loads("1")


def test_custom_module_bugs_are_not_hidden():
    def dumps(obj: Any) -> str:
        raise KeyError("bug in the serializer")

    adapter = resolve(module(dumps=dumps, loads=json.loads))
    with pytest.raises(KeyError):
        adapter.dumps({})


def test_our_errors_raised_inside_a_custom_module_pass_unchanged():
    inner = resolve(None)
    adapter = resolve(module("outer", dumps=inner.dumps, loads=inner.loads))
    with pytest.raises(JSONEncodeError) as e1:
        adapter.dumps({1})
    assert "with json:" in str(e1.value)
    assert "outer" not in str(e1.value)
    with pytest.raises(JSONDecodeError) as e2:
        adapter.loads("{")
    assert "(json)" in str(e2.value)


def test_custom_loads_that_only_takes_str_is_given_decoded_text():
    seen: list[Any] = []

    def loads(text: Any) -> Any:
        seen.append(type(text))
        if not isinstance(text, str):
            raise TypeError("str only")
        return json.loads(text)

    adapter = resolve(module(dumps=json.dumps, loads=loads))
    assert adapter.loads(b'{"a":"\xc3\xa9"}') == {"a": "é"}
    assert seen == [bytes, str]
    with pytest.raises(JSONDecodeError, match="not valid UTF-8"):
        adapter.loads(b'"\xff"')


def test_custom_loads_type_error_on_text_is_a_decode_error():
    def loads(text: Any) -> Any:
        raise TypeError("cannot handle this")

    adapter = resolve(module("picky", dumps=json.dumps, loads=loads))
    with pytest.raises(JSONDecodeError, match=r"\(picky\): cannot handle this"):
        adapter.loads("[]")
    with pytest.raises(JSONDecodeError, match=r"\(picky\): cannot handle this"):
        adapter.loads(b"[]")
    with pytest.raises(TypeError, match="not int"):
        adapter.loads(3)


def test_reprs_name_the_backend():
    assert repr(resolve(None)) == "<StdlibAdapter json>"
    assert repr(resolve(module("mine", dumps=json.dumps, loads=json.loads))) == (
        "<ModuleAdapter mine>"
    )
