# Two commands a new user needs: `make demo` and `make test`.  Both create .venv and
# install mmuspec with its test extras the first time (or when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all lint bench reevaluation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mmuspec check --matrix

test: $(STAMP) lint
	$(BIN)/python -m pytest

test-all: $(STAMP) lint
	$(BIN)/python -m pytest -m ''

lint: $(STAMP)
	$(BIN)/python -m mmuspec.model.stubgen
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/check_speed.py
	$(BIN)/python benchmarks/simulate_speed.py

reevaluation: $(STAMP)
	$(BIN)/mmuspec reevaluate --out reports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
