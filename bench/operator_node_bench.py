"""The operator's benchmark on the one-node cluster: apply → every silo pod Available.

    make bench-operator-node     (e2e/run.sh local bench: node, images, chart, then this)
    python bench/operator_node_bench.py --kubeconfig K [--franchises 10] [--singles 2]

``bench/operator_bench.py`` times the operator's own work on a bare API server; here the
Franchises' silo pods really start on the node of ``scripts/k8s/cluster.sh``, with the
platform chart installed as ``make e2e`` installs it (``e2e/cluster-values.yaml``). Measured
in one run: one Franchise alone (the baseline, median of ``--singles``), then
``--franchises`` applied at once, each one's apply → its ``Available`` condition (the
operator's: every silo Deployment available), then checked on the Deployments themselves;
and the resident memory of the node's processes (the daemons from the cluster's pid files,
the containerd shims, every pod's processes by its cgroup) at rest and with the Franchises
running. The figures go to the "Operator" section of ``docs/performance.md`` between their
markers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from operator_bench import DOC, apply_and_time, delete_and_time, log, percentile, write

from bobaku.operator.kube import Credentials, Kube

ROOT = Path(__file__).resolve().parents[1]
START = "<!-- operator-node-bench:start -->"
END = "<!-- operator-node-bench:end -->"
PIDS = (
    Path(
        os.environ.get("BOBAKU_CLUSTER_DIR")
        or Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
        / "bobaku-cluster"
    )
    / "pids"
)
DAEMONS = (
    "containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
    "coredns", "kubelet", "kube-proxy",
)  # fmt: skip
POD_CGROUP = re.compile(r"kubepods[^\n]*?pod([0-9a-f_-]{36})")


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def node_memory(pod_namespaces: dict[str, str]) -> dict[str, float]:
    """Resident MiB of the node's processes: each daemon, the shims, the pods by namespace
    kind (the platform's: bobaku-system and kube-system; the franchises' silos)."""
    out: dict[str, float] = defaultdict(float)
    daemons = {}
    for name in DAEMONS:
        with_pid = PIDS / f"{name}.pid"
        if with_pid.exists():
            daemons[int(with_pid.read_text().strip())] = name
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in daemons:
            out[daemons[pid]] += rss_mib(pid)
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        found = POD_CGROUP.search(cgroup)
        if found:
            namespace = pod_namespaces.get(found.group(1).replace("_", "-"), "")
            kind = "silo pods" if namespace.startswith("bobaku-fr-") else "platform pods"
            out[kind] += rss_mib(pid)
        elif "containerd-shim" in cmdline and "bobaku-containerd" in (
            (entry / "cmdline").read_bytes().decode(errors="replace")
        ):
            out["containerd shims"] += rss_mib(pid)
    out["total"] = sum(v for k, v in out.items() if k != "total")
    return dict(out)


async def pod_namespaces(kube: Kube) -> dict[str, str]:
    return {p["metadata"]["uid"]: p["metadata"]["namespace"] for p in await kube.list("v1", "Pod")}


async def silos_available(kube: Kube, names: list[str]) -> int:
    """Every silo Deployment of these franchises fully available; the number of pods."""
    pods = 0
    for name in names:
        deployments = await kube.list("apps/v1", "Deployment", f"bobaku-fr-{name}")
        assert deployments, f"{name}: no silo Deployments"
        for d in deployments:
            status, want = d.get("status") or {}, d["spec"]["replicas"]
            assert status.get("availableReplicas") == want, (name, d["metadata"]["name"], status)
            pods += want
    return pods


async def gone(kube: Kube, names: list[str], timeout: float) -> float:
    """Delete the Franchises; seconds until their namespaces are gone too."""
    started = time.monotonic()
    await delete_and_time(kube, names, timeout)
    while {n["metadata"]["name"] for n in await kube.list("v1", "Namespace")} & {
        f"bobaku-fr-{n}" for n in names
    }:
        if time.monotonic() - started > timeout:
            raise TimeoutError("franchise namespaces not gone in time")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def settled_memory(kube: Kube) -> dict[str, float]:
    await asyncio.sleep(10)  # let the pods finish their start-up work
    return node_memory(await pod_namespaces(kube))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = secrets.token_hex(2)
    credentials = lambda: Credentials.load(args.kubeconfig)  # noqa: E731
    async with Kube(credentials, field_manager="bobaku-bench") as kube:
        left = [
            f["metadata"]["name"]
            for f in await kube.list("bobaku.io/v1alpha1", "Franchise")
            if f["metadata"]["name"].startswith("nb-")
        ]
        if left:
            log(f"[bench] removing {len(left)} Franchise(s) left by an earlier run")
            await gone(kube, left, args.timeout)
        at_rest = await settled_memory(kube)
        log(f"[bench] node at rest: {at_rest['total']:.0f} MiB resident")
        singles = []
        for i in range(args.singles):
            name = f"nb-one-{i}-{run_id}"
            took = await apply_and_time(kube, [name], args.timeout, "Available")
            pods_one = await silos_available(kube, [name])
            singles.append(took[name])
            log(f"[bench] 1 Franchise: apply→Available {singles[-1]:.1f}s ({pods_one} pods)")
            await gone(kube, [name], args.timeout)
        names = [f"nb-{i:02d}-{run_id}" for i in range(args.franchises)]
        started = time.monotonic()
        many = await apply_and_time(kube, names, args.timeout, "Available")
        wall = time.monotonic() - started
        pods = await silos_available(kube, names)
        log(f"[bench] {args.franchises} Franchises: all Available after {wall:.1f}s ({pods} pods)")
        loaded = await settled_memory(kube)
        log(f"[bench] with {args.franchises} Franchises: {loaded['total']:.0f} MiB resident")
        deletion = await gone(kube, names, args.timeout)
        log(f"[bench] {args.franchises} Franchises offboarded in {deletion:.1f}s")
    values = list(many.values())
    return {
        "n": args.franchises,
        "singles": singles,
        "single_s": statistics.median(singles),
        "pods_each": pods_one,
        "pods": pods,
        "wall_s": wall,
        "p50_s": percentile(values, 50),
        "max_s": max(values),
        "delete_s": deletion,
        "at_rest": at_rest,
        "loaded": loaded,
    }


def report(r: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    n, base = r["n"], r["single_s"]
    singles = ", ".join(f"{s:.1f}" for s in r["singles"])
    wall, p50 = r["wall_s"], r["p50_s"]
    rows = [
        (
            f"1 Franchise alone ({r['pods_each']} silo pods; median of {singles} s)",
            f"**{base:.1f} s**",
            "1.0x",
        ),
        (
            f"{n} Franchises applied at once ({r['pods']} silo pods): the last Available",
            f"**{wall:.1f} s**",
            f"{wall / base:.1f}x the time for {n}x the work",
        ),
        (
            "... each one's own apply → Available: p50 / max",
            f"{p50:.1f} / {r['max_s']:.1f} s",
            f"{p50 / base:.1f}x at p50",
        ),
        (
            f"{n} Franchises offboarded (retention Delete; namespaces gone)",
            f"{r['delete_s']:.1f} s",
            "",
        ),
    ]
    rest, loaded = r["at_rest"], r["loaded"]
    parts = [k for k in (*DAEMONS, "containerd shims", "platform pods", "silo pods", "total")]
    memory = "\n".join(
        f"| {k} | {rest.get(k, 0):.0f} | {loaded.get(k, 0):.0f} |"
        for k in parts
        if rest.get(k) or loaded.get(k)
    )
    per = (loaded.get("silo pods", 0)) / max(1, r["pods"])
    return f"""{START}
