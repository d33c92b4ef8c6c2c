# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - makes .venv, installs city-steward, runs the demo district end to end
#   make test   - makes .venv, installs city-steward with its test extras, runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-fast lint venv ui ui-fresh mutation

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	# The reference for the k-anonymity and l-diversity tests (C3.3-1). Its releases pin exact
	# numpy/pandas/typing_extensions versions that conflict with ours, and the part the tests
	# use (pycanon.anonymity) needs only numpy and pandas: installed without its dependencies.
	$(BIN)/pip install --quiet --no-deps "pycanon==1.3.6"

demo: venv
	$(BIN)/steward check
	$(BIN)/steward demo --reset

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The unit tier alone (tests/unit): no server, no S3, no Dagster run; about a minute.
test-fast: venv
	$(BIN)/python -m pytest tests/unit -q

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The operators' UI (Dagster webserver and daemon) over the existing state in STEWARD_HOME
# (default .steward); the demo runs first only when there is no ledger yet.
ui: venv
	@if [ -f "$${STEWARD_HOME:-.steward}/ledger.db" ]; then \
		echo "opening the existing state in $${STEWARD_HOME:-.steward}"; \
	else \
		$(BIN)/steward check && $(BIN)/steward demo; \
	fi
	STEWARD_ALLOW_UNAUTHENTICATED=1 $(BIN)/steward ui   # the demo's SQLite home: demo mode

# The UI over a new demo district: resets STEWARD_HOME, runs the demo, then opens the UI.
ui-fresh: demo
	STEWARD_ALLOW_UNAUTHENTICATED=1 $(BIN)/steward ui

# Mutation testing of the pure domain modules, per-module scores and survivors
# (docs/mutation.md). A few minutes; not part of `make test` or CI.
mutation: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[mutation]"
	$(BIN)/python tools/mutation.py
