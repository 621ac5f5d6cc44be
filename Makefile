# Task Center: every command creates/uses its own virtual environment (.venv) with pinned dependencies.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv local test test-fast lint template configuration openapi build bench chaos clean

$(BIN)/activate: requirements-dev.txt layers/requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/activate

venv: $(BIN)/activate

local: venv  ## run the whole stack locally (moto server, chalice local, event runner, simulated upstreams)
	$(BIN)/python -m infra.local

# 3 workers on CI's 2 cores: an e2e test waits on its worker's local stack (another process), so 2 workers left
# a quarter of the CPU idle; 3 ran the suite in 655 s instead of 858 s (2 Dec 2026, README.md)
test: lint  ## lint, then the full suite (unit, integration, infra, e2e)
	$(BIN)/python -m pytest -n 3 --dist worksteal tests

lint: venv  ## ruff, and the import rules of pyproject.toml [tool.importlinter] (docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

template: venv  ## regenerate template.yaml from the Chalice app, the models and the settings (and docs/configuration.md)
	$(BIN)/python -m infra.template
	$(BIN)/python -m infra.configuration

configuration: venv  ## regenerate docs/configuration.md from layers/taskcenter/settings.py and the code that reads it
	$(BIN)/python -m infra.configuration

openapi: venv  ## regenerate docs/openapi.json from the Chalice app's routes
	$(BIN)/python -m infra.openapi

build: venv  ## build the Lambda function package and the dependency layer into .build/
	$(BIN)/python -m infra.build

bench: venv  ## run every benchmark and print the table
	$(BIN)/python -m tests.bench

chaos: venv  ## the chaos run: 1,000 tasks on the local stack with faults injected, then the invariants (docs/chaos.md)
	$(BIN)/python -m tests.chaos

clean:
	rm -rf $(VENV) .build .aws-sam .local
