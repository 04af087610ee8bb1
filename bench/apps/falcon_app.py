"""The benchmark app in falcon (ASGI), served by uvicorn: ``falcon_app:app``."""

from __future__ import annotations

import falcon
import falcon.asgi


class Plaintext:
    async def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.data = b"Hello, World!"


class Json:
    async def on_get(self, req, resp):
        resp.media = {"message": "Hello, World!"}


class User:
    async def on_get(self, req, resp, user_id):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "user " + user_id


class Echo:
    async def on_post(self, req, resp):
        resp.content_type = "application/octet-stream"
        resp.data = await req.stream.read()


app = falcon.asgi.App()
app.add_route("/plaintext", Plaintext())
app.add_route("/json", Json())
app.add_route("/user/{user_id}", User())
app.add_route("/echo", Echo())
