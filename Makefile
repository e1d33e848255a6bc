# The two set-up commands are `make run` and `make test`; both work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
CACHE := .cache
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test lint fmt bench clean install

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(STAMP): $(UV) pyproject.toml
	$(UV) pip install --quiet --python $(BIN)/python -e ".[service,emulator,spark]" --group dev
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the package with every extra and the dev group

run: $(STAMP)  ## start the sidecar on its embedded demo vault
	$(BIN)/akv-sidecar serve --demo

# The client tests: Azurite from the npm registry, Spark's Delta and hadoop-azure jars from Maven
# Central (resolved by Spark's Ivy), both cached under .cache/ and stamped so reruns are free.
AZURITE_VERSION := 3.37.0
AZURITE_STAMP := $(CACHE)/azurite/.installed-$(AZURITE_VERSION)
SPARK_JARS_STAMP := $(CACHE)/ivy/.resolved

$(AZURITE_STAMP):
	npm install --prefix $(CACHE)/azurite --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	touch $@

$(SPARK_JARS_STAMP): $(STAMP) tests/client/spark_setup.py
	$(BIN)/python -m tests.client.spark_setup
	touch $@

test: $(STAMP) $(AZURITE_STAMP) $(SPARK_JARS_STAMP)  ## install what the tests need, start it, run the whole suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# wrk, the load generator, comes from Debian's packages (the bench runs it outside the sidecar).
WRK := /usr/bin/wrk

$(WRK):
	apt-get update -qq && apt-get install -y -qq wrk

bench: $(STAMP) $(WRK)  ## run the benchmarks into bench/results/
	$(BIN)/python -m bench

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) $(CACHE) .pytest_cache .mypy_cache .ruff_cache
