# vmo-operator developer entry points. `make test` works from a fresh clone: it creates the venv,
# builds the control-plane binaries (cached by go.sum), lints, and runs unit, integration, packaging
# and bounded chaos tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TESTENV_DIR := .testenv
PYTEST_ARGS ?=
# A command the suite lanes run under (`make test` lowers their priority while the VLAN proof runs).
SUITE_NICE ?=
# The slowest tests of every run are printed, so waste shows where it starts.
DURATIONS := --durations=25
# Fault-injection and fuzz sizes (tests/chaos/budget.py): bounded in `make test`, long in `make chaos`.
# VMO_CHAOS_SEED replays a run; both targets print the budget and seed they used.
CHAOS_BOUNDED := VMO_CHAOS_ROUNDS=5 VMO_FUZZ_PROFILES=500 VMO_FUZZ_RECONCILED=20 VMO_FUZZ_VMS=200
CHAOS_LONG := VMO_CHAOS_ROUNDS=200 VMO_FUZZ_PROFILES=5000 VMO_FUZZ_RECONCILED=100 VMO_FUZZ_VMS=2000
# Tests too timing-sensitive for a loaded 2-core CI machine; they run with `make chaos` only.
CHAOS_ONLY := tests/chaos/test_crd_vanishing.py
# Lint, scans and dry-runs of what ships (chart, kustomize, image, RBAC): `make packaging`, which
# `make test` runs first, so they run once per `make test`.
PACKAGING_TESTS := tests/packaging
# The fresh-venv install test needs PyPI, so it runs outside the network namespace (no control plane).
PACKAGING_ONLINE := tests/packaging/test_install.py
# Upstream's source at every supported version, read from the Go module cache (needs the Go module
# proxy on a cold cache, so it runs outside the network namespace below).
CONFORMANCE_TESTS := tests/conformance
# Everything that starts a control plane runs in a network namespace with only loopback, so a dial
# to a ClusterIP or pod IP (a Service-backed webhook, an aggregated API) fails here instead of
# leaving the machine. Left-running environments get a named one: `sudo ip netns exec NAME ...`.
NETNS := hack/netns-run
DEMO_NETNS := vmo-demo
TESTENV_NETNS := vmo-testenv

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

# Venvs are made with uv (pinned below; bootstrapped once with pip into the user's cache), which
# installs from its own cache in seconds where pip takes about a minute; a clean clone pays that on
# every CI run. The project's own venv stays in the clone (its install is editable).
CACHE_ROOT := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmo-operator
UV_VERSION := 0.13.9
UV := $(CACHE_ROOT)/uv-$(UV_VERSION)/bin/uv

# If uv cannot be had or cannot install (say, a registry only pip is configured for), pip does it.
$(UV):
	rm -rf $(CACHE_ROOT)/uv-$(UV_VERSION)
	$(PYTHON) -m venv $(CACHE_ROOT)/uv-$(UV_VERSION) && \
	  $(CACHE_ROOT)/uv-$(UV_VERSION)/bin/pip install --quiet uv==$(UV_VERSION) || echo "no uv: venvs will be made with pip"

$(STAMP): pyproject.toml | $(UV)
	rm -rf $(VENV)
	$(UV) venv --quiet --seed --python $(PYTHON) $(VENV) && $(UV) pip install --quiet --python $(PY) -e '.[dev]' || \
	  { echo "uv failed: installing with pip"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
	    $(PY) -m pip install --quiet --upgrade pip && $(PY) -m pip install --quiet -e '.[dev]'; }
	touch $@

# checkov lives in its own venv: its pins would downgrade packages the project itself uses. It
# installs nothing of the clone's, so one venv per checkov version serves every clone.
CHECKOV_VERSION := 3.3.30
TOOLS_VENV := .venv-tools
TOOLS_CACHE := $(CACHE_ROOT)/checkov-$(CHECKOV_VERSION)
TOOLS_STAMP := $(TOOLS_CACHE)/.installed-stamp

