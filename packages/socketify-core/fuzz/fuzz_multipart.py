"""Fuzz the multipart parser where it really runs: a request through the memory transport.

    python packages/socketify-core/fuzz/fuzz_multipart.py [libFuzzer flags] [corpus dir]

(atheris from PyPI; ``nox -s fuzz`` runs it).  The first input byte splits the rest into a
boundary and a body; the body goes out as a ``multipart/form-data`` POST, cut into a few
feeds, to an App whose handler awaits ``parse_form`` with small limits.  The property: the
server answers 200 (parsed), 400 (bad input) or 413 (a limit): never a 500, never a hang,
never a malformed response, and the connection is never left in a state the next request
cannot use.  ``check(data)`` is the whole property; tests/test_fuzz_regressions.py
replays the seeds and every file in regressions/multipart/ through it without atheris.
"""

from __future__ import annotations

import asyncio
import sys

_STATE: dict[str, object] = {}


def _setup() -> tuple[object, asyncio.AbstractEventLoop]:
    if not _STATE:
        from socketify import App
        from socketify.multipart import MultipartError, parse_form

        app = App()
        loop = asyncio.new_event_loop()
        app.memory_host().bind_loop(loop)

        async def upload(res, req):
            try:
                form = await parse_form(
                    res,
                    req,
                    max_parts=8,
                    max_field_size=256,
                    max_total_size=4096,
                    spool_size=128,
                )
            except MultipartError as exc:
                res.write_status(exc.status_hint).end(b"bad", end_connection=True)
                return
            with form:
                res.end(b"ok %d" % (len(form.fields) + len(form.files)))

        app.post("/u", upload)
        _STATE["app"], _STATE["loop"] = app, loop
    return _STATE["app"], _STATE["loop"]  # type: ignore[return-value]


def _response_status(out: bytes) -> int:
    head, sep, rest = out.partition(b"\r\n\r\n")
    assert sep, f"incomplete response: {out[:200]!r}"
    assert head.startswith(b"HTTP/1.1 "), head[:40]
    status = int(head[9:12])
    lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    assert len(lengths) == 1, head
    assert len(rest) == int(lengths[0].split(b":")[1]), (head, rest)
    return status


def check(data: bytes) -> int:
    """Send one fuzzed upload; returns the status the server answered."""
    app, loop = _setup()
    if not data:
        return 0
    cut = data[0] % 72
    boundary, body = data[1 : 1 + cut], data[1 + cut :]
    head = (
        b"POST /u HTTP/1.1\r\nHost: f\r\nContent-Type: multipart/form-data; boundary="
        + boundary.replace(b"\r", b"").replace(b"\n", b"")
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    conn = app.memory_host().open_connection()
    try:
        pieces = [head, body[: len(body) // 3], body[len(body) // 3 :]]
        for piece in pieces:
            if not conn.open:
                break
            conn.feed(piece)
            loop.run_until_complete(asyncio.sleep(0))
        out = b""
        for _ in range(50):  # bounded: the handler is async
            out += conn.read()
            if b"\r\n\r\n" in out:
                break
            loop.run_until_complete(asyncio.sleep(0))
        status = _response_status(out)
        assert status in (200, 400, 413), out[:300]
        return status
    finally:
        conn.close()


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        import socketify.multipart  # noqa: F401

    _setup()
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
