"""socketify.templates: the adapters alone, through app.template/res.render, and the examples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from socketify import App
from socketify.templates import Jinja2Template, MakoTemplate, TemplateEngine
from socketify_testing import TestClient

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "templates"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "j.html").write_text("<p>{{ who }}</p>", encoding="utf-8")
    (tmp_path / "m.html").write_text("<p>${who}</p>", encoding="utf-8")
    (tmp_path / "raw.txt").write_text("{{ who }}", encoding="utf-8")
    return tmp_path


def test_jinja2_adapter_renders_and_escapes(folder: Path) -> None:
    pytest.importorskip("jinja2", reason="jinja2 not installed")
    engine = Jinja2Template(folder)
    assert engine.render("j.html", who="Ana") == "<p>Ana</p>"
    assert engine.render("j.html", who="<b>") == "<p>&lt;b&gt;</p>"
    assert engine.render("raw.txt", who="<b>") == "<b>"  # autoescape only for html/xml
    assert (
        Jinja2Template([str(folder)], autoescape=False).render("j.html", who="<b>") == "<p><b></p>"
    )


def test_mako_adapter_renders_and_escapes(folder: Path) -> None:
    pytest.importorskip("mako", reason="mako not installed")
    engine = MakoTemplate(folder)
    assert engine.render("m.html", who="Ana") == "<p>Ana</p>"
    assert engine.render("m.html", who="<b>") == "<p>&lt;b&gt;</p>"
    raw = MakoTemplate([folder], default_filters=["str"], output_encoding="utf-8")
    assert raw.render("m.html", who="<b>\u00e9") == "<p><b>\u00e9</p>"  # bytes decoded back


def test_missing_template_raises_the_engine_error(folder: Path) -> None:
    pytest.importorskip("jinja2", reason="jinja2 not installed")
    import jinja2

    with pytest.raises(jinja2.TemplateNotFound):
        Jinja2Template(folder).render("nope.html")


@pytest.mark.parametrize(
    ("adapter", "module", "package"),
    [(Jinja2Template, "jinja2", "jinja2"), (MakoTemplate, "mako.lookup", "mako")],
)
def test_missing_engine_names_the_pip_package(monkeypatch, folder, adapter, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ImportError, match=f"pip install {package}") as info:
        adapter(folder)
    assert adapter.__name__ in str(info.value)


def test_any_object_with_render_is_an_engine() -> None:
    class Upper:
        def render(self, text: str, **kwargs: object) -> str:
            return text.upper()

    engine: TemplateEngine = Upper()
    app = App().template(engine)
    app.get("/", lambda res, req: res.render("shout"))
    with TestClient(app) as client:
        assert client.get("/").text == "SHOUT"
    with pytest.raises(TypeError):
        App().template(object())


def test_render_is_html_unless_the_handler_set_a_content_type() -> None:
    class Echo:
        def render(self, text: str, **kwargs: object) -> str:
            return text

    app = App().template(Echo())
    app.get("/page", lambda res, req: res.render("<p>hi</p>"))
    app.get(
        "/feed",
        lambda res, req: res.write_header("Content-Type", "application/xml").render("<x/>"),
    )
    with TestClient(app) as client:
        page = client.get("/page")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text == "<p>hi</p>"
        feed = client.get("/feed")
        assert feed.headers.get_list("content-type") == ["application/xml"]


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "engine"), [("jinja2_app", "jinja2"), ("mako_app", "mako")])
def test_example_apps(name: str, engine: str) -> None:
    pytest.importorskip(engine, reason=f"{engine} not installed")
    app = load_example(name).make_app()
    with TestClient(app) as client:
        page = client.get("/", params={"name": "<you>"})
    assert page.status_code == 200
    assert "<h1>Hello, &lt;you&gt;!</h1>" in page.text
    assert "<li>a</li>" in page.text and "<li>b</li>" in page.text
