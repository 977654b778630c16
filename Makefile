# The VAE course. Quick start: `make course`, then `make lab`. See README.md.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install course test lab release grade help

help:
	@echo "make course   install (.venv), check the release, execute and autograde every notebook"
	@echo "make test     the whole test suite"
	@echo "make lab      JupyterLab on notebooks/"
	@echo "make release  regenerate notebooks/ from solutions/ (instructors; FORCE=1 to replace edited files)"
	@echo "make grade ASSIGNMENT=<name> SUBMISSIONS=<dir>   autograde a class in parallel -> build/grades.csv"

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

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

release: $(STAMP)
	$(PY) scripts/release.py

grade: $(STAMP)
	$(PY) scripts/grade.py --assignment "$(ASSIGNMENT)" --submissions "$(SUBMISSIONS)"

