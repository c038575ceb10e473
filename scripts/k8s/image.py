"""Pack a root filesystem into an image archive that ``ctr images import`` reads.

No registry and no Docker engine: a directory (a Debian rootfs made by debootstrap, with
our virtualenv installed into it) becomes one uncompressed layer, and the archive is in
the ``docker save`` format (``manifest.json`` with ``RepoTags``, the config, the layer),
which containerd imports as is. Several tags may share the one layer, each with its own
entrypoint (the platform image and the operator image).

Usage:
  python3 image.py rootfs --dir DIR --out FILE.tar --image NAME:TAG[=ENTRYPOINT] ...
          [--env K=V ...] [--user UID:GID] [--workdir /tmp]
  python3 image.py pause --binary PATH --tag NAME:TAG --out FILE.tar

Only the standard library, so it runs with the host's python3 before any virtualenv.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

# Directories whose contents never go into an image (the runtime mounts them).
SKIP_CONTENTS = {"proc", "sys", "dev", "run", "tmp"}
SKIP_PREFIXES = ("var/cache/apt/archives/", "var/lib/apt/lists/", "var/log/")


def _layer(root: Path, out: Path) -> str:
    """Write ``root`` as a tar layer to ``out``; return the layer's sha256 (its diff id)."""
    root = root.resolve()

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = info.name
        top, _, rest = name.partition("/")
        if top in SKIP_CONTENTS and rest:
            return None
        if name.startswith(SKIP_PREFIXES) and not info.isdir():
            return None
        if info.ischr() or info.isblk() or info.isfifo():
            return None
        info.mtime = 0 if info.mtime < 0 else info.mtime
        return info

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(root)):
            tar.add(root / entry, arcname=entry, recursive=True, filter=keep)
    digest = hashlib.sha256()
    with out.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _config(diff_id: str, entrypoint: list[str], env: list[str], user: str, workdir: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": env,
            "Entrypoint": entrypoint,
            "WorkingDir": workdir,
            "User": user,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created_by": "scripts/k8s/image.py"}],
    }
    return json.dumps(config, sort_keys=True).encode()


def _archive(layer: Path, diff_id: str, images: list[tuple[str, bytes]], out: Path) -> None:
    manifest = []
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        tar.add(layer, arcname=f"{diff_id}/layer.tar")
        for tag, config in images:
            name = hashlib.sha256(config).hexdigest() + ".json"
            info = tarfile.TarInfo(name)
            info.size = len(config)
            tar.addfile(info, io.BytesIO(config))
            manifest.append({"Config": name, "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]})
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)


def _parse_image(spec: str) -> tuple[str, list[str]]:
    tag, sep, entry = spec.partition("=")
    return tag, (entry.split() if sep else [])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rootfs = sub.add_parser("rootfs")
    rootfs.add_argument("--dir", required=True, type=Path)
    rootfs.add_argument("--out", required=True, type=Path)
    rootfs.add_argument("--image", action="append", required=True)
    rootfs.add_argument("--env", action="append", default=[])
    rootfs.add_argument("--user", default="10001:10001")
    # B108: the working directory inside the image, not a file this script writes
    rootfs.add_argument("--workdir", default="/tmp")  # nosec B108
    pause = sub.add_parser("pause")
    pause.add_argument("--binary", required=True, type=Path)
    pause.add_argument("--tag", required=True)
    pause.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.out.parent) as work:
        layer = Path(work) / "layer.tar"
        if args.cmd == "pause":
            root = Path(work) / "root"
            root.mkdir()
            (root / "pause").write_bytes(args.binary.read_bytes())
            (root / "pause").chmod(0o755)
            diff_id = _layer(root, layer)
            images = [(args.tag, _config(diff_id, ["/pause"], [], "65535:65535", "/"))]
        else:
            diff_id = _layer(args.dir, layer)
            images = [
                (tag, _config(diff_id, entry, args.env, args.user, args.workdir))
                for tag, entry in map(_parse_image, args.image)
            ]
        _archive(layer, diff_id, images, args.out)
    print(f"wrote {args.out} ({', '.join(t for t, _ in images)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
