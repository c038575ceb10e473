# Shared by scripts/infra.sh and scripts/observability.sh: logging and the bookkeeping of the
# servers they start. The sourcing script sets LOG_TAG and RUN_DIR and defines
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