Measured {when} by `make bench-operator-node` on {platform.machine()}, {os.cpu_count()} CPUs
(load average {load} at the end): the one-node cluster of `scripts/k8s/cluster.sh`, the chart
installed as `make e2e` installs it (`e2e/cluster-values.yaml`: the platform's pods, the
single-node NATS, Redis and FerretDB, silo pods requesting 20m CPU each so ten franchises fit
the node's 2 cores: `operator.siloCpuRequestM`). Each Franchise is tier `small` (one pod of
each silo service); Available is the operator's condition (every silo Deployment available),
checked again on the Deployments.

| scenario | apply → every silo pod Available | against the baseline |
|---|---|---|
{chr(10).join(f"| {a} | {b} | {c} |" for a, b, c in rows)}

Resident memory of the node's processes (MiB, VmRSS summed; pods by their cgroup):

| processes | at rest (platform, no franchise) | with {n} franchises |
|---|---|---|
{memory}

So a franchise's silo pods take about {per * r["pods_each"]:.0f} MiB ({per:.0f} MiB per pod).
{END}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--franchises", type=int, default=10)
    parser.add_argument("--singles", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    section = report(asyncio.run(run(args)))
    print(section)
    if not args.no_write:
        write(section, START, END)
        log(f"[bench] written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
