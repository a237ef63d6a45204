"""Colab's copy of each chapter: a paired .ipynb that matches its .md, with an install cell.

The .md is the source of truth; ``scripts/sync_notebooks.py`` writes the .ipynb. When a
test here fails after a chapter edit, run ``.venv/bin/python scripts/sync_notebooks.py``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types

import jupytext
import nbformat
import pytest
from conftest import ROOT, notebook_files

_spec = importlib.util.spec_from_file_location(
    "sync_notebooks", ROOT / "scripts" / "sync_notebooks.py"
)
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)

FIX = "run: .venv/bin/python scripts/sync_notebooks.py"


def test_every_toc_notebook_is_a_chapter_the_sync_script_pairs():
    paired = {f"book/{md.stem}" for md in sync.chapters()}
    missing = [doc for doc in notebook_files() if doc not in paired]
    assert not missing, (
        f"notebooks in _toc.yml that sync_notebooks.py does not pair: {missing}"
    )


@pytest.mark.parametrize("doc", notebook_files())
def test_paired_ipynb_matches_its_md(doc):
    ipynb = ROOT / f"{doc}.ipynb"
    assert ipynb.exists(), f"{ipynb.relative_to(ROOT)} is missing; {FIX}"
    on_disk = nbformat.read(ipynb, as_version=4)
    expected = sync.paired_notebook(ROOT / f"{doc}.md", sync.repository_url())
    for i, (got, want) in enumerate(zip(on_disk.cells, expected.cells)):
        assert (got.cell_type, got.source) == (want.cell_type, want.source), (
            f"{doc}.ipynb cell {i} differs from the .md; {FIX}"
        )
    assert len(on_disk.cells) == len(expected.cells), (
        f"{doc}.ipynb: cell count differs; {FIX}"
    )
    assert json.loads(ipynb.read_text(encoding="utf-8")) == json.loads(
        sync.render(expected)
    ), f"{doc}.ipynb: metadata or outputs differ; {FIX}"


def test_no_ipynb_without_its_md():
    assert not sync.orphans(), f"stale notebooks with no chapter: {sync.orphans()}"


@pytest.mark.parametrize("doc", notebook_files())
def test_paired_ipynb_has_no_outputs_and_the_md_kernel(doc):
    nb = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert (
        nb.metadata["kernelspec"]["name"]
        == jupytext.read(ROOT / f"{doc}.md").metadata["kernelspec"]["name"]
    )
    assert "jupytext" not in nb.metadata, (
        "the .ipynb must not pair itself back onto the .md"
    )


@pytest.mark.parametrize("doc", notebook_files())
def test_first_cell_installs_lab_from_the_repository_and_is_hidden(doc):
    first = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4).cells[0]
    assert first.cell_type == "code"
    assert f"git+{sync.repository_url()}" in first.source
    assert "remove-cell" in first.metadata.get("tags", [])


def _run_colab_cell(monkeypatch, *, on_colab: bool) -> list[list[str]]:
    """Execute the Colab cell with subprocess.run recorded, on Colab or not."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    if on_colab:
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    else:
        monkeypatch.setitem(
            sys.modules, "google.colab", None
        )  # import raises ImportError
    exec(sync.colab_cell_source("book/x.md", sync.repository_url()), {})
    return calls


def test_colab_cell_pip_installs_the_repository_on_colab(monkeypatch):
    calls = _run_colab_cell(monkeypatch, on_colab=True)
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert cmd[-1] == f"git+{sync.repository_url()}"


def test_colab_cell_does_nothing_elsewhere(monkeypatch):
    assert _run_colab_cell(monkeypatch, on_colab=False) == []


def test_sync_check_passes_on_the_committed_tree():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
