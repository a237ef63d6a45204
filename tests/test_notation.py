"""One meaning per symbol: every symbol a chapter's mathematics uses is in the notation table.

A "symbol" here is a Greek letter or one of the book's MathJax macros (``\\ghat``,
``\\Bstar``, ... from ``_config.yml``): the names a reader must look up. The notation
table in ``book/intro.md`` lists each with its one meaning; a chapter that uses a symbol
the table does not list fails, so a new symbol cannot enter the book undefined.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))

GREEK = set(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
    "lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi "
    "omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)


def book_macros() -> set[str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return set(config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"])


def math_of(text: str) -> list[str]:
    """The TeX of every math span of a MyST page (code cells left out)."""
    text = re.sub(r"```\{code-cell\}.*?```", "", text, flags=re.S)
    text = re.sub(r"```\{math\}(.*?)```", r"$$\1$$", text, flags=re.S)
    display = re.findall(r"\$\$(.*?)\$\$", text, flags=re.S)
    text = re.sub(r"\$\$(.*?)\$\$", "", text, flags=re.S)
    return display + re.findall(r"\$([^$\n]+?)\$", text)


def symbols_in(tex: str, names: set[str]) -> set[str]:
    return {n for n in re.findall(r"\\([A-Za-z]+)", tex) if n in names}


def notation_table() -> str:
    """The rows of the notation section of the intro page."""
    intro = (ROOT / "book" / "intro.md").read_text()
    section = intro.split("## Notation", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_notation_table_exists():
    assert notation_table().count("\n") > 20, (
        "the notation table in intro.md is missing"
    )


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.stem)
def test_every_symbol_a_chapter_uses_is_in_the_notation_table(page):
    names = GREEK | book_macros()
    listed = set()
    for tex in math_of(notation_table()):
        listed |= symbols_in(tex, names)
    used = set()
    for tex in math_of(page.read_text()):
        used |= symbols_in(tex, names)
    missing = ", ".join("\\" + m for m in sorted(used - listed))
    assert not missing, (
        f"{page.name} uses {missing}, which the notation table in book/intro.md "
        "does not list: add a row with its one meaning"
    )
