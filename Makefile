# FakeScope developer commands. `make run` and `make test` are the two a new user needs.
# torch is pinned to the CPU build 2.13.0: on a machine without a local wheel, point pip at
# PyTorch's CPU index first:  export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501
PYTEST_ARGS ?=
LINT_PATHS := $(wildcard src tests streamlit_app scripts prepare_deployment.py)

.PHONY: help setup setup-dev run test test-fast lint format bench demo-model clean

help:
	@echo "make run        set up and start the dashboard + API (/api/docs) on the demo model"
	@echo "make test       set up and run the whole test suite (unit, integration, quality, e2e)"
	@echo "make test-fast  unit tests only"
	@echo "make lint       black --check + flake8"
	@echo "make bench      benchmark suite with a table of ratios against the baseline"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime

setup-dev: $(VENV)/.dev

run: setup
	$(BIN)/streamlit run streamlit_app/server.py --server.port $(PORT) --server.headless true

test: setup-dev
	mkdir -p out
	$(BIN)/python -m pytest -m "not benchmark" --cov=fakescope --cov-report=term \
		--cov-report=xml:out/coverage.xml $(PYTEST_ARGS)

test-fast: setup-dev
	$(BIN)/python -m pytest -m unit -q $(PYTEST_ARGS)

lint: setup-dev
	$(BIN)/black --check $(LINT_PATHS)
	$(BIN)/flake8 $(LINT_PATHS)

format: setup-dev
	$(BIN)/black $(LINT_PATHS)

bench: setup-dev
	mkdir -p out
	$(BIN)/python -m pytest tests/benchmarks -m benchmark --benchmark-json=out/benchmarks.json $(PYTEST_ARGS)
	$(BIN)/python scripts/benchmark_report.py out/benchmarks.json --baseline benchmarks/baseline.json \
		--skip-times --markdown out/benchmarks.md

demo-model: setup-dev
	$(BIN)/python scripts/build_demo_model.py

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks out
