# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - makes .venv, installs city-steward, runs the demo district end to end
#   make test   - makes .venv, installs city-steward with its test extras, runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint venv ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

demo: venv
	$(BIN)/steward check
	$(BIN)/steward demo --reset

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The operators' UI over the demo district: a fresh demo, then the Dagster webserver and daemon
ui: demo
	$(BIN)/steward ui
