# The two commands of the README: `make run` (app on sample data) and `make test` (whole suite).
# Both create ./.venv and install everything on first use; later runs reuse it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
export EASEL_WORKSPACE ?= $(CURDIR)/workspace

.PHONY: run test install lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m app.bootstrap
	$(BIN)/streamlit run app/main.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(STAMP)
	bash scripts/install_test_deps.sh
	$(BIN)/ruff check automl connectors app tests benchmarks sample_data
	$(BIN)/ruff format --check automl connectors app tests benchmarks sample_data
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) workspace
