# Photofeed's front door. A new user needs two commands: `make dev` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
REQUIREMENTS := pyproject.toml requirements.txt requirements-dev.txt functions/thumbnail/requirements.txt functions/fanout/requirements.txt functions/ops/requirements.txt
# pip's warnings about this machine's optional local package mirrors are noise.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help setup system-packages dev up down test bench lint format package clean seed load

help:
	@echo "make dev    set up, then run the whole stack in the foreground (Ctrl-C stops it)"
	@echo "make test   set up, then run every test against a private stack"
	@echo "make up     the stack in the background (make down stops it)"
	@echo "make bench  set up, then every benchmark: bench/REPORT.md and bench/charts/"
	@echo "make seed   fill the running stack (make up) with a world: 100,000 users, 500,000 media"
	@echo "make load   a 10-minute load test of the running stack's API (after make seed)"
	@echo "make lint   ruff lint + format check"
	@echo "make package  the AWS template and zips in dist/ (STAGE=dev|prod DATABASES=db0,db1)"

setup: system-packages $(VENV)/.installed

# The system's PostgreSQL (15+) and Redis (7+) servers, installed with apt when missing.
system-packages:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) mkdir -p /etc/postgresql-common; \
	  [ -f /etc/postgresql-common/createcluster.conf ] || \
	    echo "create_main_cluster = false" | $(SUDO) tee /etc/postgresql-common/createcluster.conf >/dev/null; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: $(REQUIREMENTS)
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "installing Python requirements into $(VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | $(PIP_FILTER)
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | $(PIP_FILTER)
	@$(PY) -c "import chalice, moto, psycopg2, redis, PIL, schemathesis, hypothesis, matplotlib"
	@touch $@

dev: setup
	@$(PY) -m devstack run --follow

up: setup
	@$(PY) -m devstack up

down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; fi

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

# A seeded world and a load test against it, on the stack `make up` runs (see README:
# "A seeded world and a load test"). SEED_ARGS="--users 10000 --media 50000", LOAD_ARGS="--duration 120".
SEED_ARGS ?=
LOAD_ARGS ?=
seed: setup
	@$(VENV)/bin/photofeed seed $(SEED_ARGS)

load: setup
	@$(PY) bench/load.py $(LOAD_ARGS)

# The CloudFormation template (chalice package + deploy/) and the three Lambda zips, for
# one stage, checked by cfn-lint. No AWS account needed; see docs/operations.md to deploy.
STAGE ?= dev
DATABASES ?= db0,db1
package: setup
	@$(PY) -m deploy package --stage $(STAGE) --databases $(DATABASES) --out dist

# The suite starts a private stack of its own (tests/conftest.py) and stops it; ruff's
# lint and format checks are tests of the suite too, so the exit status is the suite's.
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS)

# Every benchmark in bench/, one after another against one private stack, then
# bench/REPORT.md and its charts (bench/report.py). Its clock starts when make does, so the
# total it prints includes the set-up. BENCH_ARGS="--only feed,geo" or "--quick".
BENCH_STARTED := $(shell date +%s)
bench: setup
	@$(PY) -m bench.report --started-at $(BENCH_STARTED) $(BENCH_ARGS)

clean: down
	rm -rf .local .pytest_cache .ruff_cache .schemathesis /tmp/photofeed-pg-* /tmp/photofeed-test-* /tmp/photofeed-bench-*
