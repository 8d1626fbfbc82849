# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   venv + install + train an NTM on copy, evaluate, plot
#   make test   venv + install test extras + run the test suite
# Both install the tested package set (constraints.txt); pyproject.toml
# declares the compatible ranges for installing memax anywhere else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CONSTRAINTS ?= constraints.txt
DEMO_WORKDIR ?= runs/demo_ntm_copy

.PHONY: demo test install install-test bench constraints clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(PY) -m memax.main --config=configs/ntm_copy.py --workdir=$(DEMO_WORKDIR)

test: install-test
	$(PY) -m pytest -n 2 --dist worksteal tests

bench: install
	$(PY) benchmarks/run.py

# Rewrites constraints.txt from a fresh install of the ranges' newest
# versions (then run `make test` before committing it).
constraints:
	rm -rf $(VENV)-constraints
	$(PYTHON) -m venv $(VENV)-constraints
	$(VENV)-constraints/bin/pip install --quiet --upgrade pip
	$(VENV)-constraints/bin/pip install --quiet ".[test]"
	head -4 $(CONSTRAINTS) > $(CONSTRAINTS).new
	$(VENV)-constraints/bin/pip freeze --exclude-editable | grep -v '^memax' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(VENV)-constraints

clean:
	rm -rf $(VENV) build *.egg-info
