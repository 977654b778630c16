# The VAE course. Quick start: `make course`, then `make lab`. See README.md.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install course test lab release grade e2e bench help

help:
	@echo "make course   install (.venv), check the release, execute and autograde every notebook"
	@echo "make test     the whole test suite"
	@echo "make lab      JupyterLab on notebooks/"
	@echo "make e2e      browser test of JupyterLab (headless chromium + chromium-driver) -> build/screenshots/"
	@echo "make release  regenerate notebooks/ from solutions/ (instructors; FORCE=1 to replace edited files)"
	@echo "make grade ASSIGNMENT=<name> SUBMISSIONS=<dir>   autograde a class in parallel -> build/grades.csv"
	@echo "make bench    speed and memory of executing and grading -> build/bench.json"

# Create .venv if it is missing and install the pinned dependencies (pyproject.toml).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

install: $(STAMP)

course: $(STAMP)
	$(PY) scripts/course.py

test: $(STAMP)
	$(PY) -m pytest

# Jupyter refuses to start as root unless told to (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

release: $(STAMP)
	$(PY) scripts/release.py

grade: $(STAMP)
	$(PY) scripts/grade.py --assignment "$(ASSIGNMENT)" --submissions "$(SUBMISSIONS)"

# The student's experience in a real browser: Debian's chromium and chromium-driver, nothing downloaded.
# Plain `make test` skips tests/e2e; here a missing browser is an error.
e2e: $(STAMP)
	E2E=1 $(PY) -m pytest tests/e2e

# Speed and memory, measured (never asserted in tests): see README, Performance.
bench: $(STAMP)
	$(PY) scripts/bench.py
