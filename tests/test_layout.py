"""The layout CONTRIBUTING.md describes: one name per chapter, every derivation
registered and shown, declared dependencies, generated files up to date.

Each test names the step of the recipe for adding a chapter that it checks.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import lab.derivations as D
from lab.derivations.claims import Derivation

ROOT = Path(__file__).resolve().parent.parent


_spec = importlib.util.spec_from_file_location(
    "api_appendix", ROOT / "scripts" / "api_appendix.py"
)
api_appendix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_appendix)

#: (NN, name) of every numbered chapter in _toc.yml (book/NN_name.md).
CHAPTERS = [(f"{n:02d}", name) for n, name in api_appendix.chapters()]


def test_there_are_ten_chapters():
    assert [nn for nn, _ in CHAPTERS] == [f"{k:02d}" for k in range(1, 11)]


@pytest.mark.parametrize("nn, name", CHAPTERS, ids=[n for _, n in CHAPTERS])
def test_each_chapter_has_its_page_module_explorer_and_tests_under_one_name(nn, name):
    from lab.widgets import EXPLORERS

    assert (ROOT / "book" / f"{nn}_{name}.md").is_file()
    assert (ROOT / "book" / f"{nn}_{name}.ipynb").is_file(), (
        "run scripts/sync_notebooks.py"
    )
    assert (ROOT / "lab" / f"{name}.py").is_file(), (
        f"lab/{name}.py: the chapter's module"
    )
    assert (ROOT / "lab" / "widgets" / f"{name}.py").is_file(), "the chapter's explorer"
    assert name in EXPLORERS, f"lab/widgets/{name}.py must register its explorer"
    assert (ROOT / "tests" / f"test_ch{nn}_{name}.py").is_file(), "the chapter's tests"
    page = (ROOT / "book" / f"{nn}_{name}.md").read_text()
    assert f"{name}_explorer" in page, "the page shows its explorer"
    assert f"{name}_figure(" not in page, (
        "the explorer draws its own default figure: no second copy on the page"
    )
    from lab.widgets import GRIDS

    assert name in GRIDS, f"lab/widgets/{name}.py must give the page's grid"


def test_every_lab_module_belongs_to_a_chapter_or_is_shared():
    shared = {
        "problems",
        "simulate",
        "optim",
        "derivations",
        "train",
        "distributed",
        "plots",
        "widgets",
        "pages",
    }
    names = {
        p.stem
        for p in (ROOT / "lab").iterdir()
        if not p.name.startswith("_")
        and (p.suffix == ".py" or p.is_dir())
        and p.name != "__pycache__"
    }
    assert names - shared == {name for _, name in CHAPTERS}


def _builders():
    """Every public function of lab.derivations' modules that returns a Derivation."""
    out = {}
    for path in sorted((ROOT / "lab" / "derivations").glob("*.py")):
        if path.name.startswith("_") or path.stem in ("claims", "errata"):
            continue
        module = importlib.import_module(f"lab.derivations.{path.stem}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            hint = inspect.signature(fn).return_annotation
            if (
                fn.__module__ == module.__name__
                and not name.startswith("_")
                and (hint in (Derivation, "Derivation"))
            ):
                out[f"{path.stem}.{name}"] = fn
    return out


def test_every_derivation_is_registered():
    registered = set(D.DERIVATIONS.values())
    missing = [
        name
        for name, fn in _builders().items()
        if fn not in registered and getattr(fn, "__wrapped__", fn) not in registered
    ]
    assert not missing, f"add to lab.derivations.DERIVATIONS: {missing}"


def test_derivation_modules_are_named_after_chapters():
    names = {name for _, name in CHAPTERS} | {"claims", "errata"}
    modules = {
        p.stem
        for p in (ROOT / "lab" / "derivations").glob("*.py")
        if not p.name.startswith("_")
    }
    assert modules <= names


def test_every_registered_derivation_has_a_section_in_the_appendix():
    page = (ROOT / "book" / "appendix_derivations.md").read_text()
    missing = [label for label in D.DERIVATIONS if f"({label})=" not in page]
    assert not missing, f"add a section to book/appendix_derivations.md: {missing}"


@pytest.mark.parametrize("script", ["api_appendix.py", "format_chapters.py"])
def test_generated_files_are_up_to_date(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------
# Dependencies: every import of lab is declared, every requirement is used.
# --------------------------------------------------------------------------------------

#: The distribution that provides each top-level module lab imports.
DISTRIBUTIONS = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "sympy": "sympy",
    "mpmath": "mpmath",
    "matplotlib": "matplotlib",
    "PIL": "pillow",
    "ipywidgets": "ipywidgets",
    "IPython": "ipython",
    "matplotlib_inline": "matplotlib-inline",
    "sklearn": "scikit-learn",
    "threadpoolctl": "threadpoolctl",
    # lab.pages.glue: the book build has it; a notebook on Colab runs without it
    "myst_nb": "myst-nb",
}

#: Where each requirement that lab does not import is used: (file glob, pattern).
TOOLS = {
    "ninja": ("lab/optim/_fused/__init__.py", r"ninja"),
    "jupyter-book": ("Makefile", r"jupyter-book build"),
    "sphinx-proof": ("_config.yml", r"sphinx_proof"),
    "sphinx-exercise": ("_config.yml", r"sphinx_exercise"),
    "sphinxcontrib-bibtex": ("_config.yml", r"bibtex"),
    "ipykernel": ("book/*.md", r"name: python3"),
    "jupyterlab": ("Makefile", r"jupyter lab"),
    "jupytext": ("scripts/sync_notebooks.py", r"import jupytext"),
    "pytest": ("Makefile", r"pytest"),
    "pytest-timeout": ("tests/*.py", r"mark\.timeout"),
    "hypothesis": ("tests/*.py", r"from hypothesis import"),
    "ruff": ("Makefile", r"RUFF\)? check"),
    "pyyaml": ("tests/conftest.py", r"import yaml"),
    "beautifulsoup4": ("tests/*.py", r"from bs4 import"),
    "nbformat": ("tests/*.py", r"import nbformat"),
    "pypdf": ("tests/*.py", r"import pypdf|from pypdf import"),
    "playwright": ("tests/*.py", r"playwright"),
    "voila": ("tests/*.py", r"voila"),
}


def _requirement_names(lines) -> list[str]:
    names = []
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            names.append(re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower())
    return names


def _imported(node) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return {node.module.split(".")[0]}
    return set()


def _lab_imports(optional: bool = False) -> set[str]:
    """Top-level modules lab imports: all of them, or (``optional=True``) only those
    imported inside ``try: ... except ImportError`` (lab works without them)."""
    found, guarded = set(), set()
    for path in (ROOT / "lab").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            found |= _imported(node)
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id == "ImportError"
                for h in node.handlers
            ):
                for inner in node.body:
                    for sub in ast.walk(inner):
                        guarded |= _imported(sub)
    skip = set(sys.stdlib_module_names) | {"lab", "__future__"}
    return (guarded if optional else found) - skip


