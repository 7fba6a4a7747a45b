# cityloop — the commands a district administrator and a developer need.
#   make demo   install, migrate, load the demo district, serve on http://127.0.0.1:8000
#   make test   install and run the whole suite on SQLite and on PostgreSQL
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL used by the second test pass (trust auth on this machine; see docs/operations/postgresql.md).
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/cityloop_test
PYTEST_ARGS ?=

.PHONY: install demo serve test test-sqlite test-postgresql lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	npm ci --no-audit --no-fund --silent
	$(BIN)/python scripts/vendor_assets.py
	mkdir -p var

demo: install
	$(BIN)/cityloop init
	$(BIN)/cityloop seed-demo
	$(BIN)/cityloop serve --host $(HOST) --port $(PORT)

serve:
	$(BIN)/cityloop serve --host $(HOST) --port $(PORT)

test: install test-sqlite test-postgresql

test-sqlite:
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-postgresql:
	CITYLOOP_TEST_DATABASE_URL=$(TEST_PG_URL) $(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench scripts migrations
	$(BIN)/ruff format --check src tests bench scripts migrations
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules src/cityloop/static/vendor var