$(TOOLS_STAMP): | $(UV)
	rm -rf $(TOOLS_CACHE)
	$(UV) venv --quiet --python $(PYTHON) $(TOOLS_CACHE) && \
	  $(UV) pip install --quiet --python $(TOOLS_CACHE)/bin/python checkov==$(CHECKOV_VERSION) || \
	  { echo "uv failed: installing checkov with pip"; rm -rf $(TOOLS_CACHE) && $(PYTHON) -m venv $(TOOLS_CACHE) && \
	    $(TOOLS_CACHE)/bin/pip install --quiet checkov==$(CHECKOV_VERSION); }
	touch $@

$(TOOLS_VENV): $(TOOLS_STAMP)
	ln -sfn $(TOOLS_CACHE) $(TOOLS_VENV)

.PHONY: scan-tools
scan-tools: $(TOOLS_VENV) ## Install checkov (security scan of the chart) into .venv-tools

.PHONY: venv
venv: $(STAMP) ## Create .venv and install the project with dev dependencies

.PHONY: testenv-bin
testenv-bin: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm (cached)
	hack/testenv/build.sh k8s etcd kwok helm

.PHONY: operands-bin
operands-bin: ## Build the real operands: snapshot-controller, descheduler, cdi-operator, virt-operator (cached)
	hack/testenv/build.sh snapshot-controller descheduler cdi-operator virt-operator

.PHONY: lint
# mypy's cache lives beside the other caches, so a clean clone checks only what changed (it compares
# each file's hash with the cached one, so a stale entry is never trusted).
lint: venv ## ruff + mypy strict + import layering
	$(VENV)/bin/ruff check src tests bench hack
	$(VENV)/bin/ruff format --check src tests bench hack
	$(VENV)/bin/mypy --cache-dir $(CACHE_ROOT)/mypy src tests bench hack
	$(VENV)/bin/lint-imports

.PHONY: unit
unit: venv ## Unit tests only (pure logic, no cluster)
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

.PHONY: packaging
packaging: venv testenv-bin scan-tools ## Chart, kustomize, Dockerfile, RBAC and security-scan tests (also run by `make test`)
	$(MAKE) --no-print-directory packaging-online packaging-local

# The two halves of `make packaging`, which `make test` runs side by side with the rest.
.PHONY: packaging-online packaging-local
packaging-online:
	$(PY) -m pytest $(PACKAGING_ONLINE) -q $(DURATIONS) $(PYTEST_ARGS)
packaging-local:
	$(NETNS) $(PY) -m pytest $(PACKAGING_TESTS) --ignore=$(PACKAGING_ONLINE) -q $(DURATIONS) $(PYTEST_ARGS)

.PHONY: conformance-bin
conformance-bin: venv ## Build the Go programs the conformance tests run against upstream's releases (cached)
	$(PY) -m tests.conformance.gobuild

.PHONY: conformance
conformance: venv conformance-bin ## Rendered manifests against upstream's own source at every supported version (Go module cache)
	$(PY) -m pytest $(CONFORMANCE_TESTS) -q $(DURATIONS) $(PYTEST_ARGS)

# The control-plane suite runs in four lanes side by side, each a pytest session with its own control
# plane in its own loopback-only network namespace (the real operands bind fixed ports; a namespace
# keeps the lanes' apart). The suite mostly waits on controllers rather than computing: one lane
# alone keeps about half a core busy (9.4 min of wall for 4.4 min of CPU), so four lanes fill the two
# cores where two left a third of them idle. Lanes hold whole modules, about even by their time alone
# (2026-12-01: chaos 238 s, real operands 156 s, security 80 s, dashboard 84 s, integration 480 s,
# unit 45 s), and even by their time side by side (warm `make test`s: 463, 405, 385 and 475 s
# before the admin's view went from lane 1 to lane 3; 502, 427, 419 and 466 s before the isolation
# tests went from lane 1 to lane 3);
# a module no lane names runs in the last one, so a new module is never left out. The lint,
# conformance and packaging phases run side by side first (each one's output printed whole when it
# ends).
SUITE_SKIP = --ignore=$(CHAOS_ONLY) --ignore=$(PACKAGING_TESTS) --ignore=$(CONFORMANCE_TESTS) --ignore=$(NETPROOF_TESTS)
LANE_1 := tests/chaos
LANE_2 := tests/operands tests/security tests/integration/test_macpool_spares.py
LANE_3 := tests/dashboard tests/integration/test_profile.py tests/integration/test_macpool.py \
  tests/integration/test_admin_logs.py tests/integration/test_admin_view.py \
  tests/integration/test_isolation.py
