"""Render a Mako template with res.render (pip install mako).

python examples/templates/mako_app.py   # then open http://127.0.0.1:3000/?name=you
"""

from __future__ import annotations

from pathlib import Path

from socketify import App
from socketify.templates import MakoTemplate

HERE = Path(__file__).resolve().parent


def make_app() -> App:
    app = App()
    app.template(MakoTemplate([HERE / "templates"], input_encoding="utf-8"))

    def home(res, req):
        name = req.get_query("name") or "World"
        res.render("mako_home.html", title="Mako example", name=name, items=["a", "b"])

    app.get("/", home)
    return app


if __name__ == "__main__":
    app = make_app()
    app.listen(3000, lambda config: print(f"Listening on http://127.0.0.1:{config.port}"))
    app.run()
