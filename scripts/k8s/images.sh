#!/usr/bin/env bash
# The platform's images without a registry or a Docker engine, imported into the local
# cluster's containerd (scripts/k8s/cluster.sh). The same steps as docker/*.Dockerfile:
#   1. a Debian bookworm root filesystem with python3 and python3-venv (debootstrap
#      --variant=minbase; the Dockerfiles start from debian:bookworm-slim and apt-get the
#      same two packages);
#   2. a virtualenv in /opt/bobaku with every pin of constraints.txt, hash-checked
#      (pip --require-hashes; here from wheels downloaded on the host, installed offline
#      in a chroot);
#   3. our wheel (--no-deps), then the development-only packages uninstalled
#      (docker/strip_dev.py);
#   4. the user 10001 and the environment of the Dockerfiles' runtime stage.
# Images (tag dev, every name under bobaku.local/):
#   bobaku-platform   the gateway, hub and every service (the chart sets the command)
#   bobaku-operator   the same filesystem, entrypoint `python -m bobaku.operator`
#   bobaku-devservers NATS (JetStream), Redis (Debian's), FerretDB and Mailpit for the
#                     chart's in-cluster servers (development and e2e only)
#
# Usage: scripts/k8s/images.sh build|import|all
#   build   make the archives in $BOBAKU_CACHE/images (skipped when the inputs are unchanged)
#   import  import them into the cluster's containerd (namespace k8s.io)
#   all     both (default)
# Needs root (debootstrap, chroot).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}
IMG=$CACHE/images
SUITE=bookworm
BASE=$IMG/$SUITE-minbase
TAG=${BOBAKU_IMAGE_TAG:-dev}
REPO=bobaku.local
CONTAINERD_SOCK=/run/bobaku-containerd/containerd.sock
PY=$ROOT/.venv/bin/python