LANE_4_SKIP := $(foreach path,$(LANE_1) $(LANE_2) $(LANE_3),--ignore=$(path))

.PHONY: test
# The set-up steps run side by side: on a cold machine the Go builds are mostly CPU, while module
# downloads, the venvs and the Debian packages wait on the network, so each fills the other's gaps.
test: ## Everything: lint, conformance, packaging, unit, integration, security, real operands, bounded chaos
	$(MAKE) --no-print-directory -j 4 --output-sync=target venv testenv-bin operands-bin scan-tools netproof-deps conformance-bin
	$(MAKE) --no-print-directory -j 6 --output-sync=target netproof checks-then-suite

# The VLAN proof boots a kernel under QEMU's software emulation, one core for about two minutes. It
# starts beside the static checks, which leave the other core mostly idle, and the lanes start as
# soon as those checks end, while it still runs (it used to leave more than a core idle for most of
# a minute). The lanes run at a lower priority meanwhile, so the guest keeps its core: starved, its
# emulated clock falls behind and its checks time out.
.PHONY: checks-then-suite
checks-then-suite: lint conformance packaging-online packaging-local
	$(MAKE) --no-print-directory test-suite SUITE_NICE="nice -n 5"

NETPROOF_TESTS := tests/netproof
.PHONY: netproof
netproof: venv netproof-deps ## The rendered VLAN networks and the node agent for real, in a QEMU guest (installs its Debian packages)
	$(PY) -m pytest $(NETPROOF_TESTS) -q $(DURATIONS) $(PYTEST_ARGS)

.PHONY: netproof-deps
# After `browser`: both install Debian packages, and two apt-gets at once fail on dpkg's lock.
netproof-deps: browser ## QEMU and the Debian guest kernel (Debian packages), and the real bridge CNI plugin
	hack/netproof/install.sh
	hack/testenv/build.sh cni-plugins

.PHONY: test-suite
test-suite: browser ## The control-plane suite alone (unit, integration, security, dashboard, real operands, bounded chaos), in four lanes
	$(MAKE) --no-print-directory -j 4 --output-sync=target suite-1 suite-2 suite-3 suite-4

# The dashboard's browser tests (tests/dashboard, in lane 3) drive Debian's
# Chromium with Playwright; this installs the package when it is missing (nothing is downloaded at
# test time).
.PHONY: browser
browser: ## Install Debian's chromium for the dashboard's browser tests (tests/dashboard)
	hack/dashboard/install.sh

.PHONY: suite-1 suite-2 suite-3 suite-4
suite-1: ## Lane 1 of the suite: bounded chaos
	$(SUITE_NICE) $(NETNS) env $(CHAOS_BOUNDED) $(PY) -m pytest $(LANE_1) -q $(SUITE_SKIP) $(DURATIONS) $(PYTEST_ARGS)

suite-2: ## Lane 2 of the suite: the real operands, the hostile tenants, spare MACs
	$(SUITE_NICE) $(NETNS) $(PY) -m pytest $(LANE_2) -q $(SUITE_SKIP) $(DURATIONS) $(PYTEST_ARGS)

suite-3: ## Lane 3 of the suite: the dashboard in a browser, the profile's life, the MAC allocator, the admin's view, one bad entry's reach
	$(SUITE_NICE) $(NETNS) $(PY) -m pytest $(LANE_3) -q $(SUITE_SKIP) $(DURATIONS) $(PYTEST_ARGS)

suite-4: ## Lane 4 of the suite: unit tests and every module no other lane names
	$(SUITE_NICE) $(NETNS) $(PY) -m pytest tests -q $(SUITE_SKIP) $(LANE_4_SKIP) $(DURATIONS) $(PYTEST_ARGS)

