"""The client's address, and the proxied one (from a PROXY header when
``App(proxy_protocol=True)``; empty otherwise)."""

from __future__ import annotations

from socketify import App


def home(res, req):
    res.write(f"Your proxied IP is: {res.get_proxied_remote_address()}\n")
    res.write(f"Your IP as seen by the origin server is: {res.get_remote_address()}\n")
    res.end(f"As bytes: {res.get_remote_address_bytes()!r}")


def run(app: App) -> None:
    app.get("/ip", home)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
