#!/usr/bin/env bash
# Local infrastructure for `make run`, `make test` and CI: NATS (JetStream),
# Redis and FerretDB (MongoDB wire protocol on SQLite). Everything binds to
# 127.0.0.1 on non-default ports so it never clashes with a developer's own
# servers, and all state lives under .run/ so `rm -rf .run` is a full reset.
#
# Usage: scripts/infra.sh up|down|status|env
#   up      build/install what is missing, start servers, wait until they
#           answer, write .run/infra.env (idempotent)
#   down    stop the servers we started (idempotent)
#   status  show each server; always exits 0
#   env     print `export X_URL=...` lines: eval "$(scripts/infra.sh env)"
#   mailpit-bin  build Mailpit if needed and print its binary's path (tests start their own)
#   nats-bin | ferretdb-bin | redis-bin   the same for the data servers (the chaos test runs its own)
#
# Environment:
#   NATS_URL, REDIS_URL, MONGODB_URL  use that external server instead: it is
#       neither started nor stopped here. A URL pointing at our own local
#       address counts as ours, so `eval "$(scripts/infra.sh env)"` followed
#       by `scripts/infra.sh down` still stops everything.
#   BOBAKU_NATS_PORT (14222)  BOBAKU_NATS_MONITOR_PORT (18222)
#   BOBAKU_REDIS_PORT (16379) BOBAKU_MONGO_PORT (27027)
#   BOBAKU_MAILPIT_SMTP_PORT (11025) BOBAKU_MAILPIT_HTTP_PORT (18025: web inbox and API)
#   BOBAKU_RUN_DIR      state dir (default: <project>/.run)
#   BOBAKU_CACHE        build cache (default: ${XDG_CACHE_HOME:-~/.cache}/bobaku)
#   BOBAKU_INFRA_TIMEOUT       readiness timeout in seconds (default: 30)
#   BOBAKU_FERRETDB_LOG_LEVEL  debug|info|warn|error (default: warn)
set -euo pipefail

NATS_VERSION=v2.11.9
MAILPIT_VERSION=v1.33.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRETDB_SRC=$ROOT/scripts/ferretdb
# Single source of truth for the FerretDB version: our wrapper's go.mod.
FERRETDB_VERSION=$(awk '$0 ~ /github.com\/FerretDB\/FerretDB v/ { for (i = 1; i <= NF; i++) if ($i ~ /^v[0-9]/) { print $i; exit } }' "$FERRETDB_SRC/go.mod")

