# lab — the commands a user types. `make help` lists them.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PRESET ?= cpu
KEEP_STALE ?=
PLAN ?=
ONLY ?=
PYTEST_ARGS ?=

.PHONY: help setup test data reproduce lab bench clean-venv
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The stamp depends on pyproject.toml, so a second `make setup` is a no-op unless the pins changed.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (or pass PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip check
	touch $@

setup: $(VENV)/.installed  ## create .venv with the pinned dependencies (idempotent)

test: setup  ## run the test suite
	$(PY) -m pytest $(PYTEST_ARGS)

data: setup  ## get Fashion-MNIST (Debian package dataset-fashion-mnist, else the Keras download)
	$(PY) -m lab.data fetch fashion_mnist

reproduce: setup  ## train and run every notebook at PRESET (smoke|cpu|cpu-long|cpu-wide|imagenette|imagenet), then build the report (ONLY=a,b: those notebooks, default: the preset's; KEEP_STALE=1: keep stale results, labelled; PLAN=1: only print the plan and a time estimate)
	$(if $(filter-out 0 1,$(KEEP_STALE)),$(error KEEP_STALE: must be 0 or 1, got '$(KEEP_STALE)'))
	$(if $(filter-out 0 1,$(PLAN)),$(error PLAN: must be 0 or 1, got '$(PLAN)'))
	$(PY) -m lab.reproduce --preset $(PRESET)$(if $(ONLY), --only $(ONLY))$(if $(filter 1,$(KEEP_STALE)), --keep-stale)$(if $(filter 1,$(PLAN)), --plan)
	$(if $(filter 1,$(PLAN)),,$(PY) -m lab.bench readme)

lab: setup  ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks/

bench: setup  ## measure the benchmarks (training step, cpu run, latency, sizes) into results/bench/ and the README
	$(PY) -m lab.bench train-step
	$(PY) -m lab.bench cpu-run
	$(PY) -m lab.bench latency
	$(PY) -m lab.models --out results/bench/sizes
	$(PY) -m lab.bench readme

clean-venv:  ## remove .venv
	rm -rf $(VENV)
