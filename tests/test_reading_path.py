"""The reading path: each chapter is framed, and its checks run off the page's main line.

Every check of a chapter still runs when the book is built (a failing one stops the
build), but a reader sees its verdict, not its code: a code cell that asserts or calls
``check`` hides its input. Each chapter opens with what the reader will be able to do,
what they need first and how long it takes, and closes with a box of key results. The
height of the built pages is measured in the browser tests.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, chapter_files

CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)
HIDDEN = ("hide-input", "remove-input", "remove-cell")


def source(doc: str) -> str:
    return (ROOT / f"{doc}.md").read_text()


def tags(cell: str) -> str:
    return next((line for line in cell.splitlines() if line.startswith(":tags:")), "")


@pytest.mark.parametrize("doc", chapter_files())
def test_no_check_cell_is_on_the_reading_path(doc):
    visible = [
        cell.strip().splitlines()[0:3]
        for cell in CELL.findall(source(doc))
        if re.search(r"^\s*assert\b|\bcheck\(", cell, re.M)
        and not any(t in tags(cell) for t in HIDDEN)
    ]
    assert not visible, (
        f"{doc}: check cells shown on the page (hide their input, show a verdict "
        f"with lab.pages.check): {visible}"
    )


@pytest.mark.parametrize("doc", chapter_files())
def test_chapter_opens_with_objectives_prerequisites_and_reading_time(doc):
    text = source(doc)
    head = text[: text.index("\n## ")]  # before the first section
    assert re.search(r"\{admonition\} In this chapter", head), (
        f"{doc}: no 'In this chapter' box before the first section"
    )
    box = head.split("In this chapter", 1)[1]
    for word in ("Prerequisites", "Reading time"):
        assert word in box, f"{doc}: the 'In this chapter' box does not give {word}"


@pytest.mark.parametrize("doc", chapter_files())
def test_chapter_closes_with_key_results_before_the_exercises(doc):
    text = source(doc)
    assert "## Exercises" in text, f"{doc}: no exercises section"
    before = text[: text.index("## Exercises")]
    assert re.search(r"\{admonition\} Key results", before), (
        f"{doc}: no 'Key results' box before the exercises"
    )


@pytest.mark.parametrize("doc", chapter_files())
def test_listings_on_the_page_are_short(doc):
    """A visible ``show_source`` of more than 15 lines must pick its lines."""
    import importlib

    from lab.pages import source_excerpt

    text = source(doc)
    long = []
    for cell in CELL.findall(text):
        if any(t in tags(cell) for t in HIDDEN):
            continue
        for call in re.findall(r"show_source\(([^()]*(?:\([^()]*\))?[^()]*)\)", cell):
            if "lines=" in call or "start=" in call:
                continue
            name = call.split(",")[0].strip()
            module, _, attr = name.rpartition(".")
            obj = importlib.import_module(f"lab.{module}" if module else "lab")
            for part in attr.split("."):
                obj = getattr(obj, part)
            n = len(source_excerpt(obj).splitlines())
            if n > 15:
                long.append(f"{name} ({n} lines)")
    assert not long, f"{doc}: listings longer than 15 lines: {long}"
