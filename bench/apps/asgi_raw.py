"""A raw ASGI app (no framework) for uvicorn and granian: ``module:app``."""

from __future__ import annotations

import json

PLAIN = b"Hello, World!"
PLAIN_HEAD = [(b"content-type", b"text/plain"), (b"content-length", b"13")]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/plaintext":
        headers, body = PLAIN_HEAD, PLAIN
    elif path == "/json":
        body = json.dumps({"message": "Hello, World!"}).encode()
        headers = [(b"content-type", b"application/json")]
    elif path.startswith("/user/"):
        body = ("user " + path[6:]).encode()
        headers = [(b"content-type", b"text/plain")]
    elif path == "/echo":
        parts = []
        more = True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        headers = [(b"content-type", b"application/octet-stream")]
    else:
        body, headers = b"Not Found", [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
