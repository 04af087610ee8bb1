"""Status lines: the reason phrase table and the one function that turns what a user
passes to ``write_status``/``send`` (int, str or bytes) into the status part of a head.

A rendered status is bytes without the ``HTTP/1.1 `` prefix and with its CRLF, e.g.
``b"404 Not Found\\r\\n"`` (the C core adds the version; see socketify.h).
"""

from __future__ import annotations

from typing import Union

from .errors import InvalidStatus

StatusLike = Union[int, str, bytes, bytearray]

REASONS: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}

# PERF: every known status is rendered once at import; write_status(int) is a dict lookup.
_RENDERED: dict[int, bytes] = {
    code: f"{code} {reason}\r\n".encode("ascii") for code, reason in REASONS.items() if code >= 200
}
OK_200 = _RENDERED[200]
_CACHE: dict[Union[str, bytes], bytes] = {}
_CACHE_MAX = 256


def _check_code(code: int) -> None:
    if 100 <= code <= 199:
        raise InvalidStatus(
            f"status {code} is informational (1xx) and cannot be a response's final status: "
            "use 200-599 (the core sends 100 Continue and 101 itself)"
        )
    if not 200 <= code <= 599:
        raise InvalidStatus(f"status code {code} is out of range: HTTP allows 200-599 here")


def _from_int(code: int) -> bytes:
    _check_code(code)
    return _RENDERED.get(code) or f"{code} \r\n".encode("ascii")


def _from_text(text: bytes) -> bytes:
    # "404", "404 Not Found", "599 My Own Reason": three digits, then a reason.
    code = text[:3]
    if len(code) != 3 or not code.isdigit() or code[:1] == b"0":
        raise InvalidStatus(f"status {text!r} does not start with a 3-digit code")
    if len(text) == 3:
        return _from_int(int(code))
    if text[3:4] != b" ":
        raise InvalidStatus(f"status {text!r}: the code must be followed by a space")
    _check_code(int(code))
    for byte in text[4:]:
        if (byte < 0x20 and byte != 0x09) or byte == 0x7F:
            raise InvalidStatus(f"status {text!r} contains a control character")
    return text + b"\r\n"


def render_status(status: StatusLike) -> bytes:
    """``404`` / ``"404 Not Found"`` / ``b"404 Not Found"`` -> ``b"404 Not Found\\r\\n"``.

    Raises InvalidStatus (a ValueError) for anything that is not a status line and
    TypeError for an unsupported type.
    """
    kind = type(status)
    if kind is int:
        return _RENDERED.get(status) or _from_int(status)  # type: ignore[arg-type]
    if kind is str or kind is bytes:
        cached = _CACHE.get(status)  # type: ignore[arg-type]
        if cached is not None:
            return cached
        if kind is str:
            try:
                raw = status.encode("latin-1")  # type: ignore[union-attr]
            except UnicodeEncodeError:
                raise InvalidStatus(f"status {status!r} is not latin-1 text") from None
        else:
            raw = status  # type: ignore[assignment]
        rendered = _from_text(raw)
        if len(_CACHE) < _CACHE_MAX:
            _CACHE[status] = rendered  # type: ignore[index]
        return rendered
    if isinstance(status, bool):
        raise TypeError("status must be an int, str or bytes, not bool")
    if isinstance(status, int):
        return _from_int(int(status))
    if isinstance(status, (bytes, bytearray, memoryview)):
        return _from_text(bytes(status))
    if isinstance(status, str):
        return render_status(str(status))
    raise TypeError(f"status must be an int, str or bytes, not {kind.__name__}")
