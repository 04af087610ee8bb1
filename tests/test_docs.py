"""Every ```python block in docs/**/*.md runs here, so the documentation cannot lie.

Blocks of one page run in order in one namespace (a page reads like one session);
``__name__`` is not ``"__main__"``, so ``if __name__ == "__main__": app.run()`` stays
out of the way.  Blocks assert their own results.  Non-Python blocks (```text,
```console) are not run.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for found in FENCE.finditer(text):
        line = text.count("\n", 0, found.start()) + 2
        blocks.append((line, found.group(1)))
    return blocks


# every page of the site, the API reference folder included (mkdocs.yml builds docs/)
PAGES = sorted(DOCS.rglob("*.md"))


def test_docs_folder_has_pages() -> None:
    assert PAGES, f"no pages found in {DOCS}"


def test_fence_finder_sees_blocks() -> None:
    sample = "x\n```python\na = 1\n```\n```text\nnot run\n```\n```python\nb = 2\n```\n"
    page = DOCS.parent / "tests" / "_fence_sample.md"
    page.write_text(sample, encoding="utf-8")
    try:
        assert [code for _, code in python_blocks(page)] == ["a = 1\n", "b = 2\n"]
    finally:
        page.unlink()


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    for line, code in python_blocks(page):
        compiled = compile(code, f"{page.name}:{line}", "exec")
        exec(compiled, namespace)
    for obj in list(namespace.values()):
        close = getattr(obj, "close", None)
        if type(obj).__name__ in {"TestClient", "AsyncTestClient"} and callable(close):
            close()


def site_nav_pages() -> list[str]:
    """The pages the `nav` of mkdocs.yml lists (``Title: page.md`` lines)."""
    config = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r":\s+(\S+\.md)\s*$", nav, re.MULTILINE)


def test_every_page_is_in_the_site_nav() -> None:
    # `nox -s docs` fails on a page left out of the nav (mkdocs --strict); this says so early
    listed = site_nav_pages()
    pages = [p.relative_to(DOCS).as_posix() for p in PAGES]
    assert sorted(set(pages) - set(listed)) == [], "add these pages to the nav of mkdocs.yml"
    assert sorted(set(listed) - set(pages)) == [], "the nav of mkdocs.yml lists missing pages"
    assert len(listed) == len(set(listed)), "a page is listed twice in the nav of mkdocs.yml"


# names documented in prose on their reference page instead of by a `::: name` directive
PROSE_DOCUMENTED = {
    "socketify": {"Request", "Response"},  # aliases of AppRequest/AppResponse
    "socketify_json": {"dumps", "loads"},
}


@pytest.mark.parametrize(
    "package", ["socketify", "socketify_router", "socketify_json", "socketify_testing"]
)
def test_api_reference_covers_every_public_name(package: str) -> None:
    module = importlib.import_module(package)
    page = (DOCS / "reference" / f"{package}.md").read_text(encoding="utf-8")
    directives = set(re.findall(rf"^::: {package}\.(\w+)\s*$", page, re.MULTILINE))
    covered = set(directives) | PROSE_DOCUMENTED.get(package, set())
    if "errors" in directives:  # `::: socketify.errors` documents the whole error tree
        covered |= set(importlib.import_module(f"{package}.errors").__all__)
    public = set(module.__all__) - {"__version__"}
    assert sorted(public - covered) == [], f"add these to docs/reference/{package}.md"
    assert sorted(directives - set(dir(module)) - {"errors"}) == []
