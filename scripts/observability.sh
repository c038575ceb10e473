#!/usr/bin/env bash
# Observability servers for `make run`, `make test` and the benchmarks: Prometheus
# (+ promtool), Alertmanager and Jaeger (all-in-one, in-memory), built from their Go
# modules and cached under ~/.cache/bobaku like NATS and FerretDB. Called by
# scripts/infra.sh (up/down/status); usable alone too.
#
# Usage: scripts/observability.sh build|up|down|status|env|promtool ARGS...
#   build     build/cache the binaries (no server started)
#   up        build what is missing, write the configs, start the servers, wait
#   down      stop them
#   status    one line per server
#   env       print `export X=...` lines (PROMETHEUS_URL, ALERTMANAGER_URL,
#             JAEGER_URL, OTEL_EXPORTER_OTLP_ENDPOINT)
#   promtool  run the cached promtool with ARGS
#
# Environment:
#   BOBAKU_PROMETHEUS_PORT (19090) BOBAKU_ALERTMANAGER_PORT (19093)
#   BOBAKU_JAEGER_PORT (16686, UI and API) BOBAKU_OTLP_PORT (4318, OTLP/HTTP)
#   BOBAKU_INFRA_EXPORTER_PORT (19100)  NATS/Redis metrics collector
#   BOBAKU_SCRAPE_INTERVAL (5s)
#   BOBAKU_OBSERVABILITY=off   skip these servers entirely
#   BOBAKU_OBSERVABILITY_SERVERS ("alertmanager prometheus jaeger")  which to run
#   BOBAKU_RUN_DIR, BOBAKU_CACHE, BOBAKU_INFRA_TIMEOUT as in scripts/infra.sh
set -euo pipefail

