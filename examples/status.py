"""Writing a status: with write_status (int, str or bytes) or with send(status=...)."""

from __future__ import annotations

from socketify import App


def not_found(res, req):
    res.write_status(404).end("Not Found")


def ok(res, req):
    res.write_status("200 OK").end("OK")


def send_not_found(res, req):
    res.send("Not Found", status=404)


def send_ok(res, req):
    res.send("OK", status="200 OK")


def run(app: App) -> None:
    app.get("/status/not-found", not_found)
    app.get("/status/ok", ok)
    app.get("/status/send-not-found", send_not_found)
    app.get("/status/send-ok", send_ok)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
