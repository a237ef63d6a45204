"""Build the PDF edition: ``_build/pdf/sgd-book.pdf`` (``make pdf``).

Jupyter Book writes the LaTeX (``--builder latex``, strictly: ``-n -W --keep-going``),
reusing the HTML build's execution cache, and latexmk typesets it with XeLaTeX. Nothing
is installed here: where a tool is missing the script says which Debian packages to
``apt-get install`` and exits with status 2.

    python scripts/build_pdf.py             # build (run `make book` first to fill the cache)
    python scripts/build_pdf.py --packages  # print the Debian packages, one line
    python scripts/build_pdf.py --check     # exit 2 (saying what to install) if one lacks

Only the standard library is used, so ``.ci/run`` and the workflow can ask for the
package list before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEX = ROOT / "_build" / "latex"
PDF = ROOT / "_build" / "pdf" / "sgd-book.pdf"

#: Debian packages of the PDF edition: XeLaTeX and the LaTeX packages Sphinx's classes
#: load, latexmk, the FreeFont fonts Sphinx sets for XeLaTeX, and poppler's pdftotext
#: for the tests.
PACKAGES = (
    "texlive-xetex",
    "texlive-latex-extra",
    "texlive-fonts-recommended",
    "latexmk",
    "fonts-freefont-otf",
    "poppler-utils",
)
#: The commands the build and the tests run.
TOOLS = ("xelatex", "latexmk", "pdftotext", "fc-list")
#: The font family Sphinx's XeLaTeX setup uses.
FONT = "FreeSerif"


def missing() -> list[str]:
    """What the PDF edition needs and this machine lacks (commands, then the font)."""
    lacking = [tool for tool in TOOLS if shutil.which(tool) is None]
    if "fc-list" not in lacking:
        fonts = subprocess.run(["fc-list", FONT], capture_output=True, text=True)
        if FONT not in fonts.stdout:
            lacking.append(f"the {FONT} font")
    return lacking


def install_hint(lacking: list[str]) -> str:
    return (
        f"The PDF edition needs {', '.join(lacking)}. On Debian or Ubuntu:\n"
        f"    sudo apt-get install -y {' '.join(PACKAGES)}"
    )


def build(python: str = sys.executable) -> dict:
    """Write the LaTeX, typeset it, copy the PDF to ``_build/pdf``; the seconds each
    step took. Raises ``RuntimeError`` (with the log's tail) when a step fails."""
    jupyter_book = Path(python).parent / "jupyter-book"
    seconds = {}
    start = time.perf_counter()
    command = [str(jupyter_book), "build", str(ROOT), "-n", "-W", "--keep-going"]
    _run(command + ["--builder", "latex"], "jupyter-book (LaTeX)")
    seconds["latex_sources"] = time.perf_counter() - start
    start = time.perf_counter()
    _run(
        ["latexmk", "-xelatex", "-interaction=nonstopmode", "-halt-on-error", "-silent"]
        + ["sgd-book.tex"],
        "latexmk (XeLaTeX)",
        cwd=LATEX,
    )
    seconds["xelatex"] = time.perf_counter() - start
    PDF.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LATEX / "sgd-book.pdf", PDF)
    return seconds


def _run(command, what, cwd=ROOT):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--packages", action="store_true", help="print the Debian packages and exit"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 2 if a tool is missing, else 0"
    )
    args = parser.parse_args()
    if args.packages:
        print(" ".join(PACKAGES))
        return 0
    lacking = missing()
    if lacking:
        print(install_hint(lacking), file=sys.stderr)
        return 2
    if args.check:
        return 0
    try:
        seconds = build()
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    size = PDF.stat().st_size / 1e6
    print(
        f"The PDF edition is {PDF.relative_to(ROOT)} ({size:.1f} MB): LaTeX sources "
        f"{seconds['latex_sources']:.0f} s, XeLaTeX {seconds['xelatex']:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
