# Two commands: `make book` builds the book, `make test` runs every test.
# Both set themselves up on a fresh machine (Python 3.11 and make are all they need).

SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUFF   := $(VENV)/bin/ruff
STAMP  := $(VENV)/.installed
JB_FLAGS := -n -W --keep-going
PORT ?= 8000

.PHONY: book pdf test unit lint format bench bench-compare gpu-check serve lab clean venv

venv: $(STAMP)

# Re-install when the requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install --quiet -r requirements.txt 2>&1 | grep -v "is ignored"; test $${PIPESTATUS[0]} -eq 0
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored"; test $${PIPESTATUS[0]} -eq 0
	touch $(STAMP)

# Local rebuilds reuse the execution cache in _build/.jupyter_cache;
# `make test` always builds from scratch.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . $(JB_FLAGS)
	@echo "The book is in _build/html/index.html"

# The PDF edition, _build/pdf/sgd-book.pdf, typeset by XeLaTeX from the same sources; it
# reuses the execution cache of `make book`. It installs nothing: where XeLaTeX or
# poppler is missing it prints the `apt-get install` line (scripts/build_pdf.py).
pdf: $(STAMP)
	$(PY) scripts/build_pdf.py

# Every test: lint, lab's unit tests, the strict clean book build, the built HTML and
# the headless browser.
test: lint
	$(PY) -m pytest

# lab's tests alone (about a minute): no book build, no browser.
unit: $(STAMP)
	$(PY) -m pytest -m "not book and not browser"

# ruff (lint and format) over lab, tests, bench, scripts and the chapters' code cells
# (in the paired notebooks); the generated files (notebooks, API appendix) up to date.
lint: $(STAMP)
	$(RUFF) check .
	$(RUFF) format --check .
	$(PY) scripts/format_chapters.py --check
	$(PY) scripts/sync_notebooks.py --check
	$(PY) scripts/api_appendix.py --check
	$(PY) scripts/exercise_sheets.py --check

# Fix what lint reports where a tool can: formatting, imports, generated files.
format: $(STAMP)
	$(RUFF) check --fix .
	$(RUFF) format .
	$(PY) scripts/format_chapters.py
	$(PY) scripts/sync_notebooks.py
	$(PY) scripts/api_appendix.py
	$(PY) scripts/exercise_sheets.py

bench: $(STAMP)
	$(PY) -m bench

# lab.optim's step time against another revision, interleaved rounds, medians of ratios:
# make bench-compare BASE=<rev>
bench-compare: $(STAMP)
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<git revision>"; exit 1; }
	$(PY) -m bench.compare $(BASE)

# The CUDA checks, on a machine with a GPU: the gpu-marked tests and the optimizer
# benchmark on CUDA, in under 5 minutes, with the python that has CUDA torch
# (GPU_PYTHON=python3 by default: such machines bring their own; nothing is installed).
GPU_PYTHON ?= python3
gpu-check:
	$(GPU_PYTHON) scripts/gpu_check.py

serve:
	@test -d _build/html || { echo "No _build/html yet: run 'make book' first."; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: $(STAMP)
	$(VENV)/bin/jupyter lab book/

clean:
	rm -rf _build .pytest_cache .hypothesis .ruff_cache
