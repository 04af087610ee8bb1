"""The benchmark endpoints as a Starlette app (for ours, uvicorn, granian, hypercorn)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_route(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def user(request: Request) -> Response:
    return PlainTextResponse("user " + request.path_params["user_id"])


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json_route),
        Route("/user/{user_id}", user),
        Route("/echo", echo, methods=["POST"]),
    ]
)
