"""Every example of the user guide on one App: ``python examples/demo.py``.

Serves on http://127.0.0.1:8000 (PORT to change).  Try:
    curl http://127.0.0.1:8000/            curl http://127.0.0.1:8000/parts
    curl -i http://127.0.0.1:8000/status/not-found
    curl 'http://127.0.0.1:8000/search?search=a+b&tag=1&tag=2'
    curl -i http://127.0.0.1:8000/cookies  curl -i http://127.0.0.1:8000/redirect
    curl http://127.0.0.1:8000/async?name=you
    curl -H 'token: secret' http://127.0.0.1:8000/api/me
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import async_handler
import cookies
import error_handler
import headers
import hello_world
import lifespan
import query
import redirect
import remote_address
import router_middleware
import send
import status

EXAMPLES = (
    hello_world,
    send,
    status,
    headers,
    query,
    cookies,
    redirect,
    remote_address,
    async_handler,
    lifespan,
    error_handler,
    router_middleware,
)


def mount_all(app):
    for example in EXAMPLES:
        example.run(app)
    return app


if __name__ == "__main__":
    from _serve import serve

    serve(mount_all)
