# BobaKu: two commands on a fresh machine.
#   make run    everything up (infrastructure, platform processes), URLs printed; Ctrl-C stops it
#   make test   lint, infrastructure, the whole suite against real servers
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INFRA := scripts/infra.sh
PYTEST_ARGS ?=
# `python -m` must never put the repo root on sys.path: the card's top-level `operator/`
# folder would shadow the standard library's `operator` module.
export PYTHONSAFEPATH := 1

.PHONY: help install lint audit audit-offline fmt test test-terraform test-infra-down run seed-history chaos security-figures bench bench-ordering bench-edge bench-scale bench-operator bench-operator-node bench-hub bench-notification bench-analytics bench-growth bench-tracing bench-scrape bench-smoke infra-up infra-down infra-status clean cluster cluster-down cluster-status e2e e2e-terraform

help:
	@echo "make run           start the platform locally (Ctrl-C stops everything)"
	@echo "make test          lint + the whole test suite against real NATS, Redis, FerretDB"
	@echo "make seed-history  a generated past year of orders for the demo brand's analytics"
	@echo "make test-terraform  fmt, validate, tofu test of terraform/ and a real apply of its platform layer"
	@echo "make bench         benchmarks (ordering, operator, hub); figures go to docs/performance.md"
	@echo "make bench-smoke   every benchmark at tiny sizes, print only (CI runs it)"
	@echo "make chaos         fault tests at full size (1,000 hub clients dropped at random; 1,000 orders under faults)"
	@echo "make security-figures  rerun the pentest report's test families and rewrite its figures"
	@echo "make lint          ruff (lint + format check), mypy and bandit"
	@echo "make audit         pip-audit of the pinned packages and npm audit of the browser tests' (needs a vulnerability database)"
	@echo "make fmt           apply ruff's formatting and safe fixes"
	@echo "make infra-up|infra-down|infra-status   the local servers alone"
	@echo "make cluster       a one-node Kubernetes on this machine, with the platform images (root)"
	@echo "make cluster-down  stop it and put the host back as it was; make cluster-status"
	@echo "make e2e           the end-to-end scenario on that cluster (kind when Docker is there)"
	@echo "make e2e-terraform terraform/platform applied to that cluster and destroyed (e2e/test_platform_layer.py)"

install: $(STAMP)

# Hash-pinned install: every package and its hash come from constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	@echo "[install] virtualenv in $(VENV) with pinned, hash-checked packages"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r constraints.txt
	@$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@echo "$(BIN)/bandit -c pyproject.toml -r kernel services hub operator scripts"
	@set -o pipefail; $(BIN)/bandit -q -c pyproject.toml -r kernel services hub operator scripts 2>&1 \
		| { grep -v 'nosec encountered' || true; }

# Known vulnerabilities of the pinned packages (constraints.txt). --strict: a package that
# could not be checked (no vulnerability database reachable) fails the audit instead of
# passing silently. Then the browser tests' npm packages (e2e/browser/package.json): npm
# audit reads a lockfile, made in a scratch folder because lockfiles name registry hosts,
# which the repository must not hold. CI runs this (.github/workflows/ci.yml, job audit).
audit: $(STAMP)
	$(BIN)/pip-audit --strict --disable-pip --no-deps --progress-spinner off -r constraints.txt
	@scratch=$$(mktemp -d) && cp e2e/browser/package.json "$$scratch"/ && \
		( cd "$$scratch" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund \
			&& npm audit --audit-level=low ); rc=$$?; rm -rf "$$scratch"; exit $$rc

# The same Python audit against an advisory checkout on disk (no network): osv-scanner,
# built once from its Go module; ADVISORIES=<a checkout of pypa/advisory-database or any
# OSV repository>. docs/security/pentest-report.md, "Supply chain", has a run's result.
audit-offline: $(STAMP)
	@scripts/audit-offline.sh "$(ADVISORIES)"

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

infra-up:
	@$(INFRA) up

infra-down:
	@$(INFRA) down

infra-status:
	@$(INFRA) status

