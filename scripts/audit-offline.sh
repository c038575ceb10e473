#!/usr/bin/env bash
# The pinned Python packages (constraints.txt) checked against a vulnerability database on
# disk, for machines that reach no advisory service (`make audit` needs one). The scanner is
# osv-scanner, built once from its Go module at a pinned version and cached; the database is
# a checkout of an OSV advisory repository (e.g. pypa/advisory-database, whose vulns/ holds
# one YAML file per advisory), packed into the zip osv-scanner reads offline.
#
# Usage: scripts/audit-offline.sh ADVISORIES_DIR     (make audit-offline ADVISORIES=…)
#
# Exit status: 0 no known vulnerability in that database, 1 some (listed), 2 a usage or
# build error. The database is only as new as the checkout: say which when you quote it.
# Environment: BOBAKU_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/bobaku),
#              BOBAKU_OSV_SCANNER_VERSION (default below)
set -euo pipefail

LOG_TAG=audit-offline
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/processes.sh
source "$ROOT/scripts/lib/processes.sh"

VERSION=${BOBAKU_OSV_SCANNER_VERSION:-v2.6.0}
CACHE=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}
CACHE_BIN=$CACHE/bin
BIN=$CACHE_BIN/osv-scanner-$VERSION
PY=${PYTHON:-$ROOT/.venv/bin/python}

build() {
	# v2.6 needs Go 1.27: the go command fetches that toolchain from the module proxy.
	GOTOOLCHAIN=go1.27.3 go_install_once osv-scanner osv-scanner \
		github.com/google/osv-scanner/v2/cmd/osv-scanner "$VERSION" "$BIN"
}

advisories=${1:-}
if [[ -z $advisories || ! -d $advisories ]]; then
	echo "usage: $0 ADVISORIES_DIR   (a checkout of an OSV advisory repository)" >&2
	exit 2
fi
[[ -x $PY ]] || die "no Python at $PY: run 'make install' first"
build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/db/osv-scalibr/PyPI"
count=$("$PY" - "$advisories" "$work/db/osv-scalibr/PyPI/all.zip" <<'EOF'
import datetime, json, pathlib, sys, zipfile
import yaml

def plain(value):
    return value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else str(value)

n = 0
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as out:
    for path in sorted(pathlib.Path(sys.argv[1]).rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            text = path.read_text()
            record = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            if isinstance(record, dict) and "id" in record and "affected" in record:
                out.writestr(f"{record['id']}.json", json.dumps(record, default=plain))
                n += 1
print(n)
EOF
)
((count > 0)) || die "no OSV advisories found under $advisories"
log "$count advisories from $advisories; scanning constraints.txt"
cp "$ROOT/constraints.txt" "$work/requirements.txt"
"$BIN" scan source --offline-vulnerabilities --local-db-path "$work/db" \
	-L "requirements.txt:$work/requirements.txt"
