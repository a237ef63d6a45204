"""Shared fixtures: the book is built once per test session, clean and strict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

# The one hypothesis profile of the test suite: property tests explore the same 40
# examples on every run (CI must not depend on luck; a test that needs more or fewer
# says so with @settings) and have no per-example deadline (the 2-core machine is often
# busy).
settings.register_profile("lab", max_examples=40, derandomize=True, deadline=None)
settings.load_profile("lab")

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"


def toc_files() -> list[str]:
    """Every document in _toc.yml (paths relative to the root, without suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def add(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            if "glob" in entry:
                files.extend(
                    str(p.relative_to(ROOT).with_suffix(""))
                    for p in sorted(ROOT.glob(entry["glob"] + ".md"))
                )
            add(entry.get("sections", []))

    for part in toc.get("parts", []):
        add(part.get("chapters", []))
    return files


def chapter_files() -> list[str]:
    """The numbered chapters: book/NN_name documents in the table of contents."""
    return [
        f
        for f in toc_files()
        if Path(f).parent.name == "book" and Path(f).name[:2].isdigit()
    ]


def notebook_files() -> list[str]:
    """Documents in the toc that are MyST notebooks (they carry a kernelspec)."""
    return [f for f in toc_files() if "kernelspec:" in (ROOT / f"{f}.md").read_text()]


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book from scratch, strictly, and return the HTML folder.

    Clean (no execution cache, no previous HTML), with every notebook executed, and
    with -n -W --keep-going: a cell error, a timeout, a Sphinx warning or a broken
    reference fails the build, and so this fixture.

    ``LAB_REUSE_BOOK=1`` skips the build and tests the HTML already in ``_build/html``
    (for iterating on these tests; ``make test`` never sets it).
    """
    if os.environ.get("LAB_REUSE_BOOK") == "1" and (BUILD / "html").is_dir():
        return BUILD / "html"
    shutil.rmtree(BUILD, ignore_errors=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "-n", "-W", "--keep-going"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "build.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-6000:]
        pytest.fail(
            f"jupyter-book build failed (exit {result.returncode}); "
            f"full log in _build/build.log:\n{tail}"
        )
    return BUILD / "html"