RUN_DIR=${BOBAKU_RUN_DIR:-$ROOT/.run}
[[ $RUN_DIR == /* ]] || RUN_DIR=$PWD/$RUN_DIR # servers run with cwd=RUN_DIR
CACHE_BIN=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}/bin

NATS_PORT=${BOBAKU_NATS_PORT:-14222}
NATS_MONITOR_PORT=${BOBAKU_NATS_MONITOR_PORT:-18222}
REDIS_PORT=${BOBAKU_REDIS_PORT:-16379}
MONGO_PORT=${BOBAKU_MONGO_PORT:-27027}
MAILPIT_SMTP_PORT=${BOBAKU_MAILPIT_SMTP_PORT:-11025}
MAILPIT_HTTP_PORT=${BOBAKU_MAILPIT_HTTP_PORT:-18025}
TIMEOUT=${BOBAKU_INFRA_TIMEOUT:-30}

SERVERS=(nats redis ferretdb mailpit) # start order; stopped in reverse

# setsid gives servers their own session, so a Ctrl-C in the terminal that
# ran `make run` does not reach them; it is absent on macOS (nohup suffices).
SETSID=$(command -v setsid || true)

LOG_TAG=infra
# shellcheck source=lib/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

# ---------------------------------------------------------------- naming ---

url_var() {
	case $1 in
	nats) echo NATS_URL ;;
	redis) echo REDIS_URL ;;
	ferretdb) echo MONGODB_URL ;;
	mailpit) echo MAILPIT_URL ;;
	esac
}

local_url() {
	case $1 in
	nats) echo "nats://127.0.0.1:$NATS_PORT" ;;
	redis) echo "redis://127.0.0.1:$REDIS_PORT/0" ;;
	ferretdb) echo "mongodb://127.0.0.1:$MONGO_PORT/" ;;
	mailpit) echo "http://127.0.0.1:$MAILPIT_HTTP_PORT" ;;
	esac
}

# "<port> <env var that overrides it>" per line.
server_ports() {
	case $1 in
	nats) printf '%s\n' "$NATS_PORT BOBAKU_NATS_PORT" "$NATS_MONITOR_PORT BOBAKU_NATS_MONITOR_PORT" ;;
	redis) echo "$REDIS_PORT BOBAKU_REDIS_PORT" ;;
	ferretdb) echo "$MONGO_PORT BOBAKU_MONGO_PORT" ;;
	mailpit) printf '%s\n' "$MAILPIT_HTTP_PORT BOBAKU_MAILPIT_HTTP_PORT" "$MAILPIT_SMTP_PORT BOBAKU_MAILPIT_SMTP_PORT" ;;
	esac
}

# Name that appears in the server's argv[0]; used to tell our process from an
# unrelated one that reused the pid.
proc_name() {
	case $1 in
	nats) echo nats-server ;;
	redis) echo redis-server ;;
	ferretdb) echo ferretdb ;;
	mailpit) echo mailpit ;;
	esac
}

# Prints the external URL if the user set one that is not our local address
# (so `eval "$(scripts/infra.sh env)"; scripts/infra.sh down` still works).
external_url() {
	local var url hostport port
	var=$(url_var "$1")
	url=${!var:-}
	[[ -n $url ]] || return 1
	hostport=${url#*://}       # drop scheme
	hostport=${hostport%%/*}   # drop path
	hostport=${hostport##*@}   # drop credentials
	port=$(server_ports "$1" | head -n1 | cut -d' ' -f1)
	[[ $hostport == "127.0.0.1:$port" || $hostport == "localhost:$port" ]] && return 1
	echo "$url"
}

# ------------------------------------------------------------- processes ---

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Best effort " (python3, pid 123)" for the error message.
port_owner() {
	command -v ss >/dev/null || return 0
	ss -ltnpH "sport = :$1" 2>/dev/null | head -n1 |
		sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/ (\1, pid \2)/p' || true
}

ensure_ports_free() {
	local name=$1 port var owner
	while read -r port var; do
		port_in_use "$port" || continue
		owner=$(port_owner "$port")
		die "port $port (needed by $name) is already in use by another process$owner, not by a $name started by this script.
[infra]   Stop that process, or use another port, e.g.:
[infra]     export $var=$((port + 1000)); scripts/infra.sh up
[infra]   (keep it exported for env/status/down), or use an existing server: export $(url_var "$name")=..."
	done < <(server_ports "$name")
}

# Starts "$@" detached: own session (setsid), immune to the caller's exit
# (nohup), stdin/out/err away from the caller, cwd in RUN_DIR, and without
# the lock fd 9 (otherwise the server would hold our lock forever).
# In a non-interactive shell the background child is never a process-group
# leader, so setsid execs in place and $! is the server's own pid.
spawn() {
	local name=$1 log
	shift
	log=$(log_file "$name")
	printf '\n=== %s infra.sh starting: %s\n' "$(date '+%F %T')" "$*" >>"$log"
	(cd "$RUN_DIR" && exec nohup ${SETSID:+"$SETSID"} "$@") </dev/null >>"$log" 2>&1 9>&- &
	echo $! >"$(pid_file "$name")"
	wanted_ports "$name" >"$(pid_file "$name").ports"
}

# The ports a server of this run uses, on one line ("24222 28222").
wanted_ports() { server_ports "$1" | cut -d' ' -f1 | paste -sd' ' -; }

# A server this run directory already runs on other ports (started with another
# TEST_PORT_OFFSET or BOBAKU_*_PORT): refuse, and leave it running for whoever uses it.
ensure_same_ports() {
	local name=$1 pid=$2 had want
	had=$(cat "$(pid_file "$name").ports" 2>/dev/null) || return 0
	want=$(wanted_ports "$name")
	[[ $had == "$want" ]] && return 0
	die "$name (pid $pid) of $RUN_DIR already runs on port(s) $had, and this run wants $want.
[infra]   Another run with other ports (make's TEST_PORT_OFFSET) uses this directory; it is left
[infra]   running. Stop it with the same ports it was started with (make test-infra-down
[infra]   TEST_PORT_OFFSET=<its offset>), or wait for it to finish."
}

stop_server() {
	local name=$1 pid i
	if pid=$(running_pid "$name"); then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do # ~10 s for a clean shutdown
			running_pid "$name" >/dev/null || break
			sleep 0.1
		done
		if running_pid "$name" >/dev/null; then
			log "$name did not stop within 10 s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 20; i++)); do running_pid "$name" >/dev/null || break; sleep 0.1; done
		fi
	else
		log "$name not running"
	fi
	rm -f "$(pid_file "$name")" "$(pid_file "$name").ports"
}

# A failed start leaves nothing behind, so the next `up` starts cleanly.
fail_start() {
	local name=$1 why=$2 log
	log=$(log_file "$name")
	log "$name $why"
	show_tail "$log"
	stop_server "$name" 2>/dev/null
	die "could not start $name (full log: $log)"
}

wait_ready() {
	local name=$1 pid deadline=$((SECONDS + TIMEOUT))
	pid=$(<"$(pid_file "$name")")
	until "${name}_ready"; do
		alive "$pid" || fail_start "$name" "exited during startup"
		((SECONDS < deadline)) || fail_start "$name" "not ready after ${TIMEOUT}s"
		sleep 0.2
	done
}

# --------------------------------------------------------------- probes ---

# pyenv shims and the like may exist yet fail; test once.
have_python() {
	if [[ -z ${PYTHON_OK:-} ]]; then
		PYTHON_OK=no
		python3 -c '' 2>/dev/null && PYTHON_OK=yes
	fi
	[[ $PYTHON_OK == yes ]]
}

http_ok() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
	elif have_python; then
		python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null
	else
		die "need curl or python3 to check NATS health"
	fi
}

# A real MongoDB `ping` over OP_MSG with only the python3 stdlib (pymongo is
# not installed yet when infra comes up); plain TCP connect without python3.
mongo_ping() {
	have_python || {
		port_in_use "$1"
		return
	}
	python3 - "$1" 2>/dev/null <<'PY'
import socket, struct, sys
doc = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
doc = struct.pack("<i", len(doc) + 5) + doc + b"\x00"
body = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0, document
msg = struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body  # 2013 = OP_MSG
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.sendall(msg)
    reply = b""
    while len(reply) < 4 or len(reply) < struct.unpack("<i", reply[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
sys.exit(0 if b"\x01ok\x00" + struct.pack("<d", 1.0) in reply else 1)
PY
}

nats_ready() { http_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"; }
# RESP PING over bash's /dev/tcp: no redis-cli needed, and `read -t` bounds
# the wait (redis-cli blocks forever on a hung/SIGSTOPped server).
redis_ready() {
	local reply
	reply=$({
		exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
		printf 'PING\r\n' >&3
		read -r -t 2 line <&3 && echo "$line"
	} 2>/dev/null) || return 1
	[[ $reply == +PONG* ]]
}
ferretdb_ready() { mongo_ping "$MONGO_PORT"; }
mailpit_ready() { http_ok "http://127.0.0.1:$MAILPIT_HTTP_PORT/readyz"; }

# --------------------------------------------------------------- builds ---

is_root() { [[ $(id -u) == 0 ]]; }

apt_install() {
	local apt_log=$RUN_DIR/logs/apt-$1.log
	is_root && command -v apt-get >/dev/null || return 1
	log "installing Debian package $1 (apt-get)…"
	# 9>&-: a daemon started by the package's postinst must not inherit our lock.
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"; } >"$apt_log" 2>&1 9>&-; then
		show_tail "$apt_log" 10
		return 1
	fi
}

sha256() {
	if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi
}

# Prints the nats-server binary: our cached Go build, else Debian's package.
nats_bin() {
	local bin=$CACHE_BIN/nats-server-$NATS_VERSION
	local build_log=$RUN_DIR/logs/build-nats-server.log tmp
	if [[ -x $bin ]]; then
		echo "$bin"
		return
	fi
	if command -v go >/dev/null; then
		log "building nats-server $NATS_VERSION (first run only, ~1 min)…"
		# Build into a temp GOBIN and rename, so an interrupted build never
		# leaves a half-written binary under the final name.
		tmp=$(mktemp -d "$CACHE_BIN/.nats-build.XXXXXX")
		if CGO_ENABLED=0 GOBIN=$tmp go install "github.com/nats-io/nats-server/v2@$NATS_VERSION" >"$build_log" 2>&1; then
			mv "$tmp/nats-server" "$bin"
			rm -rf "$tmp"
			echo "$bin"
			return
		fi
		rm -rf "$tmp"
		log "building nats-server $NATS_VERSION failed (full log: $build_log)"
		show_tail "$build_log" 15
	else
		log "go not found, cannot build nats-server $NATS_VERSION"
	fi
	if ! command -v nats-server >/dev/null && ! apt_install nats-server; then
		die "no nats-server available: install Go (https://go.dev/dl/) so it can be built, or install nats-server (Debian/Ubuntu: apt-get install nats-server)"
	fi
	log "falling back to $(command -v nats-server) ($(nats-server --version 2>&1)) instead of $NATS_VERSION"
	command -v nats-server
}

redis_bin() {
	if ! command -v redis-server >/dev/null && ! apt_install redis-server; then
		die "redis-server not found: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)"
	fi
	command -v redis-server
}

# Our wrapper in scripts/ferretdb, cached under a name that includes the
# FerretDB version and a hash of the sources, so edits and bumps rebuild.
ferretdb_bin() {
	local hash bin build_log=$RUN_DIR/logs/build-ferretdb.log
	hash=$(cat "$FERRETDB_SRC/main.go" "$FERRETDB_SRC/go.mod" "$FERRETDB_SRC/go.sum" | sha256 | cut -c1-12)
	bin=$CACHE_BIN/ferretdb-$FERRETDB_VERSION-$hash
	if [[ -x $bin ]]; then
		echo "$bin"
		return
	fi
	command -v go >/dev/null || die "go not found: Go ≥ 1.22 is needed to build FerretDB from scripts/ferretdb (https://go.dev/dl/)"
	log "building ferretdb $FERRETDB_VERSION (first run or scripts/ferretdb changed, ~1-2 min)…"
	# Pure Go (modernc.org/sqlite), so CGO is not needed. GOWORK=off: never
	# pick up a go.work from the surrounding project.
	if ! (cd "$FERRETDB_SRC" && CGO_ENABLED=0 GOWORK=off go build -trimpath -o "$bin.tmp$$" .) >"$build_log" 2>&1; then
		rm -f "$bin.tmp$$"
		show_tail "$build_log" 15
		die "building ferretdb failed (full log: $build_log)"
	fi
	mv "$bin.tmp$$" "$bin"
	# Binaries built from older sources are dead weight (~35 MB each).
	find "$CACHE_BIN" -maxdepth 1 -name 'ferretdb-*' ! -name "${bin##*/}" -delete
	echo "$bin"
}

