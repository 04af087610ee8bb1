"""Async handlers, aborts, and running a coroutine from a sync route."""

from __future__ import annotations

import asyncio

from socketify import App, sendfile


async def slow(res, req):
    name = req.get_query("name") or "world"  # the request is valid before the first await
    await asyncio.sleep(0.1)
    if not res.aborted:  # async routes always grab the abort handler
        res.end(f"Hello, {name}, after a while")


async def later(res):
    await asyncio.sleep(0.05)
    res.end("finished by run_async")


def sync_route(res, req):
    res.run_async(later(res))


def watched(res, req):
    def on_abort(res):
        print("the client went away")

    res.on_aborted(on_abort)
    res.end("not aborted")


def file_route(res, req):
    res.run_async(sendfile(res, req, __file__))


def run(app: App) -> None:
    app.get("/async", slow)
    app.get("/run-async", sync_route)
    app.get("/aborted", watched)
    app.get("/sendfile", file_route)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
