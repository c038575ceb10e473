# Shared by scripts/infra.sh, scripts/observability.sh and the build-once scripts
# (centrifugo.sh, audit-offline.sh): logging, Go builds into the cache, and the bookkeeping
# of the servers they start. The sourcing script sets LOG_TAG and RUN_DIR and defines
# proc_name NAME (what the server's argv[0] contains).

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# Indented tail of a log file, for build and startup failures.
show_tail() {
	log "last lines of $1:"
	tail -n "${2:-25}" "$1" 2>/dev/null | sed "s/^/[$LOG_TAG]   | /" >&2 || true
}

# go install PACKAGE@VERSION once, to the versioned path BIN (in the cache), under a lock so
# that two runs side by side build it once; through a temporary GOBIN renamed at the end, so
# an interrupted build never leaves a half-written binary at BIN. BUILT is the name go
# install gives the binary. Extra environment for the go command (e.g. GOTOOLCHAIN) goes
# before the call.
go_install_once() { # label built package version bin
	local label=$1 built=$2 package=$3 version=$4 bin=$5 dir tmp build_log start=$SECONDS
	[[ -x $bin ]] && return
	command -v go >/dev/null || die "go not found: Go is needed to build $label $version"
	dir=$(dirname "$bin")
	mkdir -p "$dir"
	exec 8>"$dir/.$built-build.lock"
	command -v flock >/dev/null && flock -w 1800 8
	if [[ ! -x $bin ]]; then
		build_log=$dir/.build-$built-$version.log
		tmp=$(mktemp -d "$dir/.$built-build.XXXXXX")
		log "building $label $version from Go modules (first run only, several minutes; log: $build_log)…"
		if ! CGO_ENABLED=0 GOWORK=off GOBIN=$tmp go install -trimpath "$package@$version" \
			>"$build_log" 2>&1 8>&-; then
			rm -rf "$tmp"
			show_tail "$build_log" 15
			die "building $label failed (full log: $build_log)"
		fi
		mv "$tmp/$built" "$bin"
		rm -rf "$tmp"
		log "built $label in $((SECONDS - start)) s"
	fi
	exec 8>&-
}

pid_file() { echo "$RUN_DIR/pids/$1.pid"; }
log_file() { echo "$RUN_DIR/logs/$1.log"; }

# kill -0 also succeeds for zombies (a server that died while the script that started it,
# its parent, still runs), so look at the process state too.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ -r /proc/$1/stat ]] || return 0
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# Prints the pid from our pid file if that process is alive and really is the
# server (pids are reused after crashes and reboots).
running_pid() {
	local file pid argv0
	file=$(pid_file "$1")
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	if [[ -r /proc/$pid/cmdline ]]; then
		argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1)
		[[ $argv0 == *"$(proc_name "$1")"* ]] || return 1
	fi
	echo "$pid"
}