# Mailpit (SMTP server with a web inbox and an API), built from its Go module and cached
# under a versioned name; a lock keeps two concurrent first runs from building twice.
mailpit_bin() {
	local bin=$CACHE_BIN/mailpit-$MAILPIT_VERSION build_log tmp
	mkdir -p "$CACHE_BIN"
	build_log=$CACHE_BIN/.build-mailpit-$MAILPIT_VERSION.log
	if [[ ! -x $bin ]]; then
		command -v go >/dev/null || die "go not found: Go is needed to build Mailpit $MAILPIT_VERSION (https://go.dev/dl/)"
		exec 8>"$CACHE_BIN/.mailpit-build.lock"
		command -v flock >/dev/null && flock -w 900 8
		if [[ ! -x $bin ]]; then
			log "building mailpit $MAILPIT_VERSION (first run only, a few minutes)…"
			tmp=$(mktemp -d "$CACHE_BIN/.mailpit-build.XXXXXX")
			if ! CGO_ENABLED=0 GOBIN=$tmp GOWORK=off go install "github.com/axllent/mailpit@$MAILPIT_VERSION" >"$build_log" 2>&1 8>&- 9>&-; then
				rm -rf "$tmp"
				show_tail "$build_log" 15
				die "building mailpit $MAILPIT_VERSION failed (full log: $build_log)"
			fi
			mv "$tmp/mailpit" "$bin"
			rm -rf "$tmp"
		fi
		exec 8>&-
	fi
	echo "$bin"
}

