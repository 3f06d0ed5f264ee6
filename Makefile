# vmo-operator developer entry points. `make test` works from a fresh clone: it creates the venv,
# builds the control-plane binaries (cached by go.sum), lints, and runs unit + integration tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TESTENV_DIR := .testenv
PYTEST_ARGS ?=
# Fault-injection and fuzz sizes (tests/chaos/budget.py): bounded in `make test`, long in `make chaos`.
# VMO_CHAOS_SEED replays a run; both targets print the budget and seed they used.
CHAOS_BOUNDED := VMO_CHAOS_ROUNDS=20 VMO_FUZZ_PROFILES=500 VMO_FUZZ_RECONCILED=20 VMO_FUZZ_VMS=200
CHAOS_LONG := VMO_CHAOS_ROUNDS=200 VMO_FUZZ_PROFILES=5000 VMO_FUZZ_RECONCILED=100 VMO_FUZZ_VMS=2000
# Tests too timing-sensitive for a loaded 2-core CI machine; they run with `make chaos` only.
CHAOS_ONLY := tests/chaos/test_crd_vanishing.py

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp

# checkov lives in its own venv: its pins would downgrade packages the project itself uses.
$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

.PHONY: scan-tools
scan-tools: $(TOOLS_STAMP) ## Install checkov (security scan of the chart) into .venv-tools

.PHONY: venv
venv: $(STAMP) ## Create .venv and install the project with dev dependencies

.PHONY: testenv-bin
testenv-bin: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm (cached)
	hack/testenv/build.sh k8s etcd kwok helm

.PHONY: operands-bin
operands-bin: ## Build the real operands: snapshot-controller, descheduler, cdi-operator, virt-operator (cached)
	hack/testenv/build.sh snapshot-controller descheduler cdi-operator virt-operator

.PHONY: lint
lint: venv ## ruff + mypy strict on src/ + import layering
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

.PHONY: unit
unit: venv ## Unit tests only (pure logic, no cluster)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

.PHONY: test
test: venv testenv-bin scan-tools lint ## Everything: lint, unit, integration, bounded fault-injection and fuzz suites
	$(CHAOS_BOUNDED) hack/netns-run $(PY) -m pytest tests -q --ignore=$(CHAOS_ONLY) $(PYTEST_ARGS)

.PHONY: chaos
chaos: venv testenv-bin ## Long fault-injection and fuzz suites (200 kill rounds, 5000 profiles); VMO_CHAOS_SEED=n replays
	$(CHAOS_LONG) hack/netns-run $(PY) -m pytest tests/chaos -q $(PYTEST_ARGS)

.PHONY: testenv-up
testenv-up: venv testenv-bin ## Start a background control plane; kubeconfig at .testenv/kubeconfig
	$(PY) -m tests.support.controlplane up --dir $(TESTENV_DIR)

.PHONY: testenv-down
testenv-down: venv ## Stop the background control plane and remove .testenv
	$(PY) -m tests.support.controlplane down --dir $(TESTENV_DIR)

.PHONY: crds
crds: venv ## Regenerate crds/, docs/reference.md and the chart/kustomize CRD copies from the code
	$(PY) -m vmo_operator.api.crd --write
	$(PY) -m vmo_operator.macpool.crd --write
	hack/sync-crds.sh

.PHONY: demo
demo: venv testenv-bin ## Local control plane + operator + example profile, left running
	hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started
	hack/demo.sh down

.PHONY: bench
bench: venv testenv-bin ## Benchmarks against a real control plane; table + bench/results/latest.json
	$(PY) -m bench.run

.PHONY: constraints
constraints: ## Regenerate constraints.txt (runtime pins, transitive) from a fresh install of pyproject.toml
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip && .venv-constraints/bin/pip install --quiet .
	{ sed -n '1,3p' constraints.txt; .venv-constraints/bin/pip freeze --exclude vmo-operator --exclude pip; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-constraints

.PHONY: chart-crds
chart-crds: crds ## Same as crds (kept for habit)

.PHONY: rbac
rbac: venv ## Regenerate operator ClusterRole/Role and VM user roles for chart and kustomize
	$(PY) -m vmo_operator.operator.rbac --write

.PHONY: kind-e2e
kind-e2e: ## kind cluster + image + chart + example profile, wait Available (needs Docker and kind; not runnable here)
	hack/kind-e2e.sh
