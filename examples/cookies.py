"""Cookies: req.get_cookie and res.set_cookie with every option."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from socketify import App


def cookies(res, req):
    res.set_cookie(
        "session_id",
        "1234567890",
        {
            # expires, path, comment, domain, max-age, secure, version, httponly, samesite
            "path": "/",
            # "domain": "*",
            "httponly": True,
            "samesite": "None",
            "secure": True,
            "expires": datetime.now(timezone.utc) + timedelta(minutes=30),
        },
    )
    res.end(f"Your session_id cookie is: {req.get_cookie('session_id')}")


def run(app: App) -> None:
    app.get("/cookies", cookies)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