# --------------------------------------------------------------- starts ---

start_nats() {
	local bin dir=$RUN_DIR/data/nats
	bin=$(nats_bin)
	# A config file (regenerated each start) rather than flags: it is the
	# supported way to set up JetStream and easy to inspect.
	cat >"$dir/nats-server.conf" <<EOF
# Generated by scripts/infra.sh on every start; edit the script instead.
server_name: bobaku_dev
listen: 127.0.0.1:$NATS_PORT
http: 127.0.0.1:$NATS_MONITOR_PORT
jetstream {
  store_dir: "$dir"
}
EOF
	spawn nats "$bin" -c "$dir/nats-server.conf"
}

start_redis() {
	local bin
	bin=$(redis_bin)
	# Throwaway dev/test data: no RDB snapshots, no AOF.
	spawn redis "$bin" --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN_DIR/data/redis" \
		--save '' --appendonly no --daemonize no --logfile ''
}

start_ferretdb() {
	local bin
	bin=$(ferretdb_bin)
	spawn ferretdb "$bin" -listen-addr "127.0.0.1:$MONGO_PORT" -sqlite-dir "$RUN_DIR/data/ferretdb" \
		-log-level "${BOBAKU_FERRETDB_LOG_LEVEL:-warn}"
}

# Messages live in memory only (dev and test mail is throwaway); --disable-version-check
# because Mailpit would otherwise ask GitHub for a newer release.
start_mailpit() {
	local bin
	bin=$(mailpit_bin)
	spawn mailpit "$bin" --smtp "127.0.0.1:$MAILPIT_SMTP_PORT" --listen "127.0.0.1:$MAILPIT_HTTP_PORT" \
		--smtp-auth-accept-any --smtp-auth-allow-insecure --disable-version-check --quiet
}

