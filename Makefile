# Two commands: `make book` builds the book, `make test` runs every test.
# Both set themselves up on a fresh machine (Python 3.11 and make are all they need).

SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB_FLAGS := -n -W --keep-going
PORT ?= 8000

.PHONY: book test bench serve lab clean venv

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

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m bench

serve:
	@test -d _build/html || { echo "No _build/html yet: run 'make book' first."; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: $(STAMP)
	$(VENV)/bin/jupyter lab book/

clean:
	rm -rf _build .pytest_cache .hypothesis
