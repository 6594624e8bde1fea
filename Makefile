# accelhub: one entry point for set-up, tests, benchmarks and the demo.
# Every target installs what it needs on a fresh machine and is quiet when
# everything is already there (stamp files under .make/).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMPS := .make
TOOLS_BIN := $(CURDIR)/.tools/node_modules/.bin
export PATH := $(BIN):$(TOOLS_BIN):$(PATH)
export ACCELHUB_CHROMIUM ?= /usr/bin/chromium

PY_SOURCES := hub_ext server_ext devstack

PYTEST_PYTHON := pytest -m "not browser"
PYTEST_BROWSER := pytest -m browser

.PHONY: help setup demo test test-python test-frontend test-browser suite-python suite-browser lint bench clean vendor

help:
	@echo "make demo   - start the hub on devstack and open it in your browser"
	@echo "make test   - lint, type-check, Python, frontend and browser tests"
	@echo "make bench  - benchmarks, each reported against its baseline"
	@echo "make lint   - ruff, mypy and the TypeScript compiler"
	@echo "make vendor - copy uPlot (the labextension's npm dependency) into the service's static files"

setup: $(STAMPS)/python $(STAMPS)/tools $(STAMPS)/oidc $(STAMPS)/chromium

$(STAMPS):
	@mkdir -p $(STAMPS)

# Debian packages the tests drive: Chromium for Playwright (never a downloaded browser);
# unshare and ip for the chart test's hub-pod namespaces (util-linux, iproute2).
$(STAMPS)/chromium: | $(STAMPS)
	@missing=""; \
	command -v "$(ACCELHUB_CHROMIUM)" >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v unshare >/dev/null 2>&1 || missing="$$missing util-linux"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq >/dev/null; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

# Node tools that run beside Python (configurable-http-proxy for JupyterHub).
$(STAMPS)/tools: .tools/package.json .tools/package-lock.json | $(STAMPS)
	@echo "installing node tools (.tools)"
	@npm ci --prefix .tools --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# devstack's OIDC provider: the oidc-provider npm package its launcher (provider.mjs) drives.
$(STAMPS)/oidc: devstack/oidc/package.json devstack/oidc/package-lock.json | $(STAMPS)
	@echo "installing devstack's OIDC provider (devstack/oidc)"
	@npm ci --prefix devstack/oidc --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# The labextension's npm packages, exactly as locked.
$(STAMPS)/npm: labextension/package.json labextension/package-lock.json | $(STAMPS)
	@echo "installing labextension npm packages"
	@cd labextension && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# The project-local virtualenv with accelhub (both sides, test tools) and
# accelhub-devstack (devstack-dist/) installed editable; this also builds the
# labextension through hatch-jupyter-builder.
$(STAMPS)/python: pyproject.toml devstack-dist/pyproject.toml $(STAMPS)/npm | $(STAMPS)
	@if [ ! -x $(BIN)/python ]; then \
		echo "creating $(VENV)"; \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
			|| { echo "accelhub needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }; \
		$(PYTHON) -m venv $(VENV); \
		$(BIN)/pip install -q --upgrade pip; \
	fi
	@echo "installing accelhub and accelhub-devstack into $(VENV)"
	@$(BIN)/pip install -q -e '.[dev]' -e ./devstack-dist >$(STAMPS)/pip.log 2>&1 \
		|| { cat $(STAMPS)/pip.log; exit 1; }
	@jupyter-builder develop --overwrite . >/dev/null
	@touch $@

# Rebuild the labextension when its sources change.
$(STAMPS)/labextension: $(STAMPS)/python $(shell find labextension/src labextension/style labextension/schema -type f 2>/dev/null) | $(STAMPS)
	@echo "building the labextension"
	@cd labextension && npm run --silent build >$(CURDIR)/$(STAMPS)/labextension.log 2>&1 \
		|| { cat $(CURDIR)/$(STAMPS)/labextension.log; exit 1; }
	@touch $@

lint: $(STAMPS)/python $(STAMPS)/npm
	ruff check $(PY_SOURCES) tests
	ruff format --check $(PY_SOURCES) tests
	mypy
	cd labextension && npx tsc --noEmit

test-python: setup $(STAMPS)/labextension
	$(PYTEST_PYTHON)

test-frontend: $(STAMPS)/npm
	cd labextension && npx jest

test-browser: setup $(STAMPS)/labextension
	$(PYTEST_BROWSER)

# The Python and browser suites run side by side (each test starts its own servers on free
# ports in its own temp directories), after every set-up step has run one at a time; each
# suite's output is printed whole when it ends.
test: lint test-frontend setup $(STAMPS)/labextension
	@$(MAKE) --no-print-directory -j2 --output-sync=target suite-python suite-browser

# The suites alone, for `test` once everything is set up: a sub-make that checked the set-up
# stamps again would redo it (the labextension build rewrites labextension/package.json).
suite-python:
	$(PYTEST_PYTHON)

suite-browser:
	$(PYTEST_BROWSER)

bench: setup $(STAMPS)/labextension
	@for bench in tests/benchmarks/bench_*.py; do \
		echo "== $$bench"; \
		python "$$bench"; \
	done

demo: setup $(STAMPS)/labextension
	python -m hub_ext.demo

# The service's pages draw their charts with uPlot, served by the service itself (the hub may
# have no internet): the copy comes from the labextension's npm install, at its locked version.
UPLOT_DIR := hub_ext/service/static/vendor/uplot
vendor: $(STAMPS)/npm
	@mkdir -p $(UPLOT_DIR)
	cp labextension/node_modules/uplot/dist/uPlot.iife.min.js labextension/node_modules/uplot/dist/uPlot.min.css labextension/node_modules/uplot/LICENSE $(UPLOT_DIR)/
	node -p "require('./labextension/node_modules/uplot/package.json').version" > $(UPLOT_DIR)/VERSION

clean:
	rm -rf $(STAMPS) build dist labextension/lib server_ext/labextension
