# The two set-up commands are `make run` and `make test`; both work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# In step with ARG UV_VERSION in the Dockerfile (tests/test_packaging.py checks).
UV_VERSION := 0.13.9
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
CACHE := .cache

# Every install is pinned, with hashes, by a lock in locks/ (a requirements file naming no index):
#   locks/test.txt          every extra and the dev group: `make install`, `make test` (exact: uv pip sync)
#   locks/demo.txt          the service and emulator extras: `make run` (install: it removes nothing)
#   locks/service.txt       the service extra: the image (Dockerfile, deploy/docker/install.sh)
#   locks/client-py310.txt  the client and the client-tests group, on Python 3.10: `make test-py310`
# `make lock` is the one way to change them. It resolves test.txt first, then the others at its versions
# (-c), so a package has one version everywhere, and uv keeps each lock's current pins as preferences:
# a new requirement adds what it needs and moves nothing else. Upgrade with
# `make lock LOCK_UPGRADE="-P uvicorn"` (or "-U" for everything). tests/test_packaging.py re-runs it.
LOCKS := test demo service client-py310
LOCK_FILES := $(LOCKS:%=locks/%.txt)
LOCK_ROOT := .
LOCK_UPGRADE :=
LOCK_COMPILE = $(UV) pip compile --quiet --directory $(LOCK_ROOT) pyproject.toml --universal \
	--generate-hashes --custom-compile-command "make lock" --no-python-downloads $(LOCK_UPGRADE)
LOCK_ARGS_test := --python-version 3.11 --all-extras --group dev
LOCK_ARGS_demo := --python-version 3.11 --extra service --extra emulator -c locks/test.txt
LOCK_ARGS_service := --python-version 3.11 --extra service -c locks/test.txt
LOCK_ARGS_client-py310 = --python-version 3.10 $(if $(PYTHON310),--python $(PYTHON310)) \
	--group client-tests -c locks/test.txt

LOCK_ID := $(shell cat pyproject.toml $(LOCK_FILES) | cksum | cut -d' ' -f1)
PIP := $(UV) pip
RUN_STAMP := $(VENV)/.installed-run-$(LOCK_ID)
TEST_STAMP := $(VENV)/.installed-test-$(LOCK_ID)

# The client's floor is Python 3.10 (Databricks 13/14, Synapse run it): `make test` also runs the
# client's tests that need neither the service nor Spark on 3.10, in a venv holding the client alone.
PYTHON310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10 /usr/bin/python3.10))
VENV310 := .venv310
PY310_STAMP := $(VENV310)/.installed-$(LOCK_ID)
CLIENT_TESTS_310 := tests/client/test_units.py tests/client/test_standalone.py

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test test-py310 jvm dist lint fmt bench clean install lock

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "make: the sidecar needs Python 3.11+; $(PYTHON) is $$($(PYTHON) -V 2>&1). Give PYTHON=python3.11" >&2; \
		exit 1; }
	@echo "==> creating $(VENV) with $$($(PYTHON) -V)"
	$(PYTHON) -m venv $(VENV)

$(UV_STAMP): $(BIN)/python
	@echo "==> installing uv $(UV_VERSION) into $(VENV)"
	$(BIN)/python -m pip install --disable-pip-version-check uv==$(UV_VERSION)
	rm -f $(VENV)/.uv-* && touch $@

lock: $(UV_STAMP)  ## re-resolve locks/ from pyproject.toml, keeping the pins they hold
	@echo "==> locking every extra and the dev group into locks/test.txt"
	@mkdir -p $(LOCK_ROOT)/locks
	$(LOCK_COMPILE) $(LOCK_ARGS_test) -o locks/test.txt
	@echo "==> locking the demo, the image's service and the client on Python 3.10 at test.txt's versions"
	$(LOCK_COMPILE) $(LOCK_ARGS_demo) -o locks/demo.txt
	$(LOCK_COMPILE) $(LOCK_ARGS_service) -o locks/service.txt
	$(LOCK_COMPILE) $(LOCK_ARGS_client-py310) -o locks/client-py310.txt

$(RUN_STAMP): $(UV_STAMP) pyproject.toml locks/demo.txt
	@echo "==> installing the service and the emulator (locks/demo.txt's versions) into $(VENV)"
	$(PIP) install --python $(BIN)/python --require-hashes -r locks/demo.txt
	$(PIP) install --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-run-* && touch $@

# test.txt holds every version demo.txt pins (tests/test_packaging.py checks), so the run stamp follows.
$(TEST_STAMP): $(UV_STAMP) pyproject.toml locks/test.txt
	@echo "==> installing every extra and the dev group (exactly locks/test.txt) into $(VENV)"
	$(PIP) sync --python $(BIN)/python --require-hashes locks/test.txt
	$(PIP) install --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* $(VENV)/.synced-* && touch $@ $(RUN_STAMP)

