# One command each: `make demo` (set up + demo sync), `make test` (set up + tests),
# `make check` (lint, types, layer rules), `make bench` (small benchmark; `.venv/bin/python -m bench
# --workload large` for the big one). Everything installs into .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test check bench clean

$(BIN)/unpod-etl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/unpod-etl

demo: setup
	$(BIN)/unpod-etl demo

test: setup
	$(BIN)/pytest -q

check: setup
	$(BIN)/ruff check unpod_etl tests migrations
	$(BIN)/ruff format --check unpod_etl tests migrations
	$(BIN)/mypy unpod_etl
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python -m bench --workload small

clean:
	rm -rf $(VENV) unpod_etl.db unpod_etl.db-wal unpod_etl.db-shm
