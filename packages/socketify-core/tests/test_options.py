from __future__ import annotations

import pytest

from socketify import AppListenOptions, AppOptions


def test_coerce_int_dict_and_options():
    assert AppListenOptions.coerce(8000) == AppListenOptions(8000)
    assert AppListenOptions.coerce(None) == AppListenOptions(0)
    assert AppListenOptions.coerce({"port": 1, "host": "::1"}) == AppListenOptions(1, "::1")
    original = AppListenOptions(domain="/tmp/x.sock")
    copy = AppListenOptions.coerce(original)
    assert copy == original and copy is not original


@pytest.mark.parametrize(
    "value, error",
    [
        (70000, ValueError),
        (-1, ValueError),
        ("8000", TypeError),
        (True, TypeError),
        ({"prot": 1}, ValueError),
        ({"port": "x"}, TypeError),
        ({"host": 5}, TypeError),
        ({"domain": ""}, ValueError),
    ],
)
def test_bad_listen_options(value, error):
    with pytest.raises(error):
        AppListenOptions.coerce(value)


def test_app_options_tls_detection():
    assert not AppOptions().wants_tls()
    assert AppOptions(key_file_name="k.pem", cert_file_name="c.pem").wants_tls()
    assert "key_file_name=None" in repr(AppOptions())
