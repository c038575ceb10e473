#!/usr/bin/env bash
# Builds (once) and caches Centrifugo, the open-source real-time server the hub is compared
# with in `make bench-hub` (bench/hub_bench.py --centrifugo). Bench only: the platform never
# runs it. From the Go module proxy at a pinned version, like every other server here.
#
# Usage: scripts/centrifugo.sh bin     build if missing, print the binary's path
#
# Environment: BOBAKU_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/bobaku),
#              BOBAKU_CENTRIFUGO_VERSION (default below)
set -euo pipefail

LOG_TAG=centrifugo
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/processes.sh
source "$ROOT/scripts/lib/processes.sh"

CENTRIFUGO_VERSION=${BOBAKU_CENTRIFUGO_VERSION:-v6.9.1}
CACHE=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}
CACHE_BIN=$CACHE/bin
BIN=$CACHE_BIN/centrifugo-$CENTRIFUGO_VERSION

build() {
	[[ -x $BIN ]] && return
	command -v go >/dev/null || die "go not found: Go is needed to build Centrifugo $CENTRIFUGO_VERSION"
	mkdir -p "$CACHE_BIN"
	exec 8>"$CACHE_BIN/.centrifugo-build.lock"
	command -v flock >/dev/null && flock -w 1800 8
	[[ -x $BIN ]] && return
	local tmp build_log=$CACHE_BIN/.build-centrifugo-$CENTRIFUGO_VERSION.log start=$SECONDS
	tmp=$(mktemp -d "$CACHE_BIN/.centrifugo-build.XXXXXX")
	log "building Centrifugo $CENTRIFUGO_VERSION from Go modules (first run only, several minutes; log: $build_log)…"
	if ! CGO_ENABLED=0 GOWORK=off GOBIN=$tmp go install -trimpath \
		"github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION" >"$build_log" 2>&1 8>&-; then
		rm -rf "$tmp"
		show_tail "$build_log" 15
		die "building Centrifugo failed (full log: $build_log)"
	fi
	mv "$tmp/centrifugo" "$BIN"
	rm -rf "$tmp"
	log "built Centrifugo in $((SECONDS - start)) s"
}

case ${1:-} in
bin)
	build
	echo "$BIN"
	;;
*)
	echo "usage: $0 bin" >&2
	exit 2
	;;
esac
