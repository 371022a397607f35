# The two commands of the README: `make run` (app on sample data) and `make test` (whole suite).
# Both create ./.venv and install everything on first use; later runs reuse it.
# Also: `make lint` (ruff, mypy and the import contracts only) and `make test-fast` (the suite without the browser,
# PostgreSQL and S3 tests; no system packages needed).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
# personal mode serves this computer only; another ADDRESS (e.g. 0.0.0.0) needs team mode (users)
ADDRESS ?= 127.0.0.1
SOURCES := automl connectors app tests benchmarks sample_data
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# pytest-xdist workers for `make test` (`make test WORKERS=0` runs in one process)
WORKERS ?= 2
export EASEL_WORKSPACE ?= $(CURDIR)/workspace

.PHONY: run test test-fast install lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m app.bootstrap $(ADDRESS)
	$(BIN)/streamlit run app/main.py --server.port $(PORT) --server.address $(ADDRESS) \
		--browser.gatherUsageStats false

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# one test module per worker (--dist loadfile), so module fixtures are built once; the modules
# go out in the order tests/conftest.py sorts them (the long ones first), not by their count
# of tests
DIST := --dist loadfile --no-loadscope-reorder
test: lint
	bash scripts/install_test_deps.sh
	$(PYTEST) -n $(WORKERS) $(DIST)

test-fast: $(STAMP)
	$(PYTEST) -n $(WORKERS) $(DIST) -m "not browser and not postgres and not s3"

clean:
	rm -rf $(VENV) workspace
