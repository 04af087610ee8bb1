"""A custom error handler: log properly and answer a friendly 500."""

from __future__ import annotations

from socketify import App


def run(app: App) -> None:
    def on_error(error, res, req):
        # log the error properly here, then answer the client nicely
        print(f"Something went {error}")
        # res and req can be None (an error in on_start, for example)
        if res is not None:
            res.write_status(500).end("Sorry we did something wrong")

    app.set_error_handler(on_error)
    router = app.router()

    @router.get("/error")
    def home(res, req):
        raise RuntimeError("Oops!")


if __name__ == "__main__":
    from _serve import serve

    serve(run)