# -------------------------------------------------------- observability ---

# Prometheus, Alertmanager, Jaeger and the NATS/Redis metrics collector live in their own
# script (scripts/observability.sh; BOBAKU_OBSERVABILITY=off skips them). It runs without
# our lock fd, so the servers it starts never hold it.
observability() {
	BOBAKU_RUN_DIR=$RUN_DIR BOBAKU_NATS_MONITOR_PORT=$NATS_MONITOR_PORT BOBAKU_REDIS_PORT=$REDIS_PORT \
		"$ROOT/scripts/observability.sh" "$@" 9>&-
}

# ------------------------------------------------------------- commands ---

prepare_dirs() {
	mkdir -p "$RUN_DIR"/data/{nats,redis,ferretdb} "$RUN_DIR/logs" "$RUN_DIR/pids" "$CACHE_BIN"
}

# Serialise concurrent up/down (e.g. parallel make targets) where flock exists.
take_lock() {
	command -v flock >/dev/null || return 0
	exec 9>"$RUN_DIR/infra.lock"
	flock -w 600 9 || die "another scripts/infra.sh is still running (lock: $RUN_DIR/infra.lock)"
}

env_lines() {
	local name url
	for name in "${SERVERS[@]}"; do
		url=$(external_url "$name") || url=$(local_url "$name")
		printf 'export %s=%q\n' "$(url_var "$name")" "$url"
	done
	printf 'export SMTP_HOST=127.0.0.1 SMTP_PORT=%q\n' "$MAILPIT_SMTP_PORT"
}

