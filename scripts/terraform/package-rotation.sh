#!/usr/bin/env bash
# Packages the JWT-key rotation Lambda (terraform/modules/secrets/rotation/jwt_keys.py) with
# the `cryptography` wheel for the Lambda runtime (Python 3.12, arm64), at the version
# constraints.txt pins, into a zip the AWS roots read (variable rotation_package).
#
# Usage: scripts/terraform/package-rotation.sh [OUT.zip]   (default .run/terraform/jwt-rotation.zip)
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(realpath -m "${1:-.run/terraform/jwt-rotation.zip}")
version=$(sed -n 's/^cryptography==\([^ ]*\).*/\1/p' constraints.txt)
[[ -n $version ]] || {
	echo "[rotation] no cryptography pin in constraints.txt" >&2
	exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$work" \
	--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
	--only-binary=:all: "cryptography==$version"
cp terraform/modules/secrets/rotation/jwt_keys.py "$work/"
mkdir -p "$(dirname "$out")"
rm -f "$out"
python3 -c 'import shutil, sys; shutil.make_archive(sys.argv[1].removesuffix(".zip"), "zip", sys.argv[2])' \
	"$out" "$work"
echo "$out"
