"""Launch buttons that work: Binder's environment, and the buttons on the built pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from conftest import ROOT, notebook_files

BINDER = ROOT / "binder"


def _requirement_lines(path: Path) -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def _torch_pin(lines: list[str]) -> str:
    pins = [line for line in lines if re.match(r"torch\s*==", line)]
    assert len(pins) == 1, f"expected one torch pin, found {pins}"
    return pins[0].split("==", 1)[1].strip()


def _repository() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]


def test_binder_installs_the_cpu_torch_wheel_of_the_local_pin():
    binder = _requirement_lines(BINDER / "requirements.txt")
    local = _requirement_lines(ROOT / "requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder
    assert _torch_pin(binder) == f"{_torch_pin(local)}+cpu", (
        "binder/requirements.txt must pin the CPU build of the torch version in requirements.txt"
    )
    assert "-r ../requirements.txt" in binder, (
        "Binder should get every package the book uses"
    )


def test_local_and_ci_installs_never_see_the_binder_only_index():
    for line in _requirement_lines(ROOT / "requirements.txt"):
        assert "index-url" not in line and "find-links" not in line, line


def test_binder_installs_lab_and_pins_python():
    post_build = (BINDER / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post_build)
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert re.fullmatch(r"python-3\.\d+\s*", (BINDER / "runtime.txt").read_text())


@pytest.mark.book
@pytest.mark.parametrize("doc", notebook_files())
def test_chapter_page_launches_its_ipynb_on_binder_and_colab_and_offers_thebe(
    built_book, doc
):
    repo = _repository()
    org_repo = repo["url"].rstrip("/").removeprefix("https://github.com/")
    branch = repo.get("branch", "main")
    soup = BeautifulSoup((built_book / f"{doc}.html").read_text(), "html.parser")
    hrefs = [a["href"] for a in soup.select("a[href]")]
    colab = (
        f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{doc}.ipynb"
    )
    binder = (
        f"https://mybinder.org/v2/gh/{org_repo}/{branch}?urlpath=lab/tree/{doc}.ipynb"
    )
    assert colab in hrefs, f"{doc}: no Colab link to the paired .ipynb"
    assert binder in hrefs, f"{doc}: no Binder link to the paired .ipynb"
    assert soup.select(".btn-launch-thebe"), f"{doc}: no Thebe (live code) button"
    config = soup.find("script", type="text/x-thebe-config")
    assert (
        config
        and f'repo: "{org_repo}"' in config.text
        and f'ref: "{branch}"' in config.text
    )


def test_pages_workflow_builds_strictly_and_publishes_the_html():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    build = workflow["jobs"]["build"]["steps"]
    runs = "\n".join(step.get("run", "") for step in build)
    # make test builds the book strictly (tests/conftest.py: -n -W) before testing it
    assert "make test" in runs
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"JB_FLAGS\s*:=.*-W", makefile), (
        "make book must turn warnings into errors"
    )
    assert "download.pytorch.org/whl/cpu" in runs, (
        "the workflow must not pull CUDA torch"
    )
    upload = [
        s
        for s in build
        if s.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}


@pytest.mark.parametrize(
    "doc", [f for f in notebook_files() if Path(f).name[:2].isdigit()]
)
def test_setup_cell_runs_first_under_thebe(doc):
    # Thebe runs only the cells on the page; a chapter's imports must be there, tagged to run
    # when the kernel starts, or every later cell fails with a NameError.
    text = (ROOT / f"{doc}.md").read_text()
    first_cell = text[text.index("```{code-cell}") :]
    first_cell = first_cell[: first_cell.index("\n```", 3)]
    assert "thebe-init" in first_cell and "remove-cell" not in first_cell, doc