def test_every_import_of_lab_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(_requirement_names(project["dependencies"]))
    extras = set()
    for extra in project["optional-dependencies"].values():
        extras |= set(_requirement_names(extra))
    unknown = _lab_imports() - set(DISTRIBUTIONS)
    assert not unknown, f"add to DISTRIBUTIONS and pyproject.toml: {unknown}"
    optional = _lab_imports(optional=True)
    missing = {DISTRIBUTIONS[m] for m in _lab_imports() - optional} - declared
    assert not missing, f"declare in pyproject.toml's dependencies: {missing}"
    # an import lab can do without (guarded by ImportError) belongs to an extra
    missing = {DISTRIBUTIONS[m] for m in optional} - declared - extras
    assert not missing, f"declare in a pyproject.toml extra: {missing}"


def test_every_requirement_is_declared_and_used():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(_requirement_names(project["dependencies"]))
    for extra in project["optional-dependencies"].values():
        declared |= set(_requirement_names(extra))
    required = _requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert set(required) <= declared, set(required) - declared
    imported = {DISTRIBUTIONS[m] for m in _lab_imports()}
    for name in required:
        if name in imported:
            continue
        assert name in TOOLS, (
            f"{name}: required but neither imported by lab nor a listed tool"
        )
        pattern, regex = TOOLS[name]
        texts = [
            p.read_text() for p in ROOT.glob(pattern) if p.name != "test_layout.py"
        ]
        assert any(re.search(regex, t) for t in texts), f"{name} looks unused"
