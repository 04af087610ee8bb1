from __future__ import annotations

import io
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from socketify_testing import InvalidRequest
from socketify_testing._multipart import encode_form, encode_multipart


def parts_of(body: bytes, content_type: str) -> list:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    return list(message.iter_parts())


def test_encode_form_repeats_list_values_and_converts_scalars() -> None:
    body = encode_form({"a": "x y", "b": ["1", "2"], "c": True, "d": None, "e": 3})
    assert body == b"a=x+y&b=1&b=2&c=true&d=&e=3"


def test_encode_form_accepts_pairs_and_rejects_garbage() -> None:
    assert encode_form([("a", "1"), ("a", "2")]) == b"a=1&a=2"
    with pytest.raises(InvalidRequest, match="pairs"):
        encode_form(["abc"])


def test_multipart_layout_is_exact() -> None:
    body, content_type = encode_multipart({"f": "v"}, {"up": ("a.txt", b"hi")}, boundary="XB")
    assert content_type == "multipart/form-data; boundary=XB"
    assert body == (
        b"--XB\r\n"
        b'Content-Disposition: form-data; name="f"\r\n\r\nv\r\n'
        b"--XB\r\n"
        b'Content-Disposition: form-data; name="up"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhi\r\n"
        b"--XB--\r\n"
    )


def test_multipart_file_forms_parse_back() -> None:
    handle = io.BytesIO(b"file-bytes")
    handle.name = "/tmp/dir/photo.png"
    body, content_type = encode_multipart(
        None,
        [
            ("raw", b"\x00\x01"),
            ("obj", handle),
            ("typed", ("data.bin", b"xyz", "application/x-custom")),
            ("text", ("notes.md", "é")),
        ],
    )
    parts = parts_of(body, content_type)
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "raw",
        "obj",
        "typed",
        "text",
    ]
    assert [p.get_filename() for p in parts] == ["raw", "photo.png", "data.bin", "notes.md"]
    assert [p.get_content_type() for p in parts] == [
        "application/octet-stream",
        "image/png",
        "application/x-custom",
        "text/markdown",
    ]
    assert parts[0].get_payload(decode=True) == b"\x00\x01"
    assert parts[1].get_payload(decode=True) == b"file-bytes"
    assert parts[3].get_payload(decode=True) == "é".encode()


def test_multipart_quotes_names() -> None:
    body, _ = encode_multipart(None, {'we"ird\r\n': ('a"b.txt', b"x")}, boundary="B")
    assert b'name="we%22ird%0D%0A"; filename="a%22b.txt"' in body


def test_random_boundary_never_occurs_in_content() -> None:
    body, content_type = encode_multipart(None, {"f": b"--payload--"})
    boundary = content_type.split("boundary=")[1].encode()
    assert body.count(boundary) == 2


def test_multipart_rejects_bad_values() -> None:
    with pytest.raises(InvalidRequest, match="expected bytes"):
        encode_multipart(None, {"f": 42})
    with pytest.raises(InvalidRequest, match="tuple"):
        encode_multipart(None, {"f": ("only-name",)})
    with pytest.raises(InvalidRequest, match="mapping"):
        encode_multipart(b"raw", {"f": b"x"})