install: $(TEST_STAMP)  ## create .venv and install the package with every extra and the dev group

run: $(RUN_STAMP)  ## start the sidecar on its embedded demo vault
	@echo "==> starting the demo sidecar (Ctrl-C stops it)"
	$(BIN)/akv-sidecar serve --demo

$(VENV310)/bin/python: | $(UV_STAMP)
	@[[ -n "$(PYTHON310)" ]] && $(PYTHON310) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' || { \
		echo "make: no Python 3.10 for the client's 3.10 run; give PYTHON310=/path/to/python3.10" >&2; \
		exit 1; }
	@echo "==> creating $(VENV310) with $$($(PYTHON310) -V)"
	$(UV) venv --quiet --python $(PYTHON310) $(VENV310)

$(PY310_STAMP): $(VENV310)/bin/python pyproject.toml locks/client-py310.txt
	@echo "==> installing the client alone, with pytest (locks/client-py310.txt), into $(VENV310)"
	$(PIP) sync --python $(VENV310)/bin/python --require-hashes locks/client-py310.txt
	$(PIP) install --python $(VENV310)/bin/python --no-deps -e .
	rm -f $(VENV310)/.installed-* $(VENV310)/.synced-* && touch $@

# --noconftest: the suite's conftests import the service and the emulator, which the venv lacks.
test-py310: $(PY310_STAMP)  ## the client's tests that need no service or Spark, on Python 3.10
	$(VENV310)/bin/python -m pytest --noconftest -p no:cacheprovider $(CLIENT_TESTS_310)

# The client tests: Azurite from the npm registry, Spark's Delta and hadoop-azure jars from Maven
# Central (resolved by Spark's Ivy), both cached under .cache/ and stamped so reruns are free.
AZURITE_VERSION := 3.37.0
AZURITE_STAMP := $(CACHE)/azurite/.installed-$(AZURITE_VERSION)
SPARK_JARS_STAMP := $(CACHE)/ivy/.resolved

$(AZURITE_STAMP):
	npm install --prefix $(CACHE)/azurite --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	touch $@

$(SPARK_JARS_STAMP): $(TEST_STAMP) tests/client/spark_setup.py
	$(BIN)/python -m tests.client.spark_setup
	touch $@

# The Hadoop credential providers (jvm/): Maven fetches hadoop-azure and JUnit from Maven Central
# into .cache/m2; `package` compiles, runs the JUnit tests and builds the jar the Spark tests load.
# The jar is then copied into the client package (akv_client/jars/), where hadoop_jar() finds it and
# from where the wheel and the sdist carry it (pyproject.toml's artifacts).
MVN := mvn -B -ntp -f jvm/pom.xml -Dmaven.repo.local=$(CURDIR)/$(CACHE)/m2
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
HADOOP_JAR := akv-sidecar-hadoop-$(VERSION).jar
JAR_DIR := client/akv_client/jars

jvm:  ## build the Hadoop credential providers jar (jvm/target), running its JUnit tests
	@echo "==> building and testing the Hadoop providers (jvm/) with Maven"
	$(MVN) package
	@echo "==> bundling jvm/target/$(HADOOP_JAR) into $(JAR_DIR)/"
	rm -rf $(JAR_DIR) && mkdir -p $(JAR_DIR)
	install -m 0644 jvm/target/$(HADOOP_JAR) $(JAR_DIR)/$(HADOOP_JAR)

dist: $(UV_STAMP) jvm  ## build the wheel and sdist into dist/, the Hadoop providers jar inside
	$(UV) build --quiet --out-dir dist

test: $(TEST_STAMP) $(AZURITE_STAMP) $(SPARK_JARS_STAMP) test-py310 jvm  ## install what the tests need, start it, run the whole suite
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)  ## ruff, mypy, and mypy on the client for Python 3.10
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --python-version 3.10 -p akv_client

fmt: $(TEST_STAMP)  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# wrk, the load generator, comes from Debian's packages (the bench runs it outside the sidecar).
WRK := /usr/bin/wrk

$(WRK):
	apt-get update -qq && apt-get install -y -qq wrk

bench: $(TEST_STAMP) $(WRK)  ## run the benchmarks into bench/results/
	$(BIN)/python -m bench

clean:  ## remove the virtual environments and caches
	rm -rf $(VENV) $(VENV310) $(CACHE) jvm/target $(JAR_DIR) dist .pytest_cache .mypy_cache .ruff_cache
