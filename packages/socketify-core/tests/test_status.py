from __future__ import annotations

from http import HTTPStatus

import pytest

from socketify.errors import InvalidStatus
from socketify.status import REASONS, render_status


def test_int_gets_the_standard_reason_phrase():
    assert render_status(404) == b"404 Not Found\r\n"
    assert render_status(200) == b"200 OK\r\n"
    assert render_status(HTTPStatus.CREATED) == b"201 Created\r\n"


def test_unknown_int_gets_an_empty_reason():
    assert render_status(299) == b"299 \r\n"
    assert render_status(599) == b"599 \r\n"


@pytest.mark.parametrize("bad", [600, 799, 999, "600 X", "700 X", b"999 Why"])
def test_codes_past_599_are_refused_at_the_call(bad):
    with pytest.raises(InvalidStatus, match="200-599"):
        render_status(bad)


@pytest.mark.parametrize("informational", [100, 101, 102, 103, 150, "103 Early Hints"])
def test_a_1xx_is_not_a_final_status(informational):
    with pytest.raises(InvalidStatus, match="informational"):
        render_status(informational)


def test_str_and_bytes_are_kept_as_written():
    assert render_status("200 OK") == b"200 OK\r\n"
    assert render_status(b"418 I'm a teapot") == b"418 I'm a teapot\r\n"
    assert render_status("599 My Own Reason") == b"599 My Own Reason\r\n"


def test_bare_code_text_gets_the_reason_phrase():
    assert render_status("404") == b"404 Not Found\r\n"
    assert render_status(b"500") == b"500 Internal Server Error\r\n"


def test_every_reason_in_the_table_renders():
    for code, reason in REASONS.items():
        if code >= 200:
            assert render_status(code) == f"{code} {reason}\r\n".encode()


@pytest.mark.parametrize("bad", [99, 1000, -1, "abc", "20 OK", "200OK", "", b"0200 x"])
def test_not_a_status_raises_invalid_status(bad):
    with pytest.raises(InvalidStatus):
        render_status(bad)


def test_status_with_crlf_is_refused():
    with pytest.raises(InvalidStatus, match="control character"):
        render_status("200 OK\r\nSet-Cookie: x=1")


def test_invalid_status_is_a_value_error():
    with pytest.raises(ValueError):
        render_status(1234)


@pytest.mark.parametrize("bad", [1.5, None, True, [200]])
def test_wrong_type_raises_type_error(bad):
    with pytest.raises(TypeError, match="status must be"):
        render_status(bad)
