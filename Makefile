# zenjobs developer entry points. Every target uses the project's own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REGISTRY := examples.newsletter.jobs:jobs

.PHONY: help venv test lint dev infra infra-check bench clean

help:
	@echo "make dev    run the example service locally (embedded store, simulated queue)"
	@echo "make test   run the whole test suite (starts the emulators it needs)"
	@echo "make lint   ruff + mypy --strict"
	@echo "make infra  regenerate examples/newsletter/infra from the registry"
	@echo "make bench  run the benchmarks"

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check zenjobs tests examples benchmarks tools
	$(BIN)/mypy

dev: $(STAMP)
	$(BIN)/zenjobs dev --registry $(REGISTRY)

infra: $(STAMP)
	$(BIN)/zenjobs gen-infra --registry $(REGISTRY) --out examples/newsletter/infra

infra-check: $(STAMP)
	$(BIN)/zenjobs gen-infra --registry $(REGISTRY) --out examples/newsletter/infra --check

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .emulators .zenjobs .pytest_cache .mypy_cache .ruff_cache
