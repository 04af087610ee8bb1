"""A raw WSGI app (no framework) for ours, gunicorn and granian: ``module:app``."""

from __future__ import annotations

import json

PLAIN = b"Hello, World!"


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/plaintext":
        body, kind = PLAIN, "text/plain"
    elif path == "/json":
        body, kind = json.dumps({"message": "Hello, World!"}).encode(), "application/json"
    elif path.startswith("/user/"):
        body, kind = ("user " + path[6:]).encode(), "text/plain"
    elif path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body, kind = environ["wsgi.input"].read(length), "application/octet-stream"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]
    start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