.PHONY: chaos
chaos: venv testenv-bin ## Long fault-injection and fuzz suites (200 kill rounds, 5000 profiles); VMO_CHAOS_SEED=n replays
	$(NETNS) env $(CHAOS_LONG) $(PY) -m pytest tests/chaos -q $(PYTEST_ARGS)

.PHONY: testenv-up
testenv-up: venv testenv-bin ## Start a background control plane; kubeconfig at .testenv/kubeconfig
	VMO_NETNS=$(TESTENV_NETNS) $(NETNS) $(PY) -m vmo_operator.localenv up --dir $(TESTENV_DIR)
	@echo "the control plane runs in network namespace $(TESTENV_NETNS): ip netns exec $(TESTENV_NETNS) kubectl --kubeconfig $(TESTENV_DIR)/kubeconfig get nodes"

.PHONY: testenv-down
testenv-down: venv ## Stop the background control plane and remove .testenv
	VMO_NETNS=$(TESTENV_NETNS) $(NETNS) $(PY) -m vmo_operator.localenv down --dir $(TESTENV_DIR)
	ip netns delete $(TESTENV_NETNS) 2>/dev/null || true

.PHONY: crds
crds: venv ## Regenerate crds/, docs/reference.md and the chart/kustomize CRD copies from the code
	$(PY) -m vmo_operator.api.crd --write
	$(PY) -m vmo_operator.macpool.crd --write
	hack/sync-crds.sh

# make demo KUBEVIRT=simulated: KubeVirt v1.9.0 with a SIMULATED virt-operator instead of the real
# virt-operator at the newest buildable version (hack/demo.sh says why real is the default).
KUBEVIRT ?= real

.PHONY: demo
demo: venv testenv-bin operands-bin ## Local control plane + operator + real operands (KUBEVIRT=real|simulated) + example profile, left running
	KUBEVIRT=$(KUBEVIRT) hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started
	hack/demo.sh down

.PHONY: bench
bench: venv testenv-bin bench-runtime ## Benchmarks against a real control plane; table + bench/results/latest.json
	VMO_EXECUTABLE=$(CURDIR)/$(RUNTIME_VENV)/bin/vmo $(NETNS) $(PY) -m bench.run

# What the benchmarks run `vmo` from: the image's install (requirements.lock, then the project,
# not editable) without the dev tools, whose imports (rich, pygments, ...) would count in the
# replicas' memory although the image does not ship them. The project is reinstalled every time.
RUNTIME_VENV := .venv-runtime
.PHONY: bench-runtime
bench-runtime:
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(RUNTIME_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall .

.PHONY: constraints
constraints: ## Regenerate constraints.txt (runtime pins, transitive) from a fresh install of pyproject.toml
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip && .venv-constraints/bin/pip install --quiet .
	{ sed -n '1,3p' constraints.txt; .venv-constraints/bin/pip freeze --exclude vmo-operator --exclude pip; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-constraints

# The build backend the image builds the project with; pinned here and hashed in requirements.lock.
BUILD_BACKEND := setuptools==84.2.1 wheel==0.48.0

.PHONY: lock
lock: ## Regenerate requirements.lock (constraints.txt + build backend, with every file's hash) from PyPI
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet pip-tools==7.6.2
	{ grep -v '^#' constraints.txt; printf '%s\n' $(BUILD_BACKEND); } > .venv-lock/requirements.in
	env -u PIP_FIND_LINKS .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --no-strip-extras \
	  --no-header --no-annotate --no-emit-find-links -o .venv-lock/requirements.txt .venv-lock/requirements.in
	{ sed -n '1,4p' requirements.lock; cat .venv-lock/requirements.txt; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

.PHONY: chart-crds
chart-crds: crds ## Same as crds (kept for habit)

.PHONY: rbac
rbac: venv ## Regenerate operator ClusterRole/Role and VM user roles for chart and kustomize
	$(PY) -m vmo_operator.operator.rbac_output --write

.PHONY: kind-e2e
kind-e2e: ## kind cluster + image + chart + example profile, wait Available (needs Docker and kind; not runnable here)
	hack/kind-e2e.sh
