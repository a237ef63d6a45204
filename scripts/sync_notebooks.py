"""Write the Colab notebook (``book/NAME.ipynb``) paired with each MyST chapter.

The ``.md`` file is the source of truth: edit it, then run

    .venv/bin/python scripts/sync_notebooks.py          # rewrite every pair
    .venv/bin/python scripts/sync_notebooks.py --check  # exit 1 if a pair is stale

Each ``.ipynb`` holds the chapter's cells, without outputs, behind one extra first cell
that pip-installs the ``lab`` package from the repository when it runs on Colab and does
nothing anywhere else (Binder, JupyterLab, Voilà). That cell is tagged ``remove-cell``, so
it would stay hidden even if the notebook were ever rendered by the book. Cell ids are
fixed (``cell-000``, ...) so that a sync without changes rewrites identical bytes.
``tests/test_notebook_pairs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

COLAB_CELL_ID = "colab-install-lab"
COLAB_CELL_TEMPLATE = """\
# Colab only: install the course's `lab` package (does nothing elsewhere).
# Generated from {md_name} by scripts/sync_notebooks.py:
# edit the .md, not this notebook.
import subprocess
import sys

try:
    import google.colab  # noqa: F401
except ImportError:
    pass
else:
    url = "git+{repository_url}"
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, url], check=True)"""


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository URL, read from ``repository.url`` in the book's ``_config.yml``."""
    with open(config, encoding="utf-8") as f:
        url = yaml.safe_load(f)["repository"]["url"]
    return url.rstrip("/")


def chapters(book: Path = BOOK) -> list[Path]:
    """The executable MyST notebooks in ``book`` (those whose front matter has a kernelspec)."""
    return sorted(
        md for md in book.glob("*.md") if jupytext.read(md).metadata.get("kernelspec")
    )


def colab_cell_source(md_name: str, url: str) -> str:
    return COLAB_CELL_TEMPLATE.format(md_name=md_name, repository_url=url)


def paired_notebook(md: Path, url: str) -> nbformat.NotebookNode:
    """The notebook to write next to ``md``: the Colab cell, then the chapter's cells."""
    nb = jupytext.read(md)
    colab = nbformat.v4.new_code_cell(
        colab_cell_source(f"book/{md.name}", url),
        metadata={"tags": ["remove-cell"]},
        id=COLAB_CELL_ID,
    )
    cells = [colab]
    for i, cell in enumerate(nb.cells):
        cell = nbformat.from_dict(dict(cell))
        cell["id"] = f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    out = nbformat.v4.new_notebook(cells=cells)
    # No jupytext metadata: a JupyterLab with jupytext must not pair this copy back onto
    # the .md, which stays the source of truth.
    out.metadata = {
        "kernelspec": dict(nb.metadata["kernelspec"]),
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    nbformat.validate(out)
    return out


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def stale_pairs(book: Path = BOOK, url: str | None = None) -> list[str]:
    """The chapters whose ``.ipynb`` is missing or differs from what the ``.md`` gives."""
    url = url or repository_url()
    stale = []
    for md in chapters(book):
        ipynb = md.with_suffix(".ipynb")
        expected = json.loads(render(paired_notebook(md, url)))
        if (
            not ipynb.exists()
            or json.loads(ipynb.read_text(encoding="utf-8")) != expected
        ):
            stale.append(md.name)
    return stale


def orphans(book: Path = BOOK) -> list[str]:
    """``.ipynb`` files in ``book`` with no chapter ``.md`` next to them."""
    paired = {md.with_suffix(".ipynb") for md in chapters(book)}
    return sorted(p.name for p in book.glob("*.ipynb") if p not in paired)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a pair is missing or stale",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale, extra = stale_pairs(), orphans()
        for name in stale:
            print(f"stale or missing: {name} -> {Path(name).with_suffix('.ipynb')}")
        for name in extra:
            print(f"no .md for: {name}")
        if stale or extra:
            print("run: .venv/bin/python scripts/sync_notebooks.py")
            return 1
        print("every chapter's .ipynb matches its .md")
        return 0
    url = repository_url()
    for md in chapters():
        ipynb = md.with_suffix(".ipynb")
        text = render(paired_notebook(md, url))
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != text:
            ipynb.write_text(text, encoding="utf-8")
            print(f"wrote {ipynb.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
