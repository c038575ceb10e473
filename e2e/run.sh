#!/usr/bin/env bash
# The end-to-end run: a cluster, the images, the chart, a Franchise and its Outlets, an
# order through the gateway watched on the hub. Two kinds of cluster, the same scenario:
#   local  the one-node cluster on this machine (scripts/k8s/cluster.sh; no Docker): the
#          images are made by scripts/k8s/images.sh and imported into its containerd
#   kind   Docker + kind (the GitHub Actions workflow): docker build + kind load
# helm and kubectl are built by scripts/k8s/build.sh like everywhere.
#
# Usage: e2e/run.sh [local|kind] [bench]
#   (default: kind when docker and kind are installed, else local; BOBAKU_E2E_KEEP=1 keeps
#   the cluster afterwards; `bench`: after the chart, the operator's benchmark on the node,
#   bench/operator_node_bench.py with BENCH_ARGS, instead of the scenario)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLUSTER=${BOBAKU_E2E_CLUSTER:-bobaku-e2e}
NAMESPACE=bobaku-system
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bobaku-e2e.XXXXXX")
export PYTHONSAFEPATH=1
PIDS=()
MODE=${1:-}
if [[ -z $MODE ]]; then
	if command -v docker >/dev/null && command -v kind >/dev/null; then MODE=kind; else MODE=local; fi
fi

# Each step's start, in seconds since the run began (e2e/README.md's timings).
step() { printf '\n[e2e] === %s (t=%ss)\n' "$*" "$SECONDS" >&2; }
die() {
	printf '[e2e] error: %s\n' "$*" >&2
	exit 1
}

[[ -x $PY ]] || die "no Python at $PY: run 'make install' first"
HELM=$(scripts/k8s/build.sh helm)
case $MODE in
kind)
	for tool in docker kind kubectl; do
		command -v "$tool" >/dev/null || die "$tool not found: the kind run needs Docker, kind and kubectl (see e2e/README.md)"
	done
	KUBECTL=$(command -v kubectl)
	export KUBECONFIG=$WORK/kubeconfig
	TAG=e2e
	REGISTRY=bobaku
	VALUES=(-f e2e/values.yaml)
	KEYS=$WORK/jwt
	ONBOARD=()
	;;
local)
	KUBECTL=$(scripts/k8s/build.sh kubectl)
	export KUBECONFIG
	KUBECONFIG=$(scripts/k8s/cluster.sh kubeconfig)
	TAG=dev
	REGISTRY=bobaku.local
	VALUES=(-f e2e/cluster-values.yaml)
	# What outlives a run on this node (under scripts/k8s/cluster.sh's state directory, kept
	# by `down`): JetStream's storage (the routing table survives NATS and node restarts)
	# and the signing keys (a kept cluster's secrets and tokens stay valid).
	NODE_DIR=$(dirname "$(dirname "$KUBECONFIG")")
	install -d -o 1000 -g 1000 "$NODE_DIR/nats"
	VALUES+=(--set nats.hostPath="$NODE_DIR/nats")
	KEYS=$NODE_DIR/e2e-jwt
	# One 2-core node: the platform's pods and one franchise at tier small fit its CPU;
	# the examples' tier medium (8 silo pods at 200m) does not.
	ONBOARD=(--tier small)
	;;
*) die "unknown cluster '$MODE' (local or kind)" ;;
esac
export KUBECTL
kubectl() { "$KUBECTL" "$@"; }

