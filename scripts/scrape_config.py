"""Prometheus scrape targets for the platform's processes, from the launcher's list.

Prometheus reads them through ``file_sd_configs`` (scripts/observability.sh points it at the
folder), so a process added to ``launcher.ALL_PROCESSES`` is scraped with no other change,
and a rewrite of the file is picked up within seconds without a restart.

    python scripts/scrape_config.py --out .run/prometheus/targets/platform.json
    python scripts/scrape_config.py --platform none --out ...   (an empty list: tests)

Tests and the benchmarks, which start processes on free ports, call :func:`write_targets`
with the processes they started.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from launcher import ALL_PROCESSES, Process


def targets(procs: Iterable[Process], *, host: str = "127.0.0.1") -> list[dict[str, Any]]:
    """One file_sd group per process, labelled with its service name."""
    return [{"targets": [f"{host}:{p.port}"], "labels": {"service": p.name}} for p in procs]


def write_targets(path: Path, procs: Iterable[Process]) -> None:
    """Atomically replace the target file (Prometheus never reads a half-written one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets(procs), indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--platform", default="launcher", choices=("launcher", "none"),
        help="launcher: ALL_PROCESSES at their make-run ports; none: an empty list",
    )  # fmt: skip
    args = parser.parse_args()
    procs: list[Process] = []
    if args.platform == "launcher":
        procs = list(ALL_PROCESSES)
    write_targets(args.out, procs)


if __name__ == "__main__":
    main()
