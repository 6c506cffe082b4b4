# The two commands: `make demo` (set up, run the main job) and `make test` (set up, run the tests).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: setup demo test lint bench

setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --locked
	$(UV) run --locked hk dbt parse --quiet

demo: setup
	$(UV) run --locked hk demo

test: lint
	$(UV) run --locked pytest

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy hk_core hk_cli serving hk_pipelines ml orchestrator

bench: setup
	$(UV) run --locked python benchmarks/run.py
