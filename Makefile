PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

test: $(STAMP)
	$(BIN)/ruff check src tests tools benchmarks demo
	$(BIN)/ruff format --check src tests tools benchmarks demo
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests tools benchmarks demo
	$(BIN)/mypy src

fmt: $(STAMP)
	$(BIN)/ruff format src tests tools benchmarks demo
	$(BIN)/ruff check --fix src tests tools benchmarks demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo
