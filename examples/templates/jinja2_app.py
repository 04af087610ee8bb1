"""Render a Jinja2 template with res.render (pip install jinja2).

python examples/templates/jinja2_app.py   # then open http://127.0.0.1:3000/?name=you
"""

from __future__ import annotations

from pathlib import Path

from socketify import App
from socketify.templates import Jinja2Template

HERE = Path(__file__).resolve().parent


def make_app() -> App:
    app = App()
    app.template(Jinja2Template(HERE / "templates"))

    def home(res, req):
        name = req.get_query("name") or "World"
        res.render("jinja2_home.html", title="Jinja2 example", name=name, items=["a", "b"])

    app.get("/", home)
    return app


if __name__ == "__main__":
    app = make_app()
    app.listen(3000, lambda config: print(f"Listening on http://127.0.0.1:{config.port}"))
    app.run()