up_one() {
	local name=$1 url pid
	if url=$(external_url "$name"); then
		log "$name: external $url (not started)"
		return
	fi
	if pid=$(running_pid "$name"); then
		if ! "${name}_ready"; then
			log "$name (pid $pid) is running but not answering yet; waiting…"
			wait_ready "$name"
		fi
		log "$name already running (pid $pid)"
		return
	fi
	rm -f "$(pid_file "$name")" # stale
	ensure_ports_free "$name"
	"start_$name"
	wait_ready "$name"
	log "$name up (pid $(<"$(pid_file "$name")")) at $(local_url "$name")"
}

cmd_up() {
	local name pid
	prepare_dirs
	take_lock
	# Check every port first, so a conflict fails before anything starts.
	for name in "${SERVERS[@]}"; do
		external_url "$name" >/dev/null && continue
		if pid=$(running_pid "$name"); then
			ensure_same_ports "$name" "$pid"
		else
			ensure_ports_free "$name"
		fi
	done
	for name in "${SERVERS[@]}"; do up_one "$name"; done
	observability up
	{ env_lines; observability env; } >"$RUN_DIR/infra.env"
	log "ready; use: eval \"\$(scripts/infra.sh env)\"  (also written to $RUN_DIR/infra.env)"
}

cmd_down() {
	local i name url
	prepare_dirs
	take_lock
	observability down
	for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
		name=${SERVERS[i]}
		if url=$(external_url "$name"); then
			log "$name: external $url (left alone)"
		else
			stop_server "$name"
		fi
	done
	rm -f "$RUN_DIR/infra.env"
}

cmd_status() {
	local name url pid state extra
	for name in "${SERVERS[@]}"; do
		extra=
		[[ $name == nats ]] && extra=" (monitor http://127.0.0.1:$NATS_MONITOR_PORT)"
		[[ $name == mailpit ]] && extra=" (SMTP 127.0.0.1:$MAILPIT_SMTP_PORT)"
		if url=$(external_url "$name"); then
			printf '%-9s external: %s\n' "$name" "$url"
		elif pid=$(running_pid "$name"); then
			state=running
			"${name}_ready" || state="running (not answering)"
			printf '%-9s %s  pid %s  %s%s\n' "$name" "$state" "$pid" "$(local_url "$name")" "$extra"
		else
			printf '%-9s stopped  %s\n' "$name" "$(local_url "$name")"
		fi
	done
	observability status
}

usage() {
	sed -n '7,/^set -e/{/^#/s/^# \{0,1\}//p;}' "${BASH_SOURCE[0]}" >&2
	exit "${1:-2}"
}

main() {
	[[ $# -eq 1 ]] || usage
	local port
	for port in "$NATS_PORT" "$NATS_MONITOR_PORT" "$REDIS_PORT" "$MONGO_PORT" "$MAILPIT_SMTP_PORT" "$MAILPIT_HTTP_PORT"; do
		[[ $port =~ ^[0-9]+$ ]] || die "invalid port '$port' in BOBAKU_*_PORT"
	done
	case $1 in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) env_lines; observability env ;;
	mailpit-bin) mailpit_bin ;;
	nats-bin) nats_bin ;;
	ferretdb-bin) ferretdb_bin ;;
	redis-bin) redis_bin ;;
	-h | --help | help) usage 0 ;;
	*) usage ;;
	esac
}

main "$@"
