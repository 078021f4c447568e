# Two set-up commands on a fresh machine with only python3: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint format bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run the whole platform on this machine (embedded NATS, Postgres, sim exchange)
up: $(STAMP)
	$(BIN)/tradebus up

## run every test (unit, integration on real NATS + Postgres, end to end, the dashboard in Chromium)
test: $(STAMP)
	-bash scripts/install-browser.sh
	$(BIN)/python -m pytest -q

## ruff (lint + format check) and mypy --strict
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy proto tradebus services

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

## every fault against a running stack (several minutes); prints the table, writes docs/reliability.md
chaos: $(STAMP)
	$(BIN)/python -m chaos --docs docs/reliability.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
