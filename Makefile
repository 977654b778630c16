# The VAE course. Quick start: `make course`, then `make lab`. See README.md.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install sandbox course test lab release grade e2e bench help reference

help:
	@echo "make course   install (.venv), check the release, execute and autograde every notebook"
	@echo "make test     the whole test suite"
	@echo "make lab      JupyterLab on notebooks/"
	@echo "make e2e      browser test of JupyterLab (headless chromium + chromium-driver) -> build/screenshots/"
	@echo "make reference  train the MNIST models to convergence for every seed -> helpers/checkpoints/ (developers, ~30 min)"
	@echo "make release  regenerate notebooks/ from solutions/ (instructors; FORCE=1 to replace edited files)"
	@echo "make grade ASSIGNMENT=<name> SUBMISSIONS=<dir>   autograde a class in sandboxed kernels -> build/grades-<name>.csv"
	@echo "           [STUDENTS=a,b] [REGRADE=all] [TIMEOUT=600] [JOBS=n] [SANDBOX=none]   (see README, Grading a class)"
	@echo "           [SCHEDULER=tcp://host:8786]   on a Dask cluster's workers (see README, Grading on a cluster)"
	@echo "make bench    speed and memory of executing and grading -> build/bench.json (ONLY=class: class grading, local and on Dask)"
	@echo "make feedback ASSIGNMENT=<name> [COURSE=dir] [FORCE=1]   feedback HTML, refused while hand grading is pending"
	@echo "make export ASSIGNMENT=<name> [COURSE=dir]   per-question/notebook CSVs, Canvas/Moodle CSVs, score PNGs -> build/export/"
	@echo "make hub     JupyterHub 5 with nbgrader's exchange on 127.0.0.1:8000, one OS account per person (as root)"

# Create .venv if it is missing and install the pinned dependencies (pyproject.toml).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# the build backend's notes on editable installs are the course's packaging, not the student's business
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e .
	@touch $@

# The formgrader's Content-Security-Policy (grading/csp.py) is a server extension, enabled for every Jupyter
# server of this environment (JupyterLab, the hub's) by this file.
SERVER_EXT := $(VENV)/etc/jupyter/jupyter_server_config.d/vae-course.json
$(SERVER_EXT): jupyter-config/vae-course.json $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

install: $(STAMP) $(SERVER_EXT)

# Autograding runs every student kernel in a bubblewrap sandbox (grading/sandbox.py). Installs
# Debian's bubblewrap when it is missing, as .ci/run does for chromium; SANDBOX=none skips it.
SANDBOX ?= bwrap
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
sandbox:
ifneq ($(SANDBOX),none)
	@command -v bwrap >/dev/null || { command -v apt-get >/dev/null && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap; } || \
	  { echo "make: bubblewrap (bwrap) is needed to sandbox grading kernels and could not be installed:"; \
	    echo "      install it (Debian/Ubuntu: sudo apt-get install bubblewrap) or grade with SANDBOX=none"; exit 2; }
endif

course: $(STAMP)
	$(PY) scripts/course.py

test: install sandbox
	$(PY) -m pytest

# Jupyter refuses to start as root unless told to (containers, CI machines).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

release: $(STAMP)
	$(PY) scripts/release.py

# The course's converged MNIST models and their seed table (helpers/checkpoints/): rebuild after changing
# anything a checkpoint's key depends on. FRESH=1 forgets an interrupted run's checkpoints.
reference: $(STAMP)
	$(PY) scripts/reference.py $(if $(FRESH),--fresh,)

# With SCHEDULER (a Dask scheduler's address) the workers grade, and each needs bubblewrap, not this machine.
grade: install $(if $(SCHEDULER),,sandbox)
	STUDENTS="$(STUDENTS)" REGRADE="$(REGRADE)" TIMEOUT="$(TIMEOUT)" JOBS="$(JOBS)" SANDBOX="$(SANDBOX)" \
	  SCHEDULER="$(SCHEDULER)" $(PY) scripts/grade.py --assignment "$(ASSIGNMENT)" --submissions "$(SUBMISSIONS)"

# The student's experience in a real browser: Debian's chromium and chromium-driver, nothing downloaded.
# Plain `make test` skips tests/e2e; here a missing browser is an error.
e2e: install
	E2E=1 $(PY) -m pytest tests/e2e

# Speed and memory, measured (never asserted in tests): see README, Performance.
bench: $(STAMP) sandbox
	$(PY) scripts/bench.py $(if $(ONLY),--only $(ONLY),)

# After make grade (or nbgrader autograde at the root with COURSE=.): feedback once hand grading is done
# (FORCE=1 sends it anyway), and exports per question, per notebook and for an LMS -> build/export/<assignment>/.
.PHONY: feedback export hub
feedback: $(STAMP)
	$(PY) scripts/feedback.py generate --assignment "$(ASSIGNMENT)" $(if $(COURSE),--course "$(COURSE)",)

export: $(STAMP)
	$(PY) scripts/export.py --assignment "$(ASSIGNMENT)" $(if $(COURSE),--course "$(COURSE)",)

# A class on this machine: JupyterHub 5 on 127.0.0.1:8000 with nbgrader's exchange, every person their own
# OS account; run as root (see README, Running a class).
hub: install
	$(PY) hub/run.py
