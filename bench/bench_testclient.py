"""Requests per second of socketify's TestClient against Starlette's, in one run.

Both clients answer GET / with "Hello, World!" (text/plain) from an equivalent
hello-world app, each used as tests use it (``with Client(app) as client``), one request
after the other.  Rounds alternate between the two so machine noise hits both; the best
round of each is reported with the ratio.

    python bench/bench_testclient.py [--requests N] [--rounds R]

The second pair is one FastAPI app (GET / with a query parameter, a text response) driven by
our TestClient (``TestClient(fastapi_app)``: the ASGI adapter on the core's memory transport)
and by Starlette's.

Needs socketify-core, socketify-testing, starlette, fastapi and httpx (httpx2 for Starlette 1.x)
(``nox -s bench_testclient``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any, Callable


def socketify_client() -> Any:
    from socketify import App
    from socketify_testing import TestClient

    app = App()
    app.get("/", lambda res, req: res.end("Hello, World!"))
    return TestClient(app)


def starlette_client() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    with warnings.catch_warnings():  # newer Starlette prefers another httpx package
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("Hello, World!")

    return TestClient(Starlette(routes=[Route("/", hello)]))


def fastapi_app() -> Any:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/")
    async def hello(q: str = "World") -> Any:
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse(f"Hello, {q}!")

    return api


def fastapi_ours() -> Any:
    from socketify_testing import TestClient

    return TestClient(fastapi_app())


def fastapi_starlette() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    return TestClient(fastapi_app())


def rate(client: Any, requests: int) -> float:
    get = client.get
    response = get("/")
    assert response.status_code == 200 and response.text == "Hello, World!", response
    start = time.perf_counter()
    for _ in range(requests):
        get("/")
    return requests / (time.perf_counter() - start)


PAIRS = (
    ("hello-world App vs Starlette", "socketify", "starlette"),
    ("the same FastAPI app", "fastapi-ours", "fastapi-starlette"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round (Starlette)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    makers: dict[str, Callable[[], Any]] = {
        "socketify": socketify_client,
        "starlette": starlette_client,
        "fastapi-ours": fastapi_ours,
        "fastapi-starlette": fastapi_starlette,
    }
    # Our client is much faster: give it more requests so both rounds last similar times.
    counts = {
        "socketify": args.requests * 10,
        "starlette": args.requests,
        "fastapi-ours": args.requests * 3,
        "fastapi-starlette": args.requests,
    }
    best = dict.fromkeys(makers, 0.0)
    clients = {}
    for name, make in makers.items():
        clients[name] = make()
        clients[name].__enter__()
    try:
        for round_no in range(1, args.rounds + 1):
            for name in makers:
                value = rate(clients[name], counts[name])
                best[name] = max(best[name], value)
                print(f"round {round_no} {name:18s} {value:10.0f} req/s")
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    print()
    for title, ours, theirs in PAIRS:
        print(f"{title}:")
        print(f"  socketify TestClient  {best[ours]:10.0f} req/s (best of {args.rounds})")
        print(f"  starlette TestClient  {best[theirs]:10.0f} req/s (best of {args.rounds})")
        print(f"  ratio                 {best[ours] / best[theirs]:10.1f}x")


if __name__ == "__main__":
    main()