cleanup() {
	local status=$?
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	if ((status != 0)); then
		step "failed: state for the log"
		kubectl get franchises,outlets -o wide 2>/dev/null || true
		kubectl -n "$NAMESPACE" get pods -o wide 2>/dev/null || true
		kubectl -n "$NAMESPACE" logs deploy/bobaku-operator --tail=100 2>/dev/null || true
		kubectl get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -40 || true
	fi
	if [[ ${BOBAKU_E2E_KEEP:-0} != 1 ]]; then
		if [[ $MODE == kind ]]; then
			kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
		else
			scripts/k8s/cluster.sh down || true
		fi
	fi
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT

if [[ $MODE == kind ]]; then
	step "cluster $CLUSTER (kind)"
	if ! kind get clusters | grep -qx "$CLUSTER"; then
		kind create cluster --name "$CLUSTER" --config e2e/kind.yaml --wait 180s
	fi
	kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"
	step "images"
	docker build -f docker/platform.Dockerfile -t "$REGISTRY/bobaku-platform:$TAG" .
	docker build -f docker/operator.Dockerfile -t "$REGISTRY/bobaku-operator:$TAG" .
	kind load docker-image --name "$CLUSTER" "$REGISTRY/bobaku-platform:$TAG" "$REGISTRY/bobaku-operator:$TAG"
else
	step "cluster (one node on this machine: scripts/k8s/cluster.sh)"
	scripts/k8s/cluster.sh up >/dev/null
	step "images (scripts/k8s/images.sh, imported into the node's containerd)"
	scripts/k8s/images.sh all
	step "the node runs pods (e2e/test_node.py)"
	"$PY" -m pytest -q -p no:cacheprovider --rootdir e2e e2e/test_node.py
fi

step "signing keys"
if [[ ! -s $KEYS/private.pem || ! -s $KEYS/public.pem ]]; then
	install -d -m 700 "$KEYS"
	"$PY" e2e/token.py keys "$KEYS"
fi
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NAMESPACE" create secret generic bobaku-jwt \
	--from-file=public.pem="$KEYS/public.pem" --from-file=private.pem="$KEYS/private.pem" \
	--dry-run=client -o yaml | kubectl apply -f -
"$PY" e2e/token.py service "$KEYS" >"$WORK/service-token"
kubectl -n "$NAMESPACE" create secret generic bobaku-service-token \
	--from-file=SERVICE_TOKEN="$WORK/service-token" --dry-run=client -o yaml | kubectl apply -f -

step "chart"
"$HELM" lint --strict charts/bobaku
KEPT=0
"$HELM" status bobaku --namespace "$NAMESPACE" >/dev/null 2>&1 && KEPT=1
"$HELM" upgrade --install bobaku charts/bobaku --namespace "$NAMESPACE" \
	"${VALUES[@]}" --set image.tag="$TAG" --set auth.jwtSecret=bobaku-jwt \
	--wait --timeout 10m
if [[ $MODE == local ]]; then
	# A kept cluster whose images were rebuilt under the same tag: the running pods keep the
	# old ones until restarted (helm and the operator see no change in their specs).
	digests=$(for image in bobaku-platform bobaku-operator; do
		ctr --address /run/bobaku-containerd/containerd.sock -n k8s.io images ls \
			"name==$REGISTRY/$image:$TAG" | awk 'NR == 2 { print $3 }'
	done)
	if ((KEPT)) && [[ $digests != "$(cat "$NODE_DIR/e2e-image-digests" 2>/dev/null)" ]]; then
		step "new images on a kept cluster: restarting the platform's and the silos' pods"
		for ns in "$NAMESPACE" $(kubectl get ns -l app.kubernetes.io/managed-by=bobaku-operator -o name | cut -d/ -f2); do
			kubectl -n "$ns" rollout restart deployment
			kubectl -n "$ns" rollout status deployment --timeout 5m
		done
	fi
	printf '%s\n' "$digests" >"$NODE_DIR/e2e-image-digests"
fi

if [[ ${2:-} == bench ]]; then
	step "the operator's benchmark on this node (bench/operator_node_bench.py)"
	# shellcheck disable=SC2086 # BENCH_ARGS are words
	PYTHONPATH=bench "$PY" bench/operator_node_bench.py --kubeconfig "$KUBECONFIG" ${BENCH_ARGS:-}
	exit 0
fi

step "the demo catalog (menu items, toppings; the menu service's seed)"
kubectl -n "$NAMESPACE" exec deploy/menu -- python -m bobaku.services.menu.seed

step "onboard a Franchise and its Outlets"
# Open from 6 h before now to 6 h after: the examples' outlets close at night (Jakarta time),
# and the scenario's orders must be taken whenever CI runs.
"$PY" e2e/scenario.py onboard --kubeconfig "$KUBECONFIG" --available --timeout 300 --open-now "${ONBOARD[@]}"
kubectl get franchises,outlets -o wide

step "the gateway and the hub"
if [[ $MODE == local ]]; then
	# The host reaches Service addresses directly (kube-proxy's rules on this node).
	GATEWAY=http://$(kubectl -n "$NAMESPACE" get svc gateway -o jsonpath='{.spec.clusterIP}'):8080
	HUB=ws://$(kubectl -n "$NAMESPACE" get svc hub -o jsonpath='{.spec.clusterIP}'):8080
	PROVIDER_SIM=http://$(kubectl -n "$NAMESPACE" get svc provider-sim -o jsonpath='{.spec.clusterIP}'):8080
	# The in-cluster FerretDB (no users): offboarding checks the franchise database itself.
	MONGO=(--mongodb-url "mongodb://$(kubectl -n "$NAMESPACE" get svc mongodb -o jsonpath='{.spec.clusterIP}'):27017/")
else
	MONGO=()
	kubectl -n "$NAMESPACE" port-forward svc/gateway 18080:8080 >"$WORK/pf-gateway.log" 2>&1 &
	PIDS+=($!)
	kubectl -n "$NAMESPACE" port-forward svc/hub 18888:8080 >"$WORK/pf-hub.log" 2>&1 &
	PIDS+=($!)
	kubectl -n "$NAMESPACE" port-forward svc/provider-sim 18099:8080 >"$WORK/pf-provider.log" 2>&1 &
	PIDS+=($!)
	GATEWAY=http://127.0.0.1:18080
	HUB=ws://127.0.0.1:18888
	PROVIDER_SIM=http://127.0.0.1:18099
fi
for _ in $(seq 100); do
	curl -fsS -o /dev/null "$GATEWAY/healthz" 2>/dev/null && break
	sleep 0.2
done
# The provider simulator settles every charge, 3 s after it is made (its default draws
# failures and timeouts at random, which is for the payment service's own tests): the
# order is placed and subscribed to on the hub before its payment completes.
curl -fsS -o /dev/null -X POST "$PROVIDER_SIM/_control/gopay" -H 'Content-Type: application/json' \
	-d '{"settlement_delay_s": 3, "failure_rate": 0, "timeout_rate": 0, "duplicate_rate": 0, "reorder_rate": 0, "api_error_rate": 0}'

step "the silo serves its franchise through the gateway and refuses another (e2e/test_silo.py)"
BOBAKU_E2E_JWT=$KEYS BOBAKU_E2E_GATEWAY=$GATEWAY \
	"$PY" -m pytest -q -p no:cacheprovider --rootdir e2e e2e/test_silo.py

step "an order through the gateway, watched on the hub"
"$PY" e2e/token.py mint "$KEYS" u-e2e000000001 >"$WORK/token"
"$PY" e2e/scenario.py order --gateway "$GATEWAY" --hub "$HUB" \
	--token-file "$WORK/token" --outlet jkt-selatan-senopati --timeout 120 | tee "$WORK/order.jsonl"
ORDER_ID=$("$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["order_id"])' "$WORK/order.jsonl")
"$PY" e2e/token.py staff "$KEYS" jkt-selatan jkt-selatan-senopati >"$WORK/staff-token"

step "the kitchen display in headless Chromium: the order's ticket, bumped by the barista"
[[ -e e2e/browser/node_modules/playwright-core/package.json ]] ||
	(cd e2e/browser && npm install --no-package-lock --no-audit --no-fund)
HUB_URL=http://${HUB#ws://} GATEWAY_URL=$GATEWAY STAFF_TOKEN=$(cat "$WORK/staff-token") \
	OUTLET=jkt-selatan-senopati ORDER_ID=$ORDER_ID ARTIFACTS=$ROOT/.run/e2e-artifacts \
	node e2e/browser/kds_cluster.mjs

step "a silo pod deleted mid-order: the order completes, charged once"
"$PY" e2e/scenario.py order --gateway "$GATEWAY" --hub "$HUB" \
	--token-file "$WORK/token" --outlet jkt-selatan-senopati --timeout 240 \
	--kill bobaku-fr-jkt-selatan/order --staff-token-file "$WORK/staff-token" \
	--provider-sim "$PROVIDER_SIM"

step "outlet hours changed through the Outlet resource, and honoured"
"$PY" e2e/scenario.py hours --kubeconfig "$KUBECONFIG" --gateway "$GATEWAY" \
	--token-file "$WORK/token" --outlet jkt-selatan-senopati --timeout 180

if [[ $MODE == local ]]; then
	step "bad input and faults (e2e/test_faults.py): a refused spec, a dying silo"
	"$PY" -m pytest -q -p no:cacheprovider --rootdir e2e e2e/test_faults.py
fi

step "offboard, retention Retain: the database is kept"
"$PY" e2e/scenario.py offboard --kubeconfig "$KUBECONFIG" --timeout 300 --retention Retain "${MONGO[@]}"

step "onboard again (the kept database is found), offboard with retention Delete: dropped"
"$PY" e2e/scenario.py onboard --kubeconfig "$KUBECONFIG" --available --timeout 300 "${ONBOARD[@]}"
"$PY" e2e/scenario.py offboard --kubeconfig "$KUBECONFIG" --timeout 300 --retention Delete "${MONGO[@]}"

step "passed"