PROMETHEUS_MODULE_VERSION=v0.316.0 # Prometheus 3.16 (the Go module is numbered v0.3xx)
ALERTMANAGER_VERSION=v0.35.0
JAEGER_VERSION=v1.76.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${BOBAKU_RUN_DIR:-$ROOT/.run}
[[ $RUN_DIR == /* ]] || RUN_DIR=$PWD/$RUN_DIR
CACHE_BIN=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}/bin
TIMEOUT=${BOBAKU_INFRA_TIMEOUT:-30}

PROMETHEUS_PORT=${BOBAKU_PROMETHEUS_PORT:-19090}
ALERTMANAGER_PORT=${BOBAKU_ALERTMANAGER_PORT:-19093}
# Alertmanager's cluster listener is turned off (single node), so it needs no port.
JAEGER_PORT=${BOBAKU_JAEGER_PORT:-16686}
OTLP_PORT=${BOBAKU_OTLP_PORT:-4318}
# Jaeger's other listeners (admin, gRPC query, OTLP gRPC, collector, zipkin) are moved
# next to the UI port, so two suites with different offsets never collide.
JAEGER_ADMIN_PORT=$((JAEGER_PORT + 1))
JAEGER_GRPC_PORT=$((JAEGER_PORT + 2))
JAEGER_OTLP_GRPC_PORT=$((JAEGER_PORT + 3))
JAEGER_COLLECTOR_HTTP_PORT=$((JAEGER_PORT + 4))
JAEGER_COLLECTOR_GRPC_PORT=$((JAEGER_PORT + 5))
# The collector that turns NATS's monitoring JSON and Redis INFO into metrics.
EXPORTER_PORT=${BOBAKU_INFRA_EXPORTER_PORT:-19100}

# BOBAKU_OBSERVABILITY_SERVERS narrows the set (e.g. "prometheus" alone).
read -r -a OBS_SERVERS <<<"${BOBAKU_OBSERVABILITY_SERVERS:-alertmanager prometheus jaeger}"
SETSID=$(command -v setsid || true)

LOG_TAG=observability
# shellcheck source=lib/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

# ---------------------------------------------------------------- builds ---

prometheus_bin() { echo "$CACHE_BIN/prometheus-$PROMETHEUS_MODULE_VERSION"; }
promtool_bin() { echo "$CACHE_BIN/promtool-$PROMETHEUS_MODULE_VERSION"; }
alertmanager_bin() { echo "$CACHE_BIN/alertmanager-$ALERTMANAGER_VERSION"; }
amtool_bin() { echo "$CACHE_BIN/amtool-$ALERTMANAGER_VERSION"; }
jaeger_bin() { echo "$CACHE_BIN/jaeger-all-in-one-$JAEGER_VERSION"; }

# go install MODULE/cmd/X@VERSION into a temp GOBIN, then rename to the versioned name:
# an interrupted build never leaves a half-written binary under the final name.
go_install() { # name module version cmd...
	local name=$1 module=$2 version=$3 tmp build_log start cmd
	shift 3
	build_log=$RUN_DIR/logs/build-$name.log
	command -v go >/dev/null || die "go not found: Go is needed to build $name from $module@$version"
	tmp=$(mktemp -d "$CACHE_BIN/.$name-build.XXXXXX")
	local pkgs=()
	for cmd in "$@"; do pkgs+=("$module/cmd/$cmd@$version"); done
	log "building $name $version from Go modules (first run only, several minutes)…"
	start=$SECONDS
	if ! CGO_ENABLED=0 GOWORK=off GOBIN=$tmp go install -trimpath "${pkgs[@]}" >"$build_log" 2>&1; then
		rm -rf "$tmp"
		show_tail "$build_log" 15
		die "building $name failed (full log: $build_log)"
	fi
	echo "$tmp"
	log "built $name in $((SECONDS - start)) s"
}

build_prometheus() {
	[[ -x $(prometheus_bin) && -x $(promtool_bin) ]] && return
	local tmp
	tmp=$(go_install prometheus github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION" prometheus promtool)
	mv "$tmp/promtool" "$(promtool_bin)"
	mv "$tmp/prometheus" "$(prometheus_bin)"
	rm -rf "$tmp"
}

# Alertmanager embeds its web UI's compiled bundle (ui/app/dist, made by an Elm/npm build
# that the Go module does not carry), so `go install` fails. Build from a copy of the
# module with a one-page placeholder there: the API (what Prometheus, amtool and the tests
# use) is complete; the web pages are that placeholder.
build_alertmanager() {
	[[ -x $(alertmanager_bin) && -x $(amtool_bin) ]] && return
	local dir src build_log=$RUN_DIR/logs/build-alertmanager.log start
	command -v go >/dev/null || die "go not found: Go is needed to build Alertmanager $ALERTMANAGER_VERSION"
	log "building alertmanager $ALERTMANAGER_VERSION from Go modules (first run only, several minutes)…"
	start=$SECONDS
	if ! src=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" 2>"$build_log" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || [[ -z $src ]]; then
		show_tail "$build_log" 15
		die "downloading alertmanager failed (full log: $build_log)"
	fi
	dir=$(mktemp -d "$CACHE_BIN/.alertmanager-build.XXXXXX")
	cp -r "$src/." "$dir/" && chmod -R u+w "$dir"
	mkdir -p "$dir/ui/app/dist"
	printf '<!doctype html><title>Alertmanager</title><p>API only: /api/v2/alerts, /api/v2/status</p>\n' >"$dir/ui/app/dist/index.html"
	if ! (cd "$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$dir/bin/" ./cmd/alertmanager ./cmd/amtool) >>"$build_log" 2>&1; then
		rm -rf "$dir"
		show_tail "$build_log" 15
		die "building alertmanager failed (full log: $build_log)"
	fi
	mv "$dir/bin/amtool" "$(amtool_bin)"
	mv "$dir/bin/alertmanager" "$(alertmanager_bin)"
	rm -rf "$dir"
	log "built alertmanager in $((SECONDS - start)) s"
}

# Jaeger's go.mod has a `replace` directive, which `go install module@version` refuses;
# so download the module and build its all-in-one command inside it (module mode, its
# own go.sum), still from the module proxy only.
build_jaeger() {
	[[ -x $(jaeger_bin) ]] && return
	local dir out build_log=$RUN_DIR/logs/build-jaeger.log start
	command -v go >/dev/null || die "go not found: Go is needed to build Jaeger $JAEGER_VERSION"
	log "building jaeger all-in-one $JAEGER_VERSION from Go modules (first run only, several minutes)…"
	start=$SECONDS
	if ! dir=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" 2>"$build_log" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || [[ -z $dir ]]; then
		show_tail "$build_log" 15
		die "downloading jaeger failed (full log: $build_log)"
	fi
	out=$(jaeger_bin).tmp$$
	if ! (cd "$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath -o "$out" ./cmd/all-in-one) >>"$build_log" 2>&1; then
		rm -f "$out"
		show_tail "$build_log" 15
		die "building jaeger failed (full log: $build_log)"
	fi
	mv "$out" "$(jaeger_bin)"
	log "built jaeger in $((SECONDS - start)) s"
}

built() {
	case $1 in
	prometheus) [[ -x $(prometheus_bin) && -x $(promtool_bin) ]] ;;
	alertmanager) [[ -x $(alertmanager_bin) && -x $(amtool_bin) ]] ;;
	jaeger) [[ -x $(jaeger_bin) ]] ;;
	esac
}

cmd_build() {
	local name missing=()
	mkdir -p "$RUN_DIR/logs" "$CACHE_BIN"
	for name in "${OBS_SERVERS[@]}"; do built "$name" || missing+=("$name"); done
	((${#missing[@]})) || return 0
	# One build at a time across checkouts (seven agents share two cores).
	if command -v flock >/dev/null; then
		exec 8>"$CACHE_BIN/.observability-build.lock"
		flock -w 3600 8 || die "another observability build is still running"
	fi
	for name in "${missing[@]}"; do built "$name" || "build_$name"; done
	exec 8>&-
}

# ------------------------------------------------------------- processes ---

PROM_DIR=$RUN_DIR/prometheus
TARGETS_DIR=$PROM_DIR/targets

proc_name() {
	case $1 in
	prometheus) echo prometheus- ;;
	alertmanager) echo alertmanager- ;;
	jaeger) echo jaeger-all-in-one ;;
	exporter) echo python ;;
	esac
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

server_ports() {
	case $1 in
	prometheus) echo "$PROMETHEUS_PORT" ;;
	alertmanager) echo "$ALERTMANAGER_PORT" ;;
	jaeger) echo "$JAEGER_PORT $OTLP_PORT $JAEGER_ADMIN_PORT $JAEGER_GRPC_PORT $JAEGER_OTLP_GRPC_PORT $JAEGER_COLLECTOR_HTTP_PORT $JAEGER_COLLECTOR_GRPC_PORT" ;;
	exporter) echo "$EXPORTER_PORT" ;;
	esac
}

spawn() {
	local name=$1 log
	shift
	log=$(log_file "$name")
	printf '\n=== %s observability.sh starting: %s\n' "$(date '+%F %T')" "$*" >>"$log"
	(cd "$RUN_DIR" && exec nohup ${SETSID:+"$SETSID"} "$@") </dev/null >>"$log" 2>&1 8>&- 9>&- &
	echo $! >"$(pid_file "$name")"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }
prometheus_ready() { http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; }
alertmanager_ready() { http_ok "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready"; }
jaeger_ready() { http_ok "http://127.0.0.1:$JAEGER_PORT/api/services"; }
exporter_ready() { http_ok "http://127.0.0.1:$EXPORTER_PORT/metrics"; }

stop_server() {
	local name=$1 pid i
	if pid=$(running_pid "$name"); then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			running_pid "$name" >/dev/null || break
			sleep 0.1
		done
		running_pid "$name" >/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pid_file "$name")"
}

wait_ready() {
	local name=$1 pid deadline=$((SECONDS + TIMEOUT * 2))
	pid=$(<"$(pid_file "$name")")
	until "${name}_ready"; do
		if ! alive "$pid" || ((SECONDS >= deadline)); then
			show_tail "$(log_file "$name")"
			stop_server "$name"
			die "could not start $name (log: $(log_file "$name"))"
		fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------- configs ---

# Prometheus's own config. The platform's processes come from file_sd target files
# under $TARGETS_DIR, written from scripts/launcher.py's ALL_PROCESSES (scripts/
# scrape_config.py; the tests write theirs with the ports they chose): a process added
# to the launcher is scraped with no change here.
write_prometheus_config() {
	local interval=${BOBAKU_SCRAPE_INTERVAL:-5s}
	mkdir -p "$TARGETS_DIR" "$PROM_DIR/data"
	cat >"$PROM_DIR/prometheus.yml" <<EOF
# Generated by scripts/observability.sh on every start; edit the script instead.
global:
  scrape_interval: $interval
  evaluation_interval: $interval
  external_labels:
    environment: local
rule_files:
  - $ROOT/monitoring/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$ALERTMANAGER_PORT"]
scrape_configs:
  - job_name: bobaku
    file_sd_configs:
      - files: ["$TARGETS_DIR/*.json"]
        refresh_interval: 2s
  - job_name: infra
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
        labels: {service: infra-exporter}
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$PROMETHEUS_PORT"]
  - job_name: alertmanager
    static_configs:
      - targets: ["127.0.0.1:$ALERTMANAGER_PORT"]
EOF
	if [[ " ${OBS_SERVERS[*]} " == *" jaeger "* ]]; then
		cat >>"$PROM_DIR/prometheus.yml" <<EOF
  - job_name: jaeger
    static_configs:
      - targets: ["127.0.0.1:$JAEGER_ADMIN_PORT"]
EOF
	fi
	# The launcher's processes at their `make run` ports; tests replace the file.
	if [[ -x $ROOT/.venv/bin/python ]]; then
		PYTHONSAFEPATH=1 PYTHONPATH=$ROOT/scripts "$ROOT/.venv/bin/python" "$ROOT/scripts/scrape_config.py" \
			--out "$TARGETS_DIR/platform.json" ${BOBAKU_SCRAPE_PLATFORM:+--platform "$BOBAKU_SCRAPE_PLATFORM"} ||
			log "could not write the platform's scrape targets"
	fi
}

# ----------------------------------------------------------------- starts ---

start_prometheus() {
	write_prometheus_config
	"$(promtool_bin)" check config "$PROM_DIR/prometheus.yml" >"$(log_file prometheus-check)" 2>&1 || {
		show_tail "$(log_file prometheus-check)"
		die "prometheus.yml does not pass promtool check config"
	}
	spawn prometheus "$(prometheus_bin)" --config.file="$PROM_DIR/prometheus.yml" \
		--storage.tsdb.path="$PROM_DIR/data" --storage.tsdb.retention.time=2d \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle
}

start_alertmanager() {
	mkdir -p "$RUN_DIR/alertmanager"
	spawn alertmanager "$(alertmanager_bin)" --config.file="$ROOT/monitoring/alertmanager/alertmanager.yml" \
		--storage.path="$RUN_DIR/alertmanager" --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
		--cluster.listen-address=
}

start_jaeger() {
	SPAN_STORAGE_TYPE=memory spawn jaeger "$(jaeger_bin)" --memory.max-traces=50000 \
		--query.http-server.host-port="127.0.0.1:$JAEGER_PORT" \
		--query.grpc-server.host-port="127.0.0.1:$JAEGER_GRPC_PORT" \
		--admin.http.host-port="127.0.0.1:$JAEGER_ADMIN_PORT" \
		--collector.otlp.http.host-port="127.0.0.1:$OTLP_PORT" \
		--collector.otlp.grpc.host-port="127.0.0.1:$JAEGER_OTLP_GRPC_PORT" \
		--collector.http-server.host-port="127.0.0.1:$JAEGER_COLLECTOR_HTTP_PORT" \
		--collector.grpc-server.host-port="127.0.0.1:$JAEGER_COLLECTOR_GRPC_PORT"
}

# NATS's monitoring endpoint and Redis speak JSON and RESP, not Prometheus; the
# exporters that translate them are not served by the Go module proxy, so a small
# Python collector (scripts/infra_exporter.py) does: server, JetStream streams,
# per-durable consumer lag, Redis memory/clients/ops/keyspace hits.
start_exporter() {
	[[ -x $ROOT/.venv/bin/python ]] || die "the infra exporter needs the virtualenv (make install)"
	PYTHONSAFEPATH=1 spawn exporter "$ROOT/.venv/bin/python" "$ROOT/scripts/infra_exporter.py" \
		--port "$EXPORTER_PORT" --nats-monitor "http://127.0.0.1:${BOBAKU_NATS_MONITOR_PORT:-18222}" \
		--redis "redis://127.0.0.1:${BOBAKU_REDIS_PORT:-16379}/0"
}

# ----------------------------------------------------------------- commands ---

up_one() {
	local name=$1 port
	if running_pid "$name" >/dev/null; then
		wait_ready "$name"
		[[ $name == prometheus ]] && write_prometheus_config && curl -fsS -X POST -o /dev/null "http://127.0.0.1:$PROMETHEUS_PORT/-/reload" || true
		return
	fi
	for port in $(server_ports "$name"); do
		port_in_use "$port" && die "port $port (needed by $name) is already in use; move it with BOBAKU_*_PORT"
	done
	"start_$name"
	wait_ready "$name"
	log "$name up (pid $(<"$(pid_file "$name")"))"
}

env_lines() {
	printf 'export PROMETHEUS_URL=%q\n' "http://127.0.0.1:$PROMETHEUS_PORT"
	printf 'export ALERTMANAGER_URL=%q\n' "http://127.0.0.1:$ALERTMANAGER_PORT"
	printf 'export JAEGER_URL=%q\n' "http://127.0.0.1:$JAEGER_PORT"
	# Tracing is on in every process exactly when Jaeger is part of the set.
	if [[ " ${OBS_SERVERS[*]} " == *" jaeger "* ]]; then
		printf 'export OTEL_EXPORTER_OTLP_ENDPOINT=%q\n' "http://127.0.0.1:$OTLP_PORT"
	fi
	printf 'export BOBAKU_SCRAPE_TARGETS_DIR=%q\n' "$TARGETS_DIR"
}

cmd_up() {
	mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids" "$CACHE_BIN"
	cmd_build
	for name in exporter "${OBS_SERVERS[@]}"; do up_one "$name"; done
}

cmd_down() {
	local i
	mkdir -p "$RUN_DIR/pids"
	for ((i = ${#OBS_SERVERS[@]} - 1; i >= 0; i--)); do stop_server "${OBS_SERVERS[i]}"; done
	stop_server exporter
}

cmd_status() {
	local name pid
	for name in "${OBS_SERVERS[@]}" exporter; do
		if pid=$(running_pid "$name"); then
			printf '%-12s running  pid %s  port %s\n' "$name" "$pid" "$(server_ports "$name" | cut -d' ' -f1)"
		else
			printf '%-12s stopped\n' "$name"
		fi
	done
}

main() {
	if [[ ${BOBAKU_OBSERVABILITY:-on} == off && ${1:-} != build && ${1:-} != promtool ]]; then
		return 0
	fi
	case ${1:-} in
	build) cmd_build ;;
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) env_lines ;;
	promtool) shift; build_prometheus; exec "$(promtool_bin)" "$@" ;;
	amtool) shift; build_alertmanager; exec "$(amtool_bin)" "$@" ;;
	*) die "usage: $0 build|up|down|status|env|promtool ARGS|amtool ARGS" ;;
	esac
}

main "$@"
