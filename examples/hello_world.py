"""Hello world: GET / answers "Hello, World!"."""

from __future__ import annotations

from socketify import App


def run(app: App) -> None:
    app.get("/", lambda res, req: res.end("Hello, World!"))


if __name__ == "__main__":
    from _serve import serve

    serve(run)
