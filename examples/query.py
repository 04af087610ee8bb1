"""Query strings: get_query (first value, decoded) and get_queries (every value)."""

from __future__ import annotations

from socketify import App


def search(res, req):
    term = req.get_query("search")
    queries = req.get_queries()
    res.send({"search": term, "all": queries})


def run(app: App) -> None:
    app.get("/search", search)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
