# Two commands on a fresh clone: `make run` (the product with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
MANAGE := $(PY) manage.py
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SDK_VENV := var/sdk-venv

.PHONY: sdk-venv sdk-test sdk-types run test lint typecheck migrations-check schema bench bench-connectors install install-dev requirements clean seed var browser bench-sync bench-gateway bench-marketplace bench-security bench-pages peers billing-smoke

$(BIN)/activate:
	./scripts/install-build-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/activate
	$(BIN)/pip install -q -r requirements/base.txt
	$(BIN)/pip install -q --no-deps -e sdk
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(BIN)/activate
	$(BIN)/pip install -q -r requirements/dev.txt
	$(BIN)/pip install -q --no-deps -e sdk
	touch $@ $(VENV)/.base-installed

install: $(VENV)/.base-installed
install-dev: $(VENV)/.dev-installed

var:
	mkdir -p var/celery/queue var/celery/processed var/celery/results var/media

## run: migrate, seed demo data and serve on http://127.0.0.1:8000 with a Celery worker and beat beside it.
run: install var
	$(MANAGE) migrate --no-input
	$(MANAGE) load_compliance_frameworks
	$(MANAGE) seed_demo
	$(MANAGE) seed_marketplace_demo
	$(BIN)/honcho start -f Procfile.dev

seed: install var
	$(MANAGE) seed_demo
	$(MANAGE) seed_marketplace_demo

## test: lint, types, migrations and schema checks, then the whole suite (PostgreSQL/Redis when their URLs are set).
test: install-dev var lint typecheck migrations-check browser peers sdk-test
	$(BIN)/pytest -n $${PYTEST_WORKERS:-auto} --dist loadfile $(PYTEST_ARGS)

## peers: the real identity providers the tests sign in through (SimpleSAMLphp, oidc-provider, slapd).
peers:
	./scripts/peers/install-identity-peers.sh

## browser: Debian's Chromium for the browser tests (installed once).
browser:
	./scripts/install-browser.sh

## sdk-venv: a clean virtual environment with only the SDK installed from sdk/, as an extension developer gets it
## (rebuilt when the SDK's packaging changes); the end-to-end test in tests/sdk/ drives its `nofx`.
$(SDK_VENV)/.installed: sdk/pyproject.toml $(shell find sdk/src -name '*.py' -o -name '*.json' 2>/dev/null)
	rm -rf $(SDK_VENV)
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q --upgrade pip
	$(SDK_VENV)/bin/pip install -q "./sdk[test]"
	touch $@

sdk-venv: $(SDK_VENV)/.installed

## sdk-test: the SDK's own tests, in its clean environment (no Django there), and its TypeScript types.
sdk-test: sdk-venv sdk-types
	cd sdk && ../$(SDK_VENV)/bin/pytest -q -p no:cacheprovider tests

## sdk-types: regenerate-and-compare the TypeScript definitions, then type-check them with tsc.
sdk-types:
	cd sdk/typescript && npm ci --no-audit --no-fund --silent && npm run --silent check

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy apps nofx
	cd sdk && ../$(BIN)/mypy

migrations-check: install-dev
	DJANGO_SETTINGS_MODULE=nofx.settings.test $(MANAGE) makemigrations --check --dry-run

## schema: regenerate the committed OpenAPI schema after changing the API.
## schema: regenerate the committed OpenAPI document and the SDK's TypeScript API types made from it.
## A fixed hash seed keeps the document's order stable, so a regeneration shows only real changes.
schema: install-dev
	PYTHONHASHSEED=0 DJANGO_SETTINGS_MODULE=nofx.settings.test $(MANAGE) spectacular --validate --fail-on-warn --file docs/api/openapi.yaml
	cd sdk/typescript && npm ci --no-audit --no-fund --silent && npm run --silent generate

## billing-smoke: purchase -> webhook -> entitlement -> install -> usage -> statement against localstripe.
billing-smoke: install-dev var
	$(MANAGE) migrate --no-input
	$(MANAGE) billing_smoke

bench-gateway: install-dev
	$(PY) bench/gateway.py

## bench-marketplace: catalog search p50/p95 at 100,000 extensions and the list endpoint's queries per request.
bench-marketplace: install-dev
	$(PY) bench/marketplace_search.py

## bench-pages: p50/p95 render times of the marketplace website's pages at demo scale (goal: p95 under 100 ms).
bench-pages: install-dev
	$(PY) bench/pages.py

bench-security: install-dev
	$(PY) bench/security_ip_rules.py

requirements: install-dev
	$(BIN)/pip-compile -q --strip-extras --no-emit-find-links --no-emit-index-url --allow-unsafe -o requirements/base.txt requirements/base.in
	$(BIN)/pip-compile -q --strip-extras --no-emit-find-links --no-emit-index-url --allow-unsafe -o requirements/dev.txt requirements/dev.in
	$(BIN)/pip-compile -q --strip-extras --no-emit-find-links --no-emit-index-url --allow-unsafe -o requirements/prod.txt requirements/prod.in

clean:
	rm -rf var/celery var/staticfiles

## bench: print every benchmark's figures against a baseline measured in the same run.
bench: bench-connectors bench-sync bench-gateway bench-marketplace bench-security bench-pages

bench-connectors: install var
	$(PY) bench/connectors_transport.py

## bench-sync: records/s of an initial and an incremental sync per worker process, the reconciler's agreement,
## and 1,000 workflows scheduled by beat and run by a worker pool (lost runs, scheduling lag p95).
bench-sync: install var
	$(PY) bench/sync_engine.py
