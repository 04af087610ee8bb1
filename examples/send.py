"""Writing data: write/end in parts, end without body, has_responded, send, JSON."""

from __future__ import annotations

from socketify import App


def send_in_parts(res, req):
    # write and end accept bytes and str, or an object that is dumped as JSON
    res.write("I can")
    res.write(" send ")
    res.end(" in parts!")


def empty(res, req):
    res.end_without_body()


def check_responded(res, req):
    before = res.has_responded()
    res.end(f"responded before: {before}")
    assert res.has_responded()


def json(res, req):
    res.send({"Hello": "World!"})


def with_headers(res, req):
    res.send(
        {"Hello": "World!"},
        headers=(("X-Rate-Limit-Remaining", "10"), (b"Another-Headers", b"Value")),
    )


def run(app: App) -> None:
    app.get("/parts", send_in_parts)
    app.get("/empty", empty)
    app.get("/responded", check_responded)
    app.get("/json", json)
    app.get("/with-headers", with_headers)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
