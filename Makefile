# crm-platform. `make help` lists the targets; STACK picks the stack (default staging).
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= staging
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest workers (pytest-xdist): one per CPU; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: help venv render check diff test lint docs bench lock preview up clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt requirements-checkov.txt constraints-checkov.txt scripts/bootstrap.sh
	scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

venv: $(INSTALLED) ## create ./venv and .venv-checkov with the pinned requirements (and OS packages, as root)

# What the Pulumi CLI runs (the program and the policy pack), without the test tools and OS
# packages: the deploy, preview and drift jobs need no more.
PROGRAM_INSTALLED := $(VENV)/.program-installed
$(PROGRAM_INSTALLED): requirements.txt constraints.txt
	@test -x $(PY) || "$(PYTHON)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

.PHONY: program-venv
program-venv: $(PROGRAM_INSTALLED) ## create ./venv with only what the Pulumi CLI runs: the program and the policy pack

render: venv ## run the program offline for STACK into build/STACK/ (no CLI, cluster or cloud)
	@$(PY) -m offline render --stack $(STACK)

check: venv ## run the policy pack offline over STACK (levels from policies/config/); exit 1 on a mandatory violation
	@$(PY) -m offline check --stack $(STACK)

diff: venv ## compare every stack's render (or STACK's) at BASE=<git ref> with the working tree (or HEAD=<ref>) into build/diff/
	@if [ -z '$(BASE)' ]; then echo "make diff: give the base, e.g. make diff BASE=origin/main" >&2; exit 2; fi
	@$(PY) -m offline diff --base '$(BASE)' $(if $(HEAD),--head '$(HEAD)') \
		$(if $(filter command line environment,$(origin STACK)),--stack $(STACK))

.PHONY: checkov
checkov: venv ## run Checkov over every stack's render (or STACK); exit 1 on a check policies/checkov-skips.yaml does not accept
	@$(PY) -m offline.checkov $(if $(filter command line environment,$(origin STACK)),--stack $(STACK))

test: venv ## run every test, over TEST_WORKERS processes (one per CPU); fails when pytest collects nothing
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests, which is a failure" >&2; exit 1; fi; \
	exit $$status

lint: venv ## ruff and mypy (the tests run them too)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

docs: venv ## regenerate Pulumi.yaml, the README configuration reference and policy table
	$(PY) -m stacks.reference
	$(PY) -m policies.reference

bench: venv ## benchmark the render, the backup pipeline, the policy check and the render diff into docs/PERFORMANCE.md
	$(PY) -m offline.bench --output docs/PERFORMANCE.md
	{ echo; $(PY) -m offline.bench_backups; } >> docs/PERFORMANCE.md
	{ echo; $(PY) -m offline.bench_policies; } >> docs/PERFORMANCE.md
	{ echo; $(PY) -m offline.bench_diff; } >> docs/PERFORMANCE.md

.PHONY: mutation
# The shared reference data (schemas, CRDs) beside the checkout; mutmut runs the tests from mutants/.
CRM_SHARED_DIR ?= $(abspath ../shared)
mutation: venv ## mutation testing of the pure modules (mutmut, 2 to 3 hours on 2 idle CPUs) into docs/MUTATION.md and docs/mutation/; fails below 90 %
	rm -rf mutants && mkdir -p build
	CRM_SHARED_DIR="$(CRM_SHARED_DIR)" $(VENV)/bin/mutmut run --max-children "$$(nproc)" > build/mutmut.log 2>&1 || { tail -n 30 build/mutmut.log; exit 1; }
	$(PY) scripts/mutation_report.py

lock: venv ## re-lock constraints.txt after changing requirements*.txt
	rm -rf .lock-venv && "$(PYTHON)" -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements-dev.txt
	{ head -n 2 constraints.txt; .lock-venv/bin/pip freeze --all | grep -v -E '^(pip|setuptools|wheel)=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

# The stack's policy config: policies/config/<stack>.json, review.json for pr-<number> stacks.
POLICY_CONFIG = policies/config/$(if $(filter pr-%,$(STACK)),review,$(STACK)).json

preview: program-venv ## pulumi preview of STACK with the policy pack at STACK's levels (needs the Pulumi CLI and the cluster)
	@scripts/check-pulumi-version.sh
	pulumi preview --stack $(STACK) --diff --policy-pack policies --policy-pack-config $(POLICY_CONFIG)

up: program-venv ## pulumi up of STACK with the policy pack at STACK's levels (needs the Pulumi CLI and the cluster)
	@scripts/check-pulumi-version.sh
	pulumi up --stack $(STACK) --policy-pack policies --policy-pack-config $(POLICY_CONFIG)

clean: ## remove build output and caches (keeps ./venv)
	rm -rf build mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis
