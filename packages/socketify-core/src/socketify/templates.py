"""Template engines for ``app.template(engine)`` and ``res.render(...)``.

The protocol is one method: ``engine.render(*args, **kwargs) -> str``; ``res.render(...)``
passes its arguments through and ends the response with the result.  Any object with that
method works; the two adapters here wrap Jinja2 and Mako, imported only when an adapter is
built (neither is a dependency of socketify).  Both render ``render(name, **context)`` from
template files and escape HTML by default (Jinja2: ``select_autoescape``; Mako: the ``h``
filter), since templates usually take user data.  Pass your own options to change that.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

__all__ = ["Jinja2Template", "MakoTemplate", "TemplateEngine"]


class TemplateEngine(Protocol):
    """What ``app.template()`` accepts."""

    def render(self, *args: Any, **kwargs: Any) -> str: ...


def _require(module: str, package: str, adapter: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{adapter} needs the {package!r} package: pip install {package}"
        ) from exc


def _as_list(paths: Any) -> list[str]:
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        return [str(paths)]
    return [str(path) for path in paths]


class Jinja2Template:
    """``Jinja2Template("templates")``; ``render("page.html", title="Hi")`` -> str.

    ``options`` go to ``jinja2.Environment`` (``autoescape`` defaults to
    ``select_autoescape()``: on for .html/.htm/.xml files)."""

    __slots__ = ("env",)

    def __init__(self, searchpath: Any, encoding: str = "utf-8", **options: Any) -> None:
        jinja2 = _require("jinja2", "jinja2", "Jinja2Template")
        options.setdefault("autoescape", jinja2.select_autoescape())
        loader = options.pop("loader", None) or jinja2.FileSystemLoader(
            _as_list(searchpath), encoding=encoding
        )
        self.env = jinja2.Environment(loader=loader, **options)

    def render(self, templatename: str, **context: Any) -> str:
        return self.env.get_template(templatename).render(**context)  # type: ignore[no-any-return]


class MakoTemplate:
    """``MakoTemplate(["templates"])``; ``render("page.html", title="Hi")`` -> str.

    ``options`` go to ``mako.lookup.TemplateLookup`` (``default_filters`` defaults to
    ``["h"]``: every ``${...}`` is HTML-escaped; write ``${x | n}`` for raw output)."""

    __slots__ = ("encoding", "lookup")

    def __init__(self, directories: Any, **options: Any) -> None:
        lookup = _require("mako.lookup", "mako", "MakoTemplate")
        options.setdefault("default_filters", ["h"])
        self.encoding = options.get("output_encoding")
        self.lookup = lookup.TemplateLookup(directories=_as_list(directories), **options)

    def render(self, templatename: str, **context: Any) -> str:
        text = self.lookup.get_template(templatename).render(**context)
        if isinstance(text, bytes):  # output_encoding was set
            return text.decode(self.encoding or "utf-8")
        return text  # type: ignore[no-any-return]
