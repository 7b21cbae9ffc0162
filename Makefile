# Every target bootstraps .venv first; `make setup` is idempotent and cheap when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

# The instance is this folder's dagster.yaml (its storage lives under data/dagster), so `make ui`,
# `make demo` and `haier-pipeline sync` run from here all share it.
export DAGSTER_HOME ?= $(CURDIR)
export UV_COMPILE_BYTECODE := 1

.PHONY: setup test demo ui bench lint lock clean dictionary

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip sync --quiet --python $(BIN)/python --compile-bytecode requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --compile-bytecode --no-deps -e .
	@touch $(STAMP)

# `dg check defs` first: the definitions load (and the configuration in the environment / .env is valid). Four
# pytest workers on two cores, because most tests wait on a simulator or a subprocess; a test file stays on one
# worker, so its module-scoped fixtures (the UI, the README's warehouses) are built once.
test: setup
	$(BIN)/dg check defs
	$(BIN)/pytest -n 4 --dist loadfile

demo: setup
	$(BIN)/haier-pipeline demo

# `make ui PORT=3001` for another port. SIGTERM or Ctrl-C stops it within 5 s, saying so.
PORT ?= 3000
ui: setup
	$(BIN)/haier-pipeline ui --port $(PORT)

bench: setup
	$(BIN)/python -m haier_pipeline_tests.bench

# The data dictionary (every table, view and column) from the declarations; a test fails while it is stale.
dictionary: setup
	$(BIN)/python -m haier_pipeline.warehouse.dictionary > docs/data-dictionary.md

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lock:
	$(UV) pip compile pyproject.toml --extra dev --extra deploy --python-version 3.11 -o requirements.lock

# Everything the project writes, and nothing else: tracked files (data/counties.csv, data/orders.csv) and a warehouse
# kept under another name (e.g. the old data/haier.duckdb) stay. What the UI and the daemon write: the instance under
# data/dagster (dagster.yaml), Dagster's telemetry folders logs/ and .logs_queue/ in DAGSTER_HOME (this folder; `dg`
# creates them even with telemetry off), the .tmp_dagster_home_* a `dg dev` run without DAGSTER_HOME leaves when it is
# killed, and storage/, history/, schedules/ where a dagster.yaml without storage paths puts the instance. A
# DAGSTER_HOME elsewhere is left alone: it may hold more than this project's runs.
clean:
	rm -rf $(VENV) data/dagster data/bench test-artifacts .pytest_cache .ruff_cache .hypothesis *.egg-info
	rm -rf logs .logs_queue .tmp_dagster_home_* storage history schedules
	rm -f data/warehouse.duckdb data/warehouse.duckdb.wal data/*.duckdb.lock
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
