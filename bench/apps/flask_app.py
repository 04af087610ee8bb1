"""The benchmark endpoints as a Flask app (for ours, gunicorn and granian WSGI)."""

from __future__ import annotations

from flask import Flask, Response, request

app = Flask("bench")


@app.get("/plaintext")
def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/json")
def json_route() -> dict:
    return {"message": "Hello, World!"}


@app.get("/user/<user_id>")
def user(user_id: str) -> Response:
    return Response("user " + user_id, mimetype="text/plain")


@app.post("/echo")
def echo() -> Response:
    return Response(request.get_data(), mimetype="application/octet-stream")
