"""No number that reports a result is typed by hand into an exercise solution.

A decimal number in a solution's prose (``0.27``, ``2.09``) must come from a cell, by
myst-nb's ``{glue:text}`` role, unless the exercise itself states it (a given, such as a
learning rate the exercise chooses) or the page's code sets it as a literal (a setting
the solution talks about, such as a learning rate on the grid a cell runs: a computed
result never appears in code as a literal). Code blocks inside a solution are exempt:
they are code the reader runs, and their output is theirs.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, chapter_files

DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w])")
BLOCK = re.compile(r"^:::\{(exercise|solution)\}[^\n]*\n(.*?)^:::$", re.M | re.S)


def _blocks(text: str):
    """(kind, label or target, body) of every exercise and solution block."""
    for match in BLOCK.finditer(text):
        kind, body = match.group(1), match.group(2)
        if kind == "solution":
            head = text[match.start() : text.index("\n", match.start())]
            target = head.split("}", 1)[1].strip()
        else:
            label = re.search(r"^:label: (\S+)", body, re.M)
            target = label.group(1) if label else ""
        yield kind, target, body


def _prose(body: str) -> str:
    """The solution without its options, code blocks and glue roles."""
    body = re.sub(r"^:\w+:.*$", "", body, flags=re.M)
    body = re.sub(r"^```.*?^```", "", body, flags=re.M | re.S)
    body = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", "", body)
    return body


def _code_literals(text: str) -> set[str]:
    """Decimal literals in the page's code (cells and code blocks), comments removed."""
    literals = set()
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        code = re.sub(r"#.*$", "", block, flags=re.M)
        literals |= set(DECIMAL.findall(code))
    return literals


def unglued_numbers(text: str) -> list[tuple[str, str]]:
    """(solution target, number) for every typed decimal result in a page's solutions."""
    settings = _code_literals(text)
    givens = {}
    for kind, target, body in _blocks(text):
        if kind == "exercise":
            givens[target] = set(DECIMAL.findall(body))
    found = []
    for kind, target, body in _blocks(text):
        if kind == "solution":
            for number in DECIMAL.findall(_prose(body)):
                if number not in givens.get(target, set()) | settings:
                    found.append((target, number))
    return found


def test_the_checker_finds_typed_results_and_spares_givens_and_glue():
    page = (
        ":::{exercise}\n:label: ex-a\nAt $\\eta = 0.3$, what is the loss?\n:::\n\n"
        ":::{solution} ex-a\n:class: dropdown\n\nAt $\\eta = 0.3$ the loss is 0.27, "
        "or {glue:text}`loss:.2f`, and at $\\eta = 0.5$ it is 0.31.\n\n"
        "```python\nprint(1.5)  # 0.31\n```\n:::\n\n"
        "```{code-cell} ipython3\nfor lr in [0.3, 0.5]:\n    pass\n```\n"
    )
    # 0.3: given; 0.5: a setting the page's code runs; 0.27 and 0.31: typed results
    assert unglued_numbers(page) == [("ex-a", "0.27"), ("ex-a", "0.31")]


@pytest.mark.parametrize("doc", chapter_files())
def test_exercise_solutions_glue_their_numbers(doc):
    text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    found = unglued_numbers(text)
    assert not found, (
        f"{doc}: typed numbers in solutions (glue them from a cell): {found}"
    )
