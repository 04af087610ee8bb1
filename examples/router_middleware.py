"""Routers with middleware: app.router(prefix, *middlewares), middleware(), MiddlewareRouter."""

from __future__ import annotations

import asyncio

from socketify import App, MiddlewareRouter, middleware


async def get_user(res, req, data):
    token = req.get_header("token")
    await asyncio.sleep(0)  # e.g. a database lookup; the request was preserved for us
    if token != "secret":
        res.write_status(403).end("Forbidden")
        return None  # a falsy value stops the chain
    return {"name": "Ann"}


def home(res, req, user):
    res.end(f"Hello, {user['name']}")


def run(app: App) -> None:
    api = app.router("/api", get_user)

    @api.get("/me")
    def me(res, req, user):
        res.send({"user": user["name"], "path": req.get_url()})

    app.get("/chain", middleware(get_user, home))

    auth = MiddlewareRouter(app, get_user)
    auth.get("/private", home)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
