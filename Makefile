# One command each: `make demo` (set up + demo sync), `make test` (set up + tests),
# `make check` (lint, types, layer rules), `make bench` (small benchmark; `.venv/bin/python -m bench
# --workload large` for the big one). Everything installs into .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Stamps: what is installed. The demo needs the package alone; tests and checks add the
# test extras (pytest, ruff, mypy, ...). Either is redone when pyproject.toml changes.
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: setup demo test check bench clean

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/unpod-etl demo
	@echo "the CLI is $(BIN)/unpod-etl (or: . $(BIN)/activate, then unpod-etl --help)"

test: $(TEST_STAMP)
	$(BIN)/pytest -q

check: $(TEST_STAMP)
	$(BIN)/ruff check unpod_etl tests migrations
	$(BIN)/ruff format --check unpod_etl tests migrations
	$(BIN)/mypy unpod_etl
	$(BIN)/lint-imports

bench: $(TEST_STAMP)
	$(BIN)/python -m bench --workload small

clean:
	rm -rf $(VENV) unpod_etl.db unpod_etl.db-wal unpod_etl.db-shm
	rm -f unpod_etl_demo.db unpod_etl_demo.db-wal unpod_etl_demo.db-shm
