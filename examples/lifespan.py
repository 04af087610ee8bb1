"""Start and shutdown events (sync or async); an error in on_start does not stop the app."""

from __future__ import annotations

import asyncio

from socketify import App

events: list[str] = []


def run(app: App) -> None:
    @app.on_start
    async def on_start():
        await asyncio.sleep(0.01)
        events.append("started")

    @app.on_shutdown
    async def on_shutdown():
        await asyncio.sleep(0.01)
        events.append("stopped")

    router = app.router()

    @router.get("/lifespan")
    def home(res, req):
        res.send({"events": events})


if __name__ == "__main__":
    from _serve import serve

    serve(run)
