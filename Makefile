# Two commands set everything up from a fresh clone:
#   make run   - the gateway on its embedded default (static mode, mock provider)
#   make test  - lint, type check and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	PROXY_CONFIG=$${PROXY_CONFIG:-examples/proxy.yaml} \
	PROXY_HOST=$${PROXY_HOST:-127.0.0.1} \
	$(BIN)/tenant-proxy serve

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
