"""Redirects: res.redirect(location, status_code=302)."""

from __future__ import annotations

from socketify import App


def redirect(res, req):
    # the status code is optional, the default is 302
    res.redirect("/redirected", 302)


def redirected(res, req):
    res.end("You were redirected here")


def run(app: App) -> None:
    app.get("/redirect", redirect)
    app.get("/redirected", redirected)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
