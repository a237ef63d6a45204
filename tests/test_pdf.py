"""The PDF edition (``make pdf``): built from the same sources, nothing lost in print.

The PDF is typeset once per session, after the HTML build (``built_book``), whose
execution cache it reuses. Where XeLaTeX or poppler is missing, the tests that need them
are skipped with the ``apt-get install`` line that brings them.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import ROOT, chapter_files, toc_files


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_pdf = _load("build_pdf", ROOT / "scripts" / "build_pdf.py")
print_edition = _load("print_edition", ROOT / "book" / "_ext" / "print_edition.py")

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
MACROS = CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
#: The widest overfull box the print may have (the issue's bound).
MAX_OVERFULL_PT = 20.0


@pytest.fixture(scope="session")
def built_pdf(built_book) -> Path:
    """The PDF edition, typeset after the HTML build (reusing its execution cache)."""
    lacking = build_pdf.missing()
    if lacking:
        pytest.skip(build_pdf.install_hint(lacking))
    try:
        build_pdf.build(sys.executable)
    except RuntimeError as error:
        pytest.fail(str(error))
    return build_pdf.PDF


@pytest.fixture(scope="session")
def pdf_text(built_pdf) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(built_pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _squash(text: str) -> str:
    """Letters and digits only, lower case: line breaks, hyphenation, spacing and
    punctuation differ between the source and the extracted text, words do not."""
    return re.sub(r"[\W_]+", "", text.lower())


def _title(doc: str) -> str:
    source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    return re.search(r"^# (.+)$", source, re.MULTILINE).group(1).strip()


def _exercises(doc: str) -> list[tuple[str, list[str]]]:
    """(label, its runs of three or more plain words) of each ``exercise`` directive
    of ``doc``: the text between math, code, roles and emphasis, which prints as
    written (pdftotext may interleave a word or two with a tall inline fraction)."""
    source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    found = []
    for match in re.finditer(
        r"^:::\{exercise\}\n:label: (\S+)\n(.*?)^:::$", source, re.MULTILINE | re.DOTALL
    ):
        body = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", match.group(2))
        body = re.sub(r"\$[^$]*\$|\{[^}]*\}`[^`]*`|`[^`]*`|\*\*?", "|", body)
        runs = [
            r.strip()
            for r in re.split(r"[|()]", body.replace("\n", " "))
            if len(r.split()) >= 3
        ]
        assert runs, f"{doc}: exercise {match.group(1)} has no plain words to find"
        found.append((match.group(1), runs))
    return found


# ------------------------------------------------------------- no TeX Live needed


def test_latex_macros_define_every_mathjax_macro_even_one_latex_has():
    preamble = print_edition.latex_macros(MACROS)
    for name, body in MACROS.items():
        assert f"\\renewcommand{{\\{name}}}{{{body}}}" in preamble, name
        assert f"\\providecommand{{\\{name}}}{{}}" in preamble, name
    assert "\\renewcommand{\\f}[2]{#1/#2}" in print_edition.latex_macros(
        {"f": ["#1/#2", 2]}
    )
    with pytest.raises(ValueError, match="letters only"):
        print_edition.latex_macros({"g1": "x"})


def test_site_url_is_the_repository_pages_address():
    assert (
        print_edition.site_url("https://github.com/Owner/my.repo")
        == "https://owner.github.io/my.repo/"
    )
    with pytest.raises(ValueError, match="github.com/OWNER/REPO"):
        print_edition.site_url("https://gitlab.com/owner/repo")


def test_missing_tools_are_named_with_the_packages_to_install(monkeypatch):
    monkeypatch.setattr(build_pdf.shutil, "which", lambda tool: None)
    lacking = build_pdf.missing()
    assert lacking == list(build_pdf.TOOLS)
    hint = build_pdf.install_hint(lacking)
    assert "apt-get install -y " + " ".join(build_pdf.PACKAGES) in hint
    assert "xelatex" in hint


def test_ci_and_the_workflow_install_the_packages_and_publish_the_pdf():
    ci = (ROOT / ".ci" / "run").read_text()
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    for text in (ci, workflow):
        assert "scripts/build_pdf.py --packages" in text
    assert f"_build/pdf/{print_edition.PDF_NAME} _build/html/" in workflow


@pytest.mark.book
def test_intro_links_the_pdf_where_the_site_publishes_it(built_book):
    soup = BeautifulSoup(
        (built_book / "book" / "intro.html").read_text(), "html.parser"
    )
    url = print_edition.site_url(CONFIG["repository"]["url"]) + print_edition.PDF_NAME
    assert soup.select(f"article a[href='{url}']"), f"the intro does not link {url}"


# ---------------------------------------------------------------- the PDF itself


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_exists_and_is_a_book(built_pdf):
    from pypdf import PdfReader

    reader = PdfReader(built_pdf)
    # a title page, the contents and ten chapters of several pages each
    assert len(reader.pages) > 100, f"{built_pdf}: only {len(reader.pages)} pages"


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_has_every_chapter_numbered_as_on_the_site(pdf_text):
    text = _squash(pdf_text)
    for doc in toc_files():
        assert _squash(_title(doc)) in text, f"{doc}: title {_title(doc)!r} missing"
    # the contents list chapter k with its title, as the site's sidebar numbers them
    for number, doc in enumerate(chapter_files(), start=1):
        assert _squash(f"{number} {_title(doc)}") in text, (
            f"{doc}: not listed as chapter {number}"
        )


@pytest.mark.book
@pytest.mark.pdf
@pytest.mark.parametrize("doc", chapter_files())
def test_pdf_has_every_exercise_and_its_solutions_at_the_chapter_end(pdf_text, doc):
    text = _squash(pdf_text)
    exercises = _exercises(doc)
    assert exercises, f"{doc}: no exercises found in the source"
    for label, runs in exercises:
        for run in runs:
            assert _squash(run) in text, (
                f"{doc}: exercise {label}: {run!r} not in the PDF"
            )
    # after the chapter's last exercise (its first print: the exercise sheets in the
    # appendix repeat it) and before the next chapter: a Solutions section with one
    # solution per exercise
    start = text.find(_squash(exercises[-1][1][-1]))
    following = chapter_files()[chapter_files().index(doc) + 1 :]
    end = text.find(_squash(_title(following[0])), start) if following else -1
    tail = text[start : end if end > 0 else len(text)]
    assert _squash(print_edition.SOLUTIONS_TITLE) in tail, (
        f"{doc}: no Solutions section after the exercises"
    )
    assert tail.count("solutiontoexercise") == len(exercises), (
        f"{doc}: {tail.count('solutiontoexercise')} solutions at the chapter's end, "
        f"{len(exercises)} exercises"
    )


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_has_no_unresolved_reference_or_citation(built_pdf, pdf_text):
    assert "??" not in pdf_text, "an unresolved reference prints as ??"
    log = (build_pdf.LATEX / "sgd-book.log").read_text(errors="replace")
    undefined = re.findall(
        r"(?:Reference|Citation) .*? undefined.*|There were undefined references", log
    )
    assert not undefined, f"undefined in the LaTeX log: {undefined[:5]}"
    # a character the font lacks is left out of the print, with only this line to say so
    missing = sorted(set(re.findall(r"Missing character: There is no (\S+)", log)))
    assert not missing, (
        f"characters the font lacks (print_edition.MISSING_GLYPHS): {missing}"
    )


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_has_no_raw_book_macro(pdf_text):
    raw = sorted({m for m in re.findall(r"\\([A-Za-z]+)", pdf_text) if m in MACROS})
    assert not raw, f"raw TeX macros in the PDF's text: {raw}"


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_embeds_at_least_every_figure_of_the_site(built_book, built_pdf):
    from pypdf import PdfReader

    site = 0
    for doc in toc_files():
        soup = BeautifulSoup((built_book / f"{doc}.html").read_text(), "html.parser")
        site += len(soup.select("article .cell_output img"))
        # an explorer is a figure too: its default setting in print
        site += len(
            soup.select("script[type='application/vnd.jupyter.widget-view+json']")
        )
    assert site > 0, "no figures found on the site"
    embedded = 0
    for page in PdfReader(built_pdf).pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        # figures are vector (a form) or raster (an image) objects drawn by the page
        embedded += sum(
            xobjects[name].get_object().get("/Subtype") in ("/Form", "/Image")
            for name in xobjects
        )
    assert embedded >= site, f"the PDF embeds {embedded} figures, the site has {site}"


@pytest.mark.book
@pytest.mark.pdf
def test_pdf_log_has_no_overfull_box_wider_than_20pt(built_pdf):
    log = (build_pdf.LATEX / "sgd-book.log").read_text(errors="replace")
    boxes = [
        (float(width), where)
        for width, where in re.findall(
            r"Overfull \\[hv]box \(([\d.]+)pt too wide\) (.*)", log
        )
    ]
    wide = [b for b in boxes if b[0] > MAX_OVERFULL_PT]
    assert not wide, f"{len(wide)} overfull boxes over {MAX_OVERFULL_PT}pt: {wide[:5]}"
