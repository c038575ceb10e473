"""The wheel the images install (scripts/k8s/images.sh, docker/*.Dockerfile) carries every
file the code reads at run time, not only the Python modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _clean_tree(into: Path) -> Path:
    """The repository's files (tracked and new, not ignored) without build leftovers: a
    stale ``*.egg-info`` lists files that the package data rules no longer name."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
    ).stdout.split(b"\0")  # fmt: skip
    tree = into / "tree"
    for name in filter(None, files):
        source, target = ROOT / name.decode(), tree / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        elif source.is_file():
            target.write_bytes(source.read_bytes())
    return tree


def test_the_wheel_ships_every_event_schema_and_page(tmp_path: Path) -> None:
    tree = _clean_tree(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(tmp_path), str(tree)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("bobaku-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "bobaku/" + str(path.relative_to(ROOT))
        for folder in ("kernel/events/schemas", "hub/static", "services/notification/templates")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    }
    schemas = {p for p in wanted if p.startswith("bobaku/kernel/events/schemas/")}
    assert len(schemas) > 50
    assert "bobaku/kernel/events/schemas/menu.outlet_changed/1.1.json" in schemas
    assert wanted - shipped == set()