log() { printf '[images] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# The Debian mirror apt already uses on this machine (never written down anywhere).
mirror() {
	local m
	m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[[ -n $m ]] || m=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	[[ -n $m ]] || die "no Debian mirror found in /etc/apt/sources.list(.d)"
	echo "$m"
}

base_rootfs() {
	[[ -x $BASE/usr/bin/python3 && -e $BASE/.bobaku-done ]] && return
	command -v debootstrap >/dev/null || die "debootstrap not found (scripts/k8s/build.sh runtime installs it)"
	local tmp=$BASE.tmp started=$SECONDS
	rm -rf "$tmp"
	log "debootstrap $SUITE (minbase + python3, python3-venv; first run only, ~1-4 min; log: $IMG/debootstrap.log)…"
	debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
		"$SUITE" "$tmp" "$(mirror)" >"$IMG/debootstrap.log" 2>&1 ||
		die "debootstrap failed (log: $IMG/debootstrap.log)"
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
	touch "$tmp/.bobaku-done"
	mv "$tmp" "$BASE"
	log "base root filesystem made in $((SECONDS - started))s"
}

# What the platform image is made of; a change to any of it rebuilds the image.
inputs_hash() {
	(
		cd "$ROOT"
		git ls-files -z src kernel services hub operator pyproject.toml constraints.txt README.md \
			docker/strip_dev.py | xargs -0 -r sha256sum 2>/dev/null || true
		sha256sum "${BASH_SOURCE[0]}" "$HERE/image.py"
	) | sha256sum | cut -c1-16
}

wheels() {
	local dir=$IMG/wheels
	mkdir -p "$dir"
	[[ -x $PY ]] || die "no $PY: run 'make install' first"
	log "collecting the pinned wheels (hash-checked; cached in $dir)…"
	"$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
		--only-binary :all: -r "$ROOT/constraints.txt" -r "$HERE/debian-python.txt" -d "$dir" >"$IMG/wheels.log" 2>&1 ||
		die "pip download failed (log: $IMG/wheels.log)"
}

# chroot with /proc and /dev mounted for the duration of one command.
in_root() {
	local root=$1
	shift
	mount -t proc proc "$root/proc"
	mount --bind /dev "$root/dev"
	local rc=0
	chroot "$root" "$@" || rc=$?
	umount "$root/dev" "$root/proc"
	return $rc
}

build_platform() {
	local out=$IMG/platform-$1.tar
	[[ -s $out ]] && return
	local work=$IMG/platform.work started=$SECONDS
	umount "$work/dev" "$work/proc" 2>/dev/null || true
	rm -rf "$work"
	log "building the platform root filesystem (log: $IMG/platform.log)…"
	cp -a "$BASE" "$work"
	mkdir -p "$work/wheels"
	cp "$IMG"/wheels/*.whl "$work/wheels/"
	cp "$ROOT/constraints.txt" "$ROOT/pyproject.toml" "$HERE/debian-python.txt" "$work/wheels/"
	cat "$ROOT/constraints.txt" "$HERE/debian-python.txt" >"$work/wheels/requirements.txt"
	cp "$ROOT/docker/strip_dev.py" "$work/wheels/"
	"$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
		-w "$work/wheels" "$ROOT" >"$IMG/platform.log" 2>&1 || die "building our wheel failed (log: $IMG/platform.log)"
	{
		in_root "$work" /usr/bin/python3 -m venv /opt/bobaku &&
			in_root "$work" /opt/bobaku/bin/pip install -q --disable-pip-version-check --no-index \
				--find-links /wheels --require-hashes -r /wheels/requirements.txt &&
			in_root "$work" sh -c '/opt/bobaku/bin/pip install -q --disable-pip-version-check --no-index --no-deps /wheels/bobaku-*.whl' &&
			in_root "$work" sh -c '/opt/bobaku/bin/python /wheels/strip_dev.py /wheels/pyproject.toml | xargs -r /opt/bobaku/bin/pip uninstall -q -y' &&
			in_root "$work" /opt/bobaku/bin/python -c "import kopf, bobaku.kernel, bobaku.services.gateway, bobaku.operator.runtime"
	} >>"$IMG/platform.log" 2>&1 || die "installing into the root filesystem failed (log: $IMG/platform.log)"
	rm -rf "$work/wheels"
	add_user "$work"
	pack "$work" "$out" \
		--image "$REPO/bobaku-platform:$TAG=python -m bobaku.services.gateway" \
		--image "$REPO/bobaku-operator:$TAG=python -m bobaku.operator"
	rm -rf "$work"
	log "platform images built in $((SECONDS - started))s"
}

add_user() {
	grep -q '^bobaku:' "$1/etc/passwd" || {
		echo 'bobaku:x:10001:10001::/nonexistent:/usr/sbin/nologin' >>"$1/etc/passwd"
		echo 'bobaku:x:10001:' >>"$1/etc/group"
	}
}

pack() {
	local dir=$1 out=$2
	shift 2
	python3 "$HERE/image.py" rootfs --dir "$dir" --out "$out" "$@" \
		--env PATH=/opt/bobaku/bin:/usr/local/bin:/usr/bin:/bin \
		--env PYTHONSAFEPATH=1 --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
		--env HTTP_HOST=0.0.0.0 --env HTTP_PORT=8080 >&2 || die "packing $out failed"
}

# NATS, FerretDB and Mailpit are the binaries scripts/infra.sh builds from Go modules;
# Redis is Debian's package, unpacked into the root filesystem.
build_devservers() {
	local nats ferret mailpit out
	nats=$(ls "$CACHE"/bin/nats-server-* 2>/dev/null | tail -n 1)
	ferret=$(ls "$CACHE"/bin/ferretdb-* 2>/dev/null | tail -n 1)
	mailpit=$(ls "$CACHE"/bin/mailpit-* 2>/dev/null | tail -n 1)
	[[ -n $nats && -n $ferret && -n $mailpit ]] ||
		die "no nats-server/ferretdb/mailpit in $CACHE/bin: run 'make infra-up' (or make test) once"
	out=$IMG/devservers-$(basename "$nats")-$(basename "$ferret")-$(basename "$mailpit").tar
	[[ -s $out ]] && {
		DEVSERVERS=$out
		return
	}
	local work=$IMG/devservers.work debs=$IMG/debs
	rm -rf "$work"
	mkdir -p "$debs"
	log "building the dev-servers image (NATS, Redis, FerretDB)…"
	cp -a "$BASE" "$work"
	(cd "$debs" && apt-get download redis-server redis-tools libjemalloc2 liblzf1 libatomic1 >"$IMG/debs.log" 2>&1) ||
		die "apt-get download redis-server failed (log: $IMG/debs.log)"
	local d
	# --keep-directory-symlink: the packages ship ./lib/...; bookworm's /lib is a symlink
	# to usr/lib (merged /usr), which a plain extraction would replace by a directory.
	for d in "$debs"/*.deb; do dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C "$work"; done
	install -m 0755 "$nats" "$work/usr/local/bin/nats-server"
	install -m 0755 "$ferret" "$work/usr/local/bin/ferretdb"
	install -m 0755 "$mailpit" "$work/usr/local/bin/mailpit"
	add_user "$work"
	pack "$work" "$out" --image "$REPO/bobaku-devservers:$TAG=/usr/local/bin/nats-server"
	rm -rf "$work"
	DEVSERVERS=$out
}

build() {
	[[ $(id -u) == 0 ]] || die "run as root (debootstrap and chroot need it)"
	mkdir -p "$IMG"
	base_rootfs
	wheels
	local hash
	hash=$(inputs_hash)
	PLATFORM=$IMG/platform-$hash.tar
	build_platform "$hash"
	build_devservers
}

import() {
	[[ -S $CONTAINERD_SOCK ]] || die "the cluster's containerd is not running (scripts/k8s/cluster.sh up)"
	# A marker per archive inside containerd's root: an archive already imported into this
	# containerd is not imported again (a new build has a new name).
	local f marks=${BOBAKU_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/bobaku-cluster}/containerd/bobaku-imported
	mkdir -p "$marks"
	for f in "$PLATFORM" "$DEVSERVERS"; do
		[[ -e $marks/$(basename "$f") ]] && continue
		log "importing $(basename "$f") into containerd"
		ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$f" >&2 ||
			die "ctr images import $f failed"
		touch "$marks/$(basename "$f")"
	done
}

case ${1:-all} in
build) build ;;
import | all)
	build
	import
	;;
*)
	sed -n '18,21{s/^# \{0,1\}//p;}' "${BASH_SOURCE[0]}" >&2
	exit 2
	;;
esac
