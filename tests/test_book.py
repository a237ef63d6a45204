"""The book as a reader gets it: every chapter executed, a strict clean build, sane HTML."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from conftest import ROOT, chapter_files, notebook_files, toc_files

pytestmark = pytest.mark.book


def _page(built_book: Path, doc: str) -> BeautifulSoup:
    return BeautifulSoup((built_book / f"{doc}.html").read_text(), "html.parser")


def _main_text(soup: BeautifulSoup) -> str:
    """The article's visible text, with math, code and scripts removed."""
    article = soup.find("article") or soup
    article = BeautifulSoup(str(article), "html.parser")
    for tag in article.select("script, style, pre, code, .math, span.math, div.math"):
        tag.decompose()
    return article.get_text(" ")


def test_every_toc_entry_exists_and_notebooks_declare_python():
    for doc in toc_files():
        path = ROOT / f"{doc}.md"
        assert path.exists(), f"{doc} is in _toc.yml but {path} is missing"
    for doc in notebook_files():
        head = (ROOT / f"{doc}.md").read_text().split("---")[1]
        assert "language: python" in head, f"{doc}: kernelspec needs language: python"


@pytest.mark.parametrize("doc", notebook_files())
def test_notebook_executed_without_errors_or_warnings(built_book, doc):
    executed = ROOT / "_build" / "jupyter_execute" / f"{doc}.ipynb"
    assert executed.exists(), f"{doc} was not executed by the build"
    nb = nbformat.read(executed, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells, f"{doc} has no code"
    for i, cell in enumerate(code_cells):
        assert cell.get("execution_count"), f"{doc}: code cell {i} did not run"
        for out in cell.get("outputs", []):
            assert out.output_type != "error", (
                f"{doc}: cell {i} raised {out.get('ename')}"
            )
            if out.output_type == "stream" and out.name == "stderr":
                pytest.fail(f"{doc}: cell {i} wrote to stderr:\n{out.text[:2000]}")


@pytest.mark.parametrize("doc", toc_files())
def test_page_has_no_error_output_and_typeset_ready_math(built_book, doc):
    html = (built_book / f"{doc}.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    for marker in (
        "Traceback (most recent call last)",
        'class="output traceback',
        "output error",
    ):
        assert marker not in html, f"{doc}: error output on the page ({marker!r})"
    text = _main_text(soup)
    # A markdown table that did not parse (e.g. a "|" inside a cell) shows up as a paragraph
    # of pipes.
    broken = [
        p.get_text()[:80]
        for p in soup.select("article p")
        if p.get_text().startswith("| ")
    ]
    assert not broken, f"{doc}: unrendered markdown table(s): {broken}"
    # Math that MyST did not turn into a math node would stay as raw $...$ on the page.
    raw = re.findall(r"\$\$|(?<![\\\w])\$[^$\s][^$]*\$", text)
    assert not raw, f"{doc}: raw TeX left outside math nodes: {raw[:3]}"
    # A {ref} to a heading with math takes the heading's text without its delimiters:
    # the link would show raw TeX ("\\eta^*(B)"); such a ref needs its own link text.
    bare = [
        a.get_text()
        for a in soup.select("article a.reference.internal")
        if re.search(r"\\[a-zA-Z]", re.sub(r"\\\(.*?\\\)", "", a.get_text()))
    ]
    assert not bare, f"{doc}: raw TeX in link text: {bare[:3]}"
    if "$" in (ROOT / f"{doc}.md").read_text():
        assert soup.select(".math"), (
            f"{doc}: source has math but the page has no math nodes"
        )
        assert "mathjax" in html.lower(), f"{doc}: MathJax is not loaded"


@pytest.mark.parametrize("doc", chapter_files())
def test_chapter_page_teaches(built_book, doc):
    """A chapter has math, a figure, a proof block, exercises with solutions, citations."""
    soup = _page(built_book, doc)
    images = [img for img in soup.select("article img") if img.get("src")]
    assert images, f"{doc}: no figure"
    for img in images:
        src = img["src"]
        if not src.startswith(("data:", "http")):
            assert (built_book / Path(doc).parent / src).resolve().exists(), (
                f"{doc}: missing {src}"
            )
    assert soup.select(".math"), f"{doc}: no math"
    assert soup.select(".proof, .prf, [class*='proof']"), f"{doc}: no prf: block"
    exercises = soup.select(".exercise")
    solutions = soup.select(".solution")
    assert len(exercises) >= 3, f"{doc}: {len(exercises)} exercises, want at least 3"
    assert len(solutions) >= len(exercises), f"{doc}: an exercise has no solution"
    assert all("dropdown" in s.get("class", []) for s in solutions), (
        f"{doc}: solutions must be dropdowns"
    )
    assert soup.select("a[href*='references']"), f"{doc}: no citation"
    assert "application/vnd.jupyter.widget-state+json" in str(soup), (
        f"{doc}: no explorer widget state embedded"
    )


def test_bibliography_lists_every_cited_work(built_book):
    soup = _page(built_book, "book/references")
    entries = soup.select(".citation, dl.citation > dt, div.citation")
    assert entries, "the references page lists no entries"


# ------------------------------------------------------- explorers on the static page

#: Sizes of the site before the explorers held precomputed frames (d7af6f5): the largest
#: chapter page was 0.30 MB and the whole of _build/html 20.7 MB. The frames may add at
#: most 2 MB to a chapter page and 15 MB to the site.
PAGE_BUDGET_BYTES = int((0.31 + 2.0) * 1e6)
SITE_BUDGET_BYTES = int((20.8 + 15.0) * 1e6)


def _widget_models(soup: BeautifulSoup) -> list[dict]:
    import json

    models = []
    for script in soup.find_all(
        "script", type="application/vnd.jupyter.widget-state+json"
    ):
        state = json.loads(script.string)["state"]
        models.extend(state.values())
    return models


def _explorer_name(doc: str) -> str:
    source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    return re.search(r"^(\w+)_explorer\(\)$", source, re.M).group(1)


@pytest.mark.parametrize("doc", chapter_files())
def test_page_holds_its_explorer_as_linked_frames(built_book, doc):
    """The page embeds one precomputed frame per grid setting, one browser-side link per
    stack, the sliders of the grid, and no plain copy of the default figure."""
    from lab import widgets

    name = _explorer_name(doc)
    _, controls = widgets.STATES[name]
    grid = widgets.GRIDS[name]
    settings = widgets.grid_settings(controls, grid)
    soup = _page(built_book, doc)
    models = _widget_models(soup)
    kinds = [m["model_name"] for m in models]
    assert kinds.count("ImageModel") == len(settings), (
        f"{doc}: {kinds.count('ImageModel')} frames embedded, the grid has "
        f"{len(settings)} settings (a live explorer left in the build?)"
    )
    assert kinds.count("SelectionSliderModel") == len(grid)
    stacks = kinds.count("StackModel")
    assert kinds.count("DirectionalLinkModel") == stacks > 0
    notes = [
        m["state"].get("value", "") for m in models if m["model_name"] == "HTMLModel"
    ]
    assert any(f"{len(settings)} precomputed settings" in n for n in notes), (
        f"{doc}: the explorer does not say how many settings the page holds"
    )
    # one figure per explorer: no plain figure cell of the default state before it
    source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    assert f"{name}_figure(" not in source, f"{doc}: a second copy of the explorer"


@pytest.mark.parametrize("doc", chapter_files())
def test_chapter_page_stays_within_its_size_budget(built_book, doc):
    size = (built_book / f"{doc}.html").stat().st_size
    assert size <= PAGE_BUDGET_BYTES, (
        f"{doc}: {size / 1e6:.2f} MB, the budget is {PAGE_BUDGET_BYTES / 1e6:.2f} MB"
    )


def test_site_stays_within_its_size_budget(built_book):
    size = sum(p.stat().st_size for p in built_book.rglob("*") if p.is_file())
    assert size <= SITE_BUDGET_BYTES, (
        f"_build/html is {size / 1e6:.1f} MB, the budget is "
        f"{SITE_BUDGET_BYTES / 1e6:.1f} MB"
    )
