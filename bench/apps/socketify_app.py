"""The benchmark app in the socketify API.

The same file serves our socketify and the original socketify 0.0.31 (the API is the
same): ``python socketify_app.py PORT``; ours also through the CLI (``socketify_app:run``).
"""

from __future__ import annotations

import sys

from socketify import App

PLAIN = b"Hello, World!"


def plaintext(res, req):
    res.write_header("Content-Type", "text/plain")
    res.end(PLAIN)


def json_route(res, req):
    res.end({"message": "Hello, World!"})


def user(res, req):
    res.end("user " + req.get_parameter(0))


def echo(res, req):
    chunks = []

    def on_data(res, chunk, is_end):
        chunks.append(bytes(chunk))
        if is_end:
            res.end(b"".join(chunks))

    res.on_aborted(lambda res: None)
    res.on_data(on_data)


def run(app):
    """The routes, on the App the CLI made: ``python -m socketify socketify_app:run``."""
    app.get("/plaintext", plaintext)
    app.get("/json", json_route)
    app.get("/user/:id", user)
    app.post("/echo", echo)


def main() -> None:
    port = int(sys.argv[1])
    app = App()
    run(app)
    app.listen(port, lambda config: print("ready", flush=True))
    app.run()


if __name__ == "__main__":
    main()