# The suite gets servers of its own (own ports, own data under .run/test), so a test run
# never shares streams or consumers with a `make run` on the same machine.
# TEST_PORT_OFFSET moves them all, so two checkouts can run their suites side by side.
TEST_PORT_OFFSET ?= 0
TEST_INFRA := BOBAKU_RUN_DIR=$(CURDIR)/.run/test \
	BOBAKU_NATS_PORT=$(shell echo $$((24222 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_NATS_MONITOR_PORT=$(shell echo $$((28222 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_REDIS_PORT=$(shell echo $$((26379 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_MONGO_PORT=$(shell echo $$((27127 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_MAILPIT_SMTP_PORT=$(shell echo $$((21025 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_MAILPIT_HTTP_PORT=$(shell echo $$((23025 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_PROMETHEUS_PORT=$(shell echo $$((29090 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_ALERTMANAGER_PORT=$(shell echo $$((29093 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_INFRA_EXPORTER_PORT=$(shell echo $$((29100 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_JAEGER_PORT=$(shell echo $$((26686 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_OTLP_PORT=$(shell echo $$((24318 + $(TEST_PORT_OFFSET)))) \
	BOBAKU_SCRAPE_PLATFORM=none

# Without PYTEST_ARGS the suite leaves out tests/terraform: `make test-terraform` runs those
# (.ci/run calls both), because their first run builds OpenTofu and two providers.
test: $(STAMP) lint
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		$(BIN)/pytest $(or $(PYTEST_ARGS),--ignore=tests/terraform)

# terraform/ (docs/deployment.md, "Deployment in AWS"): tofu fmt -check, validate, tofu test
# with mocked providers, and the platform layer applied to a real kube-apiserver. The first
# run builds tofu and the helm and kubectl providers from Go modules
# (scripts/terraform/build.sh; cached in ~/.cache/bobaku).
test-terraform: $(STAMP)
	@$(BIN)/pytest tests/terraform $(PYTEST_ARGS)

# The suite runs the chaos tests bounded (120 hub clients; 60 orders over a minute); this
# runs them at full size: 1,000 hub clients dropped at random, and 1,000 orders over five
# minutes while every service is killed in turn, NATS and FerretDB are restarted, Redis is
# flushed and the payment provider stalls (figures: .run/test-artifacts/figures/).
CHAOS_ORDERS ?= 1000
CHAOS_SECONDS ?= 300
chaos: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		BOBAKU_HUB_CHAOS_CLIENTS=1000 BOBAKU_ORDER_CHAOS_ORDERS=$(CHAOS_ORDERS) \
		BOBAKU_ORDER_CHAOS_SECONDS=$(CHAOS_SECONDS) \
		$(BIN)/pytest -s tests/hub/test_chaos.py tests/integration/test_order_chaos.py $(PYTEST_ARGS)

# The figures of docs/security/pentest-report.md, regenerated: the authorization matrix,
# the fuzzing and the chaos runs (bounded as in the suite; BOBAKU_ORDER_CHAOS_ORDERS=1000
# BOBAKU_ORDER_CHAOS_SECONDS=300 in the environment for the full size), each writing its
# figures under .run/test-artifacts/figures/, then the report's figures block rewritten.
security-figures: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		$(BIN)/pytest -s tests/integration/test_access_matrix.py tests/integration/test_order_chaos.py \
			tests/integration/test_zz_fuzzing.py tests/hub/test_chaos.py $(PYTEST_ARGS) && \
		$(BIN)/python scripts/security_figures.py docs/security/pentest-report.md

test-infra-down:
	@$(TEST_INFRA) $(INFRA) down

run: $(STAMP) infra-up
	@set -a; source .run/infra.env; set +a; \
		PYTHONPATH=scripts exec $(BIN)/python scripts/run.py

# A generated past year for the demo brand's dashboards (docs/analytics.md), against the
# servers of `make run`; run it again and nothing is added. SEED_HISTORY_ARGS: --days (at
# most 400), --scale (demand x, at most 2), --seed.
SEED_HISTORY_ARGS ?= --days 365 --scale 0.5
seed-history: $(STAMP) infra-up
	@set -a; source .run/infra.env; set +a; \
		$(BIN)/python -m bobaku.services.analytics seed-history $(SEED_HISTORY_ARGS)

# Benchmarks print figures (ratios against a baseline measured in the same run) and write
# them to docs/performance.md; they are not tests.
bench: bench-ordering bench-edge bench-scale bench-growth bench-tracing bench-scrape bench-hub bench-operator bench-operator-node bench-notification bench-analytics

bench-ordering: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests $(BIN)/python bench/ordering_bench.py

# The cached menu read through the gateway (its edge cache) against a raw aiohttp hello in
# the same run (docs/performance.md, "Cached menu reads at the edge").
bench-edge: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests:bench $(BIN)/python bench/edge_bench.py $(BENCH_ARGS)

# Paid orders/s with 1, 2 and 4 replicas of the order service and the gateway
# (docs/performance.md, "Scale-out"). BENCH_ARGS="--replicas 1,2 --seconds 10".
bench-scale: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests:bench $(BIN)/python bench/scale_bench.py $(BENCH_ARGS)

# The same order load with 0, 10,000 and 100,000 orders already stored: per-order CPU of
# every process and the list pages' p99 as ratios to the empty run (docs/performance.md,
# "Growth"). BENCH_ARGS="--levels 0,10000" for a shorter run.
bench-growth: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		$(TEST_INFRA) PYTHONPATH=scripts:tests:bench $(BIN)/python bench/growth_bench.py $(BENCH_ARGS)

bench-notification: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests $(BIN)/python bench/notification_bench.py

# The ordering benchmark with tracing off, on for every trace, then sampled 1 in 10 as the
# chart does (spans to the suite's Jaeger): the instrumentation's cost as ratios and CPU per
# order (docs/performance.md, Tracing).
bench-tracing: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests $(BIN)/python bench/ordering_bench.py --tracing-cost $(BENCH_ARGS)

# What a Prometheus scrape costs each process: bytes, series, CPU per scrape.
bench-scrape: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		PYTHONPATH=scripts:tests:bench $(BIN)/python bench/scrape_bench.py

# The hub beside a raw Tornado broadcast server and Centrifugo (built once, cached).
bench-hub: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@centrifugo=$$(scripts/centrifugo.sh bin) && set -a && source .run/test/infra.env && set +a && \
		BOBAKU_CENTRIFUGO_BIN=$$centrifugo $(BIN)/python bench/hub_bench.py $(BENCH_ARGS)

bench-analytics: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		$(BIN)/python bench/analytics_bench.py

bench-operator: $(STAMP) infra-up
	@set -a; source .run/infra.env; set +a; \
		$(BIN)/python bench/operator_bench.py

# The same on the one-node cluster (root): apply → every silo pod Available for 1 and 10
# franchises, and the node's memory at rest and with 10 (bench/operator_node_bench.py).
bench-operator-node: $(STAMP)
	@e2e/run.sh local bench

# Every benchmark at tiny sizes, print only (scripts/bench-smoke.sh): CI runs it so that no
# bench rots between full runs; its figures mean nothing.
bench-smoke: $(STAMP)
	@$(TEST_INFRA) $(INFRA) up
	@set -a; source .run/test/infra.env; set +a; \
		$(TEST_INFRA) PYTHON=$(BIN)/python scripts/bench-smoke.sh

# The one-node cluster (scripts/k8s/cluster.sh; docs/deployment.md) and the e2e on it.
# `make cluster` builds the node's binaries and the images on first use (cached under
# ~/.cache/bobaku), starts the node and imports the images; then
#   export KUBECONFIG=$$(scripts/k8s/cluster.sh kubeconfig)
cluster: $(STAMP)
	@scripts/k8s/cluster.sh up >/dev/null
	@scripts/k8s/images.sh all
	@echo "[cluster] export KUBECONFIG=$$(scripts/k8s/cluster.sh kubeconfig) KUBECTL=$$(scripts/k8s/build.sh kubectl)"

cluster-down:
	@scripts/k8s/cluster.sh down

cluster-status:
	@scripts/k8s/cluster.sh status

e2e: $(STAMP)
	@e2e/run.sh

# terraform/platform applied (wait = true) to the one-node cluster and destroyed, state in a
# temporary folder (e2e/test_platform_layer.py): tofu and the providers first (cached), then
# the node and the images as `make e2e` has them, the test, and the node stopped again.
e2e-terraform: $(STAMP)
	@scripts/terraform/build.sh all >/dev/null
	@scripts/k8s/cluster.sh up >/dev/null
	@status=0; scripts/k8s/images.sh all && \
		KUBECONFIG=$$(scripts/k8s/cluster.sh kubeconfig) KUBECTL=$$(scripts/k8s/build.sh kubectl) \
		$(BIN)/pytest -q -p no:cacheprovider --rootdir e2e e2e/test_platform_layer.py $(PYTEST_ARGS) \
		|| status=$$?; scripts/k8s/cluster.sh down; exit $$status

clean: infra-down test-infra-down
	rm -rf .run $(VENV) .mypy_cache .ruff_cache .pytest_cache
