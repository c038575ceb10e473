#!/usr/bin/env bash
# Every benchmark at tiny sizes, printing only (docs/ is left alone): `make bench-smoke`, which
# CI runs so that no benchmark rots between full `make bench` runs. Its figures mean nothing;
# what it checks is that each bench starts what it needs, drives its load without errors,
# reports, and stops everything it started. The cluster bench (bench-operator-node) is left
# out: `make e2e` runs the same node and operator.
#
# Run by make with the suite's servers up and their environment set (.run/test/infra.env);
# each bench's output goes to .run/test/bench-smoke/<name>.log, shown when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
LOGS=${BOBAKU_RUN_DIR:-.run/test}/bench-smoke
mkdir -p "$LOGS"
export PYTHONPATH=scripts:tests:bench

# name, then the command
run() {
	local name=$1 started rc
	shift
	started=$(date +%s)
	echo "[bench-smoke] $name: $*"
	set +e
	"$@" >"$LOGS/$name.log" 2>&1
	rc=$?
	set -e
	if ((rc != 0)); then
		echo "[bench-smoke] $name FAILED (exit $rc); the end of $LOGS/$name.log:" >&2
		tail -n 40 "$LOGS/$name.log" >&2
		exit 1
	fi
	echo "[bench-smoke] $name passed in $(($(date +%s) - started))s"
}

started=$(date +%s)
run ordering "$PY" bench/ordering_bench.py --concurrency 2 --seconds 2 --rounds 1 --no-doc
run tracing "$PY" bench/ordering_bench.py --tracing-cost --concurrency 2 --seconds 2 --rounds 1
run edge "$PY" bench/edge_bench.py --concurrency 2 --seconds 2 --no-doc
run scale "$PY" bench/scale_bench.py --replicas 1,2 --concurrency 2 --seconds 3 --no-doc
run growth "$PY" bench/growth_bench.py --levels 0 --seconds 3 --no-doc
run scrape "$PY" bench/scrape_bench.py --outlets 5
run notification "$PY" bench/notification_bench.py --users 50 --events 50 --no-doc
run analytics "$PY" bench/analytics_bench.py --orders 200 --load-s 3 --history-days 14 --no-doc
run operator "$PY" bench/operator_bench.py --franchises 2 --singles 1 --no-write
BOBAKU_CENTRIFUGO_BIN=$(scripts/centrifugo.sh bin)
export BOBAKU_CENTRIFUGO_BIN
run hub "$PY" bench/hub_bench.py --quick --seconds 2 --no-doc
echo "[bench-smoke] every bench ran in $(($(date +%s) - started))s"
