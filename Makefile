# The one test command: `make test` installs everything into .venv and runs
# ruff, mypy --strict and the whole test suite (mimicdb on Python 3.11, 3.12, 3.13).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint typecheck pytest pythons install serve clients

test: install lint typecheck pytest pythons

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install clients
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Clients the tests drive that pip cannot install (rclone); says so when it cannot.
clients:
	bash scripts/install-clients.sh

pythons: install
	bash scripts/test-pythons.sh

# Run the proxy (index: ./mimicdb.db). Pass flags with ARGS="--upstream URL ...".
serve: install
	$(BIN)/mimicdb-proxy serve $(ARGS)
