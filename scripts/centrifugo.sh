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
	go_install_once Centrifugo centrifugo github.com/centrifugal/centrifugo/v6 \
		"$CENTRIFUGO_VERSION" "$BIN"
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
