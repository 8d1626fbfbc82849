# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   venv + install + train an NTM on copy, evaluate, plot
#   make test   venv + install test extras + run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEMO_WORKDIR ?= runs/demo_ntm_copy

.PHONY: demo test install install-test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(PY) -m memax.main --config=configs/ntm_copy.py --workdir=$(DEMO_WORKDIR)

test: install-test
	$(PY) -m pytest -n 2 tests

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
