PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY_PATHS := src tests tools demo $(wildcard benchmarks) docs

.PHONY: demo test lint fmt clean bench reliability lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py; status=$$?; \
	$(BIN)/python benchmarks/rehearsal.py && exit $$status

test: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/ruff format --check $(PY_PATHS)
	$(BIN)/mypy src $(wildcard benchmarks)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2

reliability: $(STAMP)
	CANARY_RELIABILITY=full $(BIN)/python -m pytest tests/reliability -q -p no:randomly; \
	status=$$?; $(BIN)/python tests/reliability/report.py full && exit $$status

lint: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/mypy src $(wildcard benchmarks)
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format $(PY_PATHS)
	$(BIN)/ruff check --fix $(PY_PATHS)

# The hashed lock of what the canary workflows install (pip install --require-hashes).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml .github/requirements/canary.in --universal \
	  --python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
	  --quiet -o .github/requirements/canary.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo
