#!/usr/bin/env bash
# Builds (once) and caches OpenTofu and the providers that terraform/ needs, from Go modules
# at pinned versions, into a provider filesystem mirror, and writes the CLI configuration
# that makes `tofu init` install from that mirror only (no registry, no network).
#
# Usage: scripts/terraform/build.sh tofu|providers|cliconfig|all|aws|versions
#   tofu       prints the tofu binary's path
#   providers  builds the providers into the mirror; prints the mirror's path
#   cliconfig  (implies tofu and providers) prints the CLI configuration's path: export it
#              as TF_CLI_CONFIG_FILE before `tofu init`
#   all        tofu, then the CLI configuration's path (two lines)
#   aws        tries to fetch the AWS provider's pinned release (see below); fails here
#   versions   the pinned versions
#   Progress goes to stderr; anything already cached is printed at once.
#
# Environment:
#   BOBAKU_CACHE                 cache root (default ${XDG_CACHE_HOME:-~/.cache}/bobaku)
#   BOBAKU_TOFU_VERSION          OpenTofu release (default below)
#   BOBAKU_TF_HELM_VERSION       hashicorp/helm provider (default below)
#   BOBAKU_TF_KUBECTL_VERSION    gavinbunney/kubectl provider (default below)
#   BOBAKU_TF_AWS_VERSION        hashicorp/aws provider (default below)
#
# Why these providers: the Go module proxy lists only the v1.x tags of
# github.com/hashicorp/terraform-provider-{aws,helm,kubernetes} (their go.mod has no /vN
# suffix, so v2+ tags are not valid module versions) and refuses their release commits as
# pseudo-versions (403 "This module version is not available"). hashicorp/helm v1.3.2 (plugin
# protocol 5) builds; hashicorp/kubernetes v1.13.4 has no kubernetes_manifest and requires
# unpublished pseudo-versions of other providers, so the Franchise/Outlet resources go
# through gavinbunney/kubectl (kubectl_manifest), a maintained MPL-2.0 provider published
# as a proper module. hashicorp/aws v1.60.0 (2019) speaks plugin protocol 4, which OpenTofu
# cannot load, and has no EKS node groups: `aws` shows the refusal for the pinned release.
set -euo pipefail

TOFU_VERSION=${BOBAKU_TOFU_VERSION:-v1.12.6}
HELM_PROVIDER_VERSION=${BOBAKU_TF_HELM_VERSION:-v1.3.2}
KUBECTL_PROVIDER_VERSION=${BOBAKU_TF_KUBECTL_VERSION:-v1.19.0}
AWS_PROVIDER_VERSION=${BOBAKU_TF_AWS_VERSION:-v6.36.0}

CACHE=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}
CACHE_BIN=$CACHE/bin
SRC=$CACHE/src
TF_DIR=$CACHE/terraform
MIRROR=$TF_DIR/mirror-helm-$HELM_PROVIDER_VERSION-kubectl-$KUBECTL_PROVIDER_VERSION
CLICONFIG=$TF_DIR/tofurc-helm-$HELM_PROVIDER_VERSION-kubectl-$KUBECTL_PROVIDER_VERSION

log() { printf '[tf-build] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

show_tail() {
	log "last lines of $1:"
	tail -n "${2:-25}" "$1" 2>/dev/null | sed 's/^/[tf-build]   | /' >&2 || true
}

need_go() {
	command -v go >/dev/null || die "go not found: Go >= 1.26 is needed to build $1"
}

# One build at a time per cache (several sessions may start together).
take_lock() {
	mkdir -p "$CACHE_BIN" "$SRC" "$TF_DIR"
	command -v flock >/dev/null || return 0
	exec 9>"$CACHE/terraform-build.lock"
	if ! flock -n 9; then
		log "another build holds $CACHE/terraform-build.lock; waiting for it…"
		flock -w 3600 9 || die "timed out waiting for $CACHE/terraform-build.lock"
	fi
}

timed() {
	local what=$1 started=$SECONDS
	shift
	"$@"
	log "$what ready in $((SECONDS - started))s"
}

# The module's directory in the module cache, downloaded through the Go toolchain (so
# GOPROXY, GOPRIVATE and GOFLAGS apply).
module_dir() {
	GOWORK=off GOFLAGS= go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'
}

# OpenTofu's go.mod has a replace directive (its HCL fork), which `go install mod@version`
# refuses; building inside the downloaded module, as the main module, honours it unchanged.
build_tofu() {
	local bin=$CACHE_BIN/tofu-$TOFU_VERSION dir=$SRC/tofu-$TOFU_VERSION src
	[[ -x $bin ]] && {
		echo "$bin"
		return
	}
	need_go tofu
	local buildlog=$dir/build.log
	mkdir -p "$dir"
	log "building tofu $TOFU_VERSION (first run only; ~0.6 GB of modules, several minutes on"
	log "2 cores; log: $buildlog)…"
	if ! {
		src=$(module_dir "github.com/opentofu/opentofu@$TOFU_VERSION") && [[ -d $src ]] &&
			(cd "$src" && CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
				go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
				-o "$bin.tmp$$" ./cmd/tofu)
	} >"$buildlog" 2>&1; then
		rm -f "$bin.tmp$$"
		show_tail "$buildlog"
		die "building tofu $TOFU_VERSION failed (log: $buildlog)"
	fi
	mv "$bin.tmp$$" "$bin"
	echo "$bin"
}

# build_provider TYPE MODULE VERSION [GO.MOD LINES]: a scratch module requiring MODULE at
# VERSION (plus the extra lines: the upstream's replace directives, which a dependency's go.mod
# cannot carry, and minimal bumps Go 1.26 needs), built with one `go build` of MODULE's main
# package. Prints the binary's path.
build_provider() {
	local type=$1 module=$2 version=$3 extra=${4:-}
	local bin=$CACHE_BIN/terraform-provider-$type-$version dir=$SRC/terraform-provider-$type-$version
	[[ -x $bin ]] && {
		echo "$bin"
		return
	}
	need_go "terraform-provider-$type"
	local buildlog=$dir/build.log
	mkdir -p "$dir"
	log "building terraform-provider-$type $version (first run only; log: $buildlog)…"
	{
		echo "// Generated by scripts/terraform/build.sh: builds $module $version from modules."
		echo "module bobaku.local/terraform-provider-$type"
		echo
		echo "go 1.26"
		echo
		echo "require $module $version"
		[[ -z $extra ]] || printf '\n%s\n' "$extra"
	} >"$dir/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$module" >"$dir/tools.go"
	if ! (cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go mod tidy -e &&
		CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
			go build -trimpath -ldflags "-s -w" -o "$bin.tmp$$" "$module") >"$buildlog" 2>&1; then
		rm -f "$bin.tmp$$"
		show_tail "$buildlog"
		die "building terraform-provider-$type $version failed (log: $buildlog)"
	fi
	mv "$bin.tmp$$" "$bin"
	echo "$bin"
}

# helm v1.3.2's dependencies predate Go 1.18: reflect2 v1.0.1 (through json-iterator)
# crashes at run time on newer Go, v1.0.2 is its fix. k8s.io/kubectl v0.18.8 requires
# vbom.ml/util, whose host is gone and which the proxy does not serve; only kubectl's
# `get` command imports it, which the provider does not build, so the module graph gets an
# empty module of that name.
build_helm_provider() {
	local stub=$SRC/terraform-provider-helm-$HELM_PROVIDER_VERSION/stub-vbom.ml-util
	mkdir -p "$stub"
	printf '// Empty: see scripts/terraform/build.sh (build_helm_provider).\nmodule vbom.ml/util\n' >"$stub/go.mod"
	build_provider helm github.com/hashicorp/terraform-provider-helm "$HELM_PROVIDER_VERSION" \
		"require github.com/modern-go/reflect2 v1.0.2

replace github.com/Azure/go-autorest => github.com/Azure/go-autorest v13.3.3+incompatible

replace vbom.ml/util => ./stub-vbom.ml-util"
}

build_kubectl_provider() {
	build_provider kubectl github.com/gavinbunney/terraform-provider-kubectl "$KUBECTL_PROVIDER_VERSION"
}

# The provider registry host that tofu resolves `NAMESPACE/TYPE` to, as tofu itself reports
# it (`tofu providers` needs no init), so the mirror's layout matches whatever tofu expects.
default_provider_host() {
	local tofu=$1 dir=$TF_DIR/probe
	mkdir -p "$dir"
	printf 'terraform {\n  required_providers {\n    helm = { source = "hashicorp/helm" }\n  }\n}\n' >"$dir/main.tf"
	: >"$dir/empty.tofurc"
	(cd "$dir" && TF_CLI_CONFIG_FILE=$dir/empty.tofurc "$tofu" providers -no-color) |
		sed -n 's/.*provider\[\([^]/]*\)\/hashicorp\/helm\].*/\1/p' | head -n1
}

# The "unpacked" filesystem-mirror layout: HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/binary.
build_mirror() {
	local tofu helm kubectl host platform
	tofu=$(build_tofu)
	helm=$(timed "terraform-provider-helm" build_helm_provider)
	kubectl=$(timed "terraform-provider-kubectl" build_kubectl_provider)
	host=$(default_provider_host "$tofu")
	[[ -n $host ]] || die "could not read the default provider host from '$tofu providers'"
	platform=$(go env GOOS)_$(go env GOARCH)
	local tmp
	tmp=$(mktemp -d "$TF_DIR/.mirror.XXXXXX")
	install_provider() { # NAMESPACE TYPE VERSION BINARY
		local d=$tmp/$host/$1/$2/${3#v}/$platform
		mkdir -p "$d"
		cp "$4" "$d/terraform-provider-$2_$3"
	}
	install_provider hashicorp helm "$HELM_PROVIDER_VERSION" "$helm"
	install_provider gavinbunney kubectl "$KUBECTL_PROVIDER_VERSION" "$kubectl"
	rm -rf "$MIRROR"
	mv "$tmp" "$MIRROR"
	echo "$MIRROR"
}

write_cliconfig() {
	cat >"$CLICONFIG.tmp$$" <<HCL
# Generated by scripts/terraform/build.sh: providers come from the local mirror only.
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["*/*/*"]
  }
}
HCL
	mv "$CLICONFIG.tmp$$" "$CLICONFIG"
	echo "$CLICONFIG"
}

aws_provider() {
	need_go terraform-provider-aws
	local out
	if out=$(cd "${TMPDIR:-/tmp}" && GOWORK=off GOFLAGS= go list -m -json \
		"github.com/hashicorp/terraform-provider-aws@$AWS_PROVIDER_VERSION" 2>&1); then
		die "the module proxy now serves terraform-provider-aws $AWS_PROVIDER_VERSION; add it to build_mirror"
	fi
	log "terraform-provider-aws $AWS_PROVIDER_VERSION cannot be fetched as a Go module here:"
	printf '%s\n' "$out" | sed 's/^/[tf-build]   | /' >&2
	die "no AWS provider: the AWS roots (terraform/envs) get fmt and module-tree checks only (docs/deployment.md)"
}

main() {
	[[ $# -ge 1 ]] || {
		sed -n '6,14{s/^# \{0,1\}//p;}' "${BASH_SOURCE[0]}" >&2
		exit 2
	}
	local what
	for what in "$@"; do
		case $what in
		versions)
			printf 'tofu %s\nhashicorp/helm %s\ngavinbunney/kubectl %s\nhashicorp/aws %s (not buildable here)\n' \
				"$TOFU_VERSION" "$HELM_PROVIDER_VERSION" "$KUBECTL_PROVIDER_VERSION" "$AWS_PROVIDER_VERSION"
			;;
		tofu)
			if [[ -x $CACHE_BIN/tofu-$TOFU_VERSION ]]; then build_tofu; else
				take_lock
				timed tofu build_tofu
			fi
			;;
		providers)
			if [[ -d $MIRROR ]]; then echo "$MIRROR"; else
				take_lock
				[[ -d $MIRROR ]] && echo "$MIRROR" || build_mirror
			fi
			;;
		cliconfig)
			if [[ -d $MIRROR && -r $CLICONFIG ]]; then echo "$CLICONFIG"; else
				main tofu providers >/dev/null
				write_cliconfig
			fi
			;;
		all) main tofu cliconfig ;;
		aws) aws_provider ;;
		*) die "unknown target '$what' (tofu, providers, cliconfig, all, aws, versions)" ;;
		esac
	done
}

main "$@"
