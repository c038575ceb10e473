"""Operator benchmark: time from ``kubectl apply`` to ``Ready``, for 1 and for 100 Franchises.

    python bench/operator_bench.py [--franchises 100] [--singles 3] [--no-write]

On the local control plane of the operator's tests (real kube-apiserver and etcd, built by
``scripts/k8s/build.sh``), with the real operator process running as its own service
account, against the real NATS and MongoDB-wire servers of ``scripts/infra.sh`` (their URLs
from the environment, as in ``make test``). Each Franchise yields its namespace, database,
Secret, ConfigMap, NetworkPolicy, ResourceQuota, 4 Deployments, Services, HPAs and PDBs and
its routing entry before it is Ready.

The baseline is measured in the same run: one Franchise alone (median of ``--singles``).
Then ``--franchises`` are applied at once, and each one's apply→Ready time is recorded by
watching their status. The figures are printed and written to the "Operator" section of
``docs/performance.md`` (between its markers; the rest of the file is left alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.settings import Settings
from bobaku.operator import envtest
from bobaku.operator.envtest import Binaries, ControlPlane, apply_manifests, ensure_namespace
from bobaku.operator.kube import Kube

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "bobaku"
DOC = ROOT / "docs" / "performance.md"
START = "<!-- operator-bench:start -->"
END = "<!-- operator-bench:end -->"
API = "bobaku.io/v1alpha1"
PLATFORM_NS = "bobaku-system"


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_tools() -> dict[str, Path]:
    out = subprocess.run(
        [str(ROOT / "scripts" / "k8s" / "build.sh"), "kube-apiserver", "etcd", "helm"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.split()
    return dict(zip(("kube-apiserver", "etcd", "helm"), map(Path, out), strict=True))


def ready_at(body: dict[str, Any], condition: str = "Ready") -> bool:
    generation = body["metadata"].get("generation")
    for c in (body.get("status") or {}).get("conditions") or []:
        if c["type"] == condition:
            return bool(c["status"] == "True" and c.get("observedGeneration") == generation)
    return False


async def apply_and_time(
    kube: Kube, names: list[str], timeout: float, condition: str = "Ready"
) -> dict[str, float]:
    """Apply a Franchise per name at once; seconds from its apply to its first ``condition``
    True (Ready: the operator's work done; Available: its silo pods serve, on a node)."""
    applied: dict[str, float] = {}
    done: dict[str, float] = {}

    async def apply(name: str) -> None:
        await kube.apply(
            {
                "apiVersion": API,
                "kind": "Franchise",
                "metadata": {"name": name},
                "spec": {"displayName": f"Bench {name}", "tier": "small", "retention": "Delete"},
            }
        )
        applied[name] = time.monotonic()

    started = time.monotonic()
    await asyncio.gather(*(apply(n) for n in names))
    while len(done) < len(names):
        if time.monotonic() - started > timeout:
            missing = sorted(set(names) - set(done))
            raise TimeoutError(
                f"{len(missing)} Franchise(s) not {condition} after {timeout}s: {missing[:5]}"
            )
        now = time.monotonic()
        for body in await kube.list(API, "Franchise"):
            name = body["metadata"]["name"]
            if name in applied and name not in done and ready_at(body, condition):
                done[name] = now - applied[name]
        await asyncio.sleep(0.05)
    return done


async def delete_and_time(kube: Kube, names: list[str], timeout: float) -> float:
    started = time.monotonic()
    await asyncio.gather(*(kube.delete(API, "Franchise", n) for n in names))
    while {b["metadata"]["name"] for b in await kube.list(API, "Franchise")} & set(names):
        if time.monotonic() - started > timeout:
            raise TimeoutError("Franchises not deleted in time")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tools = build_tools()
    run_id = secrets.token_hex(3)
    prefix, bucket = f"bench{run_id}", f"bobaku_routing_bench{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix="bobaku-operator-bench-"))
    plane = ControlPlane(Binaries(tools["kube-apiserver"], tools["etcd"]), workdir, log=log)
    await plane.start()
    operator = None
    try:
        async with plane.admin() as kube:
            crds = [
                m
                for f in sorted((ROOT / "crds").glob("*.yaml"))
                for m in envtest.load_manifests(f.read_text())
            ]
            await apply_manifests(kube, crds)
            await ensure_namespace(kube, PLATFORM_NS)
            rendered = envtest.render_chart(tools["helm"], CHART, PLATFORM_NS)
            await apply_manifests(
                kube,
                [
                    m
                    for m in rendered
                    if m["kind"] in envtest.OPERATOR_RBAC_KINDS
                    or (m["kind"] == "ConfigMap" and m["metadata"]["name"] == "bobaku-hq-config")
                ],
            )
            kubeconfig = await plane.service_account_kubeconfig(PLATFORM_NS, "bobaku-operator")
            env = dict(os.environ)
            env.update(
                {
                    "KUBECONFIG": str(kubeconfig),
                    "SERVICE_NAME": "bobaku-operator",
                    "HTTP_PORT": str(envtest.free_port()),
                    "MONGODB_DB_PREFIX": prefix,
                    "OPERATOR_NAMESPACE": PLATFORM_NS,
                    "OPERATOR_ROUTING_BUCKET": bucket,
                    "OPERATOR_RESYNC_S": str(args.resync),
                    "LOG_LEVEL": "WARNING",
                }
            )
            operator = envtest.start_operator(env, workdir / "operator.log")
            log(f"[bench] operator started (log {workdir / 'operator.log'})")

            # Warm-up: the first Franchise also pays for the operator's first watch and
            # connections; it is not counted.
            await apply_and_time(kube, [f"warmup-{run_id}"], args.timeout)
            singles = []
            for i in range(args.singles):
                took = await apply_and_time(kube, [f"one-{i}-{run_id}"], args.timeout)
                singles.append(next(iter(took.values())))
                log(f"[bench] 1 Franchise: apply→Ready {singles[-1]:.2f}s")
            names = [f"many-{i:03d}-{run_id}" for i in range(args.franchises)]
            started = time.monotonic()
            many = await apply_and_time(kube, names, args.timeout)
            wall = time.monotonic() - started
            log(f"[bench] {args.franchises} Franchises: all Ready after {wall:.2f}s")
            deletion = await delete_and_time(kube, names, args.timeout)
            log(f"[bench] {args.franchises} Franchises deleted in {deletion:.2f}s")
            await delete_and_time(
                kube,
                [f"warmup-{run_id}"] + [f"one-{i}-{run_id}" for i in range(args.singles)],
                args.timeout,
            )
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(30)
        plane.stop()
        # The run's data on the shared servers, whatever state the run ended in.
        settings = Settings(service_name="operator-bench")
        bus = await EventBus.connect(settings, streams=())
        with contextlib.suppress(Exception):  # nothing was written if the run failed early
            await bus.js.delete_key_value(bus.names.bucket(bucket))
        await bus.close()
        databases = Databases.from_settings(settings)
        for name in await databases.client.list_database_names():
            if name.startswith(f"{prefix}_"):
                await databases.client.drop_database(name)
        await databases.close()
    single = statistics.median(singles)
    values = list(many.values())
    return {
        "single_s": single,
        "singles": singles,
        "n": args.franchises,
        "wall_s": wall,
        "p50_s": percentile(values, 50),
        "p95_s": percentile(values, 95),
        "max_s": max(values),
        "per_franchise_s": wall / args.franchises,
        "throughput": args.franchises / wall,
        "delete_s": deletion,
        "resync_s": args.resync,
    }


def report(r: dict[str, Any]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    singles = ", ".join(f"{s:.2f}" for s in r["singles"])
    base = r["single_s"]
    n = r["n"]
    rows = [
        (
            f"1 Franchise alone (baseline; median of {len(r['singles'])}: {singles} s)",
            f"**{base:.2f} s**",
            "1.0x",
        ),
        (
            f"{n} Franchises applied at once: the last one Ready",
            f"**{r['wall_s']:.1f} s**",
            f"{r['wall_s'] / base:.1f}x the time for {n}x the work",
        ),
        (
            "... each one's own apply -> Ready: p50 / p95 / max",
            f"{r['p50_s']:.1f} / {r['p95_s']:.1f} / {r['max_s']:.1f} s",
            f"{r['p50_s'] / base:.1f}x at p50",
        ),
        (
            "... throughput",
            f"{r['throughput']:.1f} Franchises/s ({r['per_franchise_s'] * 1000:.0f} ms each)",
            f"{base / r['per_franchise_s']:.1f}x the baseline's rate",
        ),
        (
            f"{n} Franchises deleted (retention Delete: databases dropped)",
            f"{r['delete_s']:.1f} s",
            "",
        ),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return f"""{START}
Measured {when} by `python bench/operator_bench.py --franchises {n}` on {platform.machine()},
{os.cpu_count()} CPUs shared with other work (load average {load} at the end): kube-apiserver
and etcd from `scripts/k8s/build.sh`, the operator running as its own service account,
FerretDB and NATS from `scripts/infra.sh`. Each Franchise is tier `small` and yields its
namespace, database (8 indexes), Secret, ConfigMap, NetworkPolicy, ResourceQuota, four silo
services (Deployment, Service, HPA, PDB each) and its routing entry before it is Ready.
There is no kubelet: Ready means the operator's work is done, not that pods serve.
Resync interval during the run: {r["resync_s"]:.0f} s.

| scenario | apply -> Ready | against the baseline |
|---|---|---|
{table}
{END}"""


def write(section: str, start: str = START, end: str = END) -> None:
    """Put ``section`` between its markers in the Operator section of docs/performance.md."""
    heading = "## Operator"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    elif heading in text:
        text = text.replace(heading, f"{heading}\n\n{section}", 1)
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{section}\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--franchises", type=int, default=100)
    parser.add_argument("--singles", type=int, default=3)
    parser.add_argument("--resync", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    section = report(results)
    print(section)
    if not args.no_write:
        write(section)
        log(f"[bench] written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
