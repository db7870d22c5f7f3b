# Two commands: `make demo` and `make test`. Everything else is set up by these targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup system venv npm ui lint db-up db-down bench clean

demo: setup
	$(BIN)/cim demo

# the private cluster is stopped afterwards unless it ran before (a developer's demo keeps its database)
test: setup
	@before=$$($(BIN)/cim db status --json 2>/dev/null | tail -1); \
	$(BIN)/cim db up && $(BIN)/python -m pytest -q; status=$$?; \
	case "$$before" in *'"running": true'*) ;; *) $(BIN)/cim db down > /dev/null ;; esac; \
	exit $$status

setup: system venv npm ui

system:
	@bash scripts/install_system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

npm: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

# The viewer's UI kit (Vue 3 + Element Plus, viewer/ui) bundled by Vite into viewer/ui/dist.
UI_SOURCES := $(wildcard viewer/ui/src/*) viewer/ui/vite.config.mjs
ui: viewer/ui/dist/.built viewer/ui/dist-cesium/Cesium.js

viewer/ui/dist/.built: node_modules/.installed $(UI_SOURCES)
	npx --no-install vite build --config viewer/ui/vite.config.mjs --logLevel warn
	touch viewer/ui/dist/.built

# The viewer's CesiumJS (only what viewer/js and the in-page test drivers use), by esbuild into viewer/ui/dist-cesium.
viewer/ui/dist-cesium/Cesium.js: node_modules/.installed viewer/ui/cesium.build.mjs $(wildcard viewer/js/*.js tests/e2e/*.mjs)
	node viewer/ui/cesium.build.mjs

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

db-up: venv
	$(BIN)/cim db up

db-down: venv
	$(BIN)/cim db down

clean:
	-$(BIN)/cim db down
	rm -rf .data
