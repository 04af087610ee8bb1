from __future__ import annotations

import pytest

from socketify.errors import InvalidSetting
from socketify.limits import SETTINGS, apply, validate


class FakeSettings:
    pass


def test_defaults_are_filled():
    resolved = validate({})
    assert resolved == {name: spec.default for name, spec in SETTINGS.items()}
    assert resolved["max_body_size"] == 16 * 1024 * 1024


def test_apply_converts_seconds_to_milliseconds():
    target = FakeSettings()
    apply(validate({"idle_timeout": 2.5, "max_headers": 7, "proxy_protocol": True}), target)
    assert target.idle_timeout_ms == 2500
    assert target.max_headers == 7
    assert target.proxy_protocol == 1
    assert not hasattr(target, "shutdown_timeout")


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_headers", 0),
        ("max_header_size", 10),
        ("max_url_size", 2**40),
        ("idle_timeout", -1),
        ("idle_timeout", float("nan")),
        ("max_body_size", -5),
        ("shutdown_timeout", 10**9),
    ],
)
def test_out_of_range_raises_value_error_naming_the_setting(name, value):
    with pytest.raises(InvalidSetting, match=name):
        validate({name: value})


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_headers", "10"),
        ("max_headers", 1.5),
        ("max_body_size", True),
        ("proxy_protocol", 1),
        ("lifespan", "yes"),
        ("idle_timeout", None),
    ],
)
def test_wrong_type_raises_type_error_naming_the_setting(name, value):
    with pytest.raises(TypeError, match=name):
        validate({name: value})


def test_unknown_setting_is_refused():
    with pytest.raises(TypeError, match="unknown App setting 'max_header'"):
        validate({"max_header": 10})
