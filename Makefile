# Two commands set everything up from a fresh clone:
#   make run   - the gateway on its embedded default (static mode, mock provider)
#   make test  - lint, type check and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-relay bench-paired clean ui ui-if-node

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@$(MAKE) --no-print-directory ui-if-node
	touch $(STAMP)

# The admin dashboard (ui/, SPEC 14), bundled into the package as proxy/admin/ui_dist/:
# npm ci from ui/package-lock.json, then esbuild. Rebuilt when a source changes.
NPM ?= npm
UI_OUT := proxy/admin/ui_dist/index.html
UI_SOURCES := $(wildcard ui/src/*.* ui/src/pages/*.js) ui/build.mjs

ui: $(UI_OUT)

$(UI_OUT): ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && $(NPM) run --silent build

ui/node_modules/.package-lock.json: ui/package.json ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error

# Without node and npm the gateway still runs: /admin/ui/ then says how to build it.
ui-if-node:
	@if command -v node >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory ui; \
	else echo "make: node/npm not found: the dashboard is not built (make ui)"; fi

run: $(STAMP) ui-if-node
	PROXY_CONFIG=$${PROXY_CONFIG:-examples/proxy.yaml} \
	PROXY_HOST=$${PROXY_HOST:-127.0.0.1} \
	$(BIN)/tenant-proxy serve

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

test: lint ui-if-node
	$(BIN)/pytest -q

# The Locust suite (multi-tenant mode, 10,000 tenants, 60 s); options: BENCH_ARGS="--help"
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The raw relay cost with wrk (apt-get install -y wrk nginx-light); options: RELAY_ARGS="--help"
bench-relay: $(STAMP)
	$(BIN)/python -m bench.relay $(RELAY_ARGS)

# Pairs of targets loaded together on one shared core (drift-proof ratios); PAIRED_ARGS="--help"
bench-paired: $(STAMP)
	$(BIN)/python -m bench.paired $(PAIRED_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache ui/node_modules proxy/admin/ui_dist
