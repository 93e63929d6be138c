# Two commands set everything up: `make run` (the API with a demo clinic on SQLite) and
# `make test` (lint + the whole suite on PostgreSQL + the portable subset on SQLite).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installed when pyproject.toml or constraints.txt change, so repeated runs skip pip.
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS)
BASE_URL := $(or $(ALLIANCE_BASE_URL),http://127.0.0.1:8000)

.PHONY: help install run migrate seed-demo test test-postgres test-sqlite test-citus lint openapi \
	translations postgres browser constraints clean distclean

help:
	@echo "make run      API on $(BASE_URL) with the demo clinic (SQLite in var/)"
	@echo "make test     lint, whole suite on PostgreSQL, portable subset on SQLite"
	@echo "make test-citus  the tenancy, feedback, alert, worker and authorization suites on Citus"
	@echo "make lint | openapi | translations | migrate | seed-demo | browser | constraints | clean"
	@echo "make distclean"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[test]'
	touch $@

# After changing dependencies in pyproject.toml: re-pin every installed version.
constraints:
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	{ head -n 2 constraints.txt; $(BIN)/pip freeze --exclude-editable \
		| grep -v -i -e '^alliance' -e '^#'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	touch $(STAMP)

# Migrations run against ALLIANCE_MIGRATION_DATABASE_URL, else ALLIANCE_DATABASE_URL, else
# the SQLite file var/alliance.db.
migrate: $(STAMP)
	$(BIN)/alembic upgrade head

# The seed's JSON (logins, couples, a fresh partner link) is kept in var/ for `make run`.
seed-demo: migrate
	mkdir -p var
	$(BIN)/flask --app wsgi seed-demo | tee var/demo.json

# The API in the foreground and the outbox worker beside it (Ctrl-C stops both). With no SMTP
# host configured, emails are written to var/mail/ as .eml files a person can open.
run: seed-demo
	@echo
	@echo "Alliance API on $(BASE_URL)"
	@echo "  API docs (Swagger UI, sign in as a demo login): $(BASE_URL)/docs"
	@echo "  OpenAPI document:                              $(BASE_URL)/openapi.json"
	@echo "  Readiness (database reachable):                $(BASE_URL)/readyz"
	@echo "  Demo logins: the \"logins\" printed above (clinic slug: demo)"
	@echo "  A partner's feedback form, open it on a phone:  $$($(BIN)/python -c \
		'import json; print(json.load(open("var/demo.json"))["partner_link"])')"
	@echo "  Emails the worker sends (no SMTP configured):  var/mail/"
	@echo
	$(BIN)/python -m service.worker & worker=$$!; \
		trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
		$(BIN)/gunicorn -c deploy/gunicorn.conf.py wsgi:app

# In order: lint, then PostgreSQL (started if down) and the whole suite, then SQLite.
# pytest exits 5 when it collected no test: make treats it as the failure it is.
test: lint test-postgres test-sqlite

# The browser tests (Playwright) run in the PostgreSQL pass only: they are marked postgres_only,
# which the SQLite pass deselects.
test-postgres: $(STAMP) postgres browser
	$(PYTEST)

test-sqlite: $(STAMP)
	ALLIANCE_TEST_DB=sqlite $(PYTEST)

# A Citus cluster on this machine (scripts/citus-cluster.sh: a coordinator and two workers on
# spare ports, never 5432), Citus built and installed first when missing. Each test database
# joins the cluster (tests/database.py) and the migrations distribute it. CI=true: a cluster
# that cannot be reached fails the run instead of skipping it.
# The shared Citus source sits beside the checkout (../shared) on these machines; a clone
# elsewhere finds it at /work/shared. Without the script, an installed Citus is used as is.
CITUS_BUILD ?= $(firstword $(wildcard ../shared/citus/build-citus.sh /work/shared/citus/build-citus.sh))
CITUS_PORTS ?= 9700 9701 9702
CITUS_SUITES := tests/test_citus.py tests/test_tenancy.py tests/test_feedback.py \
	tests/test_alerts.py tests/test_alert_lifecycle.py tests/test_worker.py \
	tests/test_worker_faults.py tests/test_authorization_matrix.py
coordinator = 127.0.0.1:$(word 1,$(CITUS_PORTS))
citus_workers = $(subst $(space),$(comma),$(patsubst %,127.0.0.1:%,$(wordlist 2,9,$(CITUS_PORTS))))
space := $(subst ,, )
comma := ,
test-citus: $(STAMP)
	if [ -n "$(CITUS_BUILD)" ]; then $(CITUS_BUILD) --check || $(CITUS_BUILD); fi
	ALLIANCE_CITUS_PORTS="$(CITUS_PORTS)" scripts/citus-cluster.sh start
	CI=true ALLIANCE_TEST_PG_ADMIN=postgresql://postgres@$(coordinator)/postgres \
		ALLIANCE_TEST_PG_HOST=$(coordinator) ALLIANCE_TEST_CITUS_WORKERS=$(citus_workers) \
		$(PYTEST) $(CITUS_SUITES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Debian's Chromium for the Playwright tests (never `playwright install`). Instant when present.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		echo "Installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "$(CHROMIUM) is missing and this is not root: as root run" \
			"'apt-get update && apt-get install -y chromium'" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# Starts the local cluster if it is down and creates the alliance_owner / alliance_app roles.
postgres:
	scripts/ensure-postgres.sh

openapi: $(STAMP)
	$(BIN)/python -m service.ops.openapi openapi/openapi.json

# The partner's words in other languages (babel.cfg says where they are): extract them into
# the template, merge it into each language's .po (new words arrive untranslated: translate
# them there), compile the .mo files. tests/test_translations.py fails while any word is
# untranslated or fuzzy, or a .mo is older than its .po; commit all three.
TRANSLATIONS := service/translations
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -c Translators: --add-location=file --sort-output \
		--project=Alliance --version=0.1.0 --copyright-holder=Alliance \
		-o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
