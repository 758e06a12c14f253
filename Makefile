# Two commands set everything up from a fresh clone:
#   make run   - the gateway on its embedded default (static mode, mock provider)
#   make test  - lint, type check and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-relay clean

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
	$(BIN)/lint-imports --no-cache --no-logo

test: lint
	$(BIN)/pytest -q

# The Locust suite (multi-tenant mode, 10,000 tenants, 60 s); options: BENCH_ARGS="--help"
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The raw relay cost with wrk (apt-get install -y wrk nginx-light); options: RELAY_ARGS="--help"
bench-relay: $(STAMP)
	$(BIN)/python -m bench.relay $(RELAY_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
