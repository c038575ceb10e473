"""Scale-out: paid orders per second with 1, 2 and 4 replicas of the order service and of
the gateway on this machine (``make bench-scale``).

The platform of the ordering benchmark (customer, menu, supply, payment, order, gateway and
the provider simulator in ``instant`` mode) starts once through the launcher, with the order
service and the gateway named in its ``replicas`` knob: their replicas share one port each
(``HTTP_REUSE_PORT``, the kernel spreads connections over them) and the deployment's durable
consumers. For each count both are scaled to zero and then to the count (fresh connection
pools, so connections spread over the new set), and the order load of the ordering
benchmark runs: ``--concurrency`` orders in flight, each from its POST until its
``order.payment_completed`` is stored. A raw aiohttp hello-world is loaded before and after
(the reference of the same run). CPU per order is summed over every process and server.
Rewrites the block between the ``scale-bench`` markers in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from ordering_bench import (
    CUSTOMERS,
    MAX_ORDERS,
    CpuMeter,
    Load,
    PaymentWatch,
    Run,
    baseline_server,
    bench_platform,
    client_session,
    infra_pids,
    load_average,
    log,
    machine_facts,
    order_placer,
    paragraph,
    ratio,
    read_load,
    ready_to_order,
    run_load,
)

from bobaku.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
LOGS = ROOT / ".run" / "bench" / "scale"
BEGIN, END = "<!-- scale-bench:start -->", "<!-- scale-bench:end -->"
SCALED = ("order", "gateway")
MENU_PATH = "/api/v1/outlets/outlet-01/menu"


def per_service(shares: dict[str, float]) -> dict[str, float]:
    """Replicas' CPU summed under their service's name (``order#2`` → ``order``)."""
    out: dict[str, float] = {}
    for name, share in shares.items():
        key = name.split("#", 1)[0]
        out[key] = out.get(key, 0.0) + share
    return out


async def bench(counts: list[int], concurrency: int, seconds: float) -> str:
    base = Settings()
    run = Run()
    started = datetime.now(UTC)
    levels: list[tuple[int, Load, str, dict[str, float]]] = []
    replicas = dict.fromkeys(SCALED, 1)
    async with bench_platform(base, run, "scale-bench", replicas=replicas, logs=LOGS) as bp:
        plat, nc, gateway = bp.plat, bp.nc, bp.gateway
        async with aiohttp.ClientSession() as session:
            tokens = await ready_to_order(session, gateway, run, CUSTOMERS)
            async with session.get(gateway + MENU_PATH) as resp:
                size = len(await resp.read())
        watch = PaymentWatch()
        # The run's own subjects (kernel/names.py): a raw ``es.order.>`` sees none of them.
        await nc.subscribe(
            run.names.subject("es.order.>"), cb=watch.on_message, pending_msgs_limit=1_000_000
        )
        await nc.flush()
        async with baseline_server(size) as (hello_url, baseline_pid):

            def meter() -> CpuMeter:
                pids = {name: r.child.pid for name, r in plat.running.items()}
                extra = {"baseline": baseline_pid, "client": os.getpid()}
                return CpuMeter({**pids, **extra, **infra_pids(base)})

            log("baseline")
            before = await read_load(hello_url, "baseline", concurrency, seconds / 2, meter())
            for count in counts:
                for name in reversed(SCALED):
                    await plat.scale(name, 0)
                for name in SCALED:
                    await plat.scale(name, count)
                log(f"orders with {count} order and {count} gateway processes")
                async with client_session(concurrency) as session:
                    cpu = meter()
                    load = await run_load(
                        f"{count} replicas",
                        order_placer(session, gateway, tokens, watch, []),
                        concurrency=concurrency,
                        seconds=seconds,
                        max_count=MAX_ORDERS,
                        cpu=cpu,
                    )
                levels.append((count, load, load_average(), per_service(load.cpu)))
            log("baseline again")
            after = await read_load(hello_url, "baseline", concurrency, seconds / 2, meter())
    baseline = before.merged(after, "baseline")
    m = machine_facts()
    # The reference: one process of each if it was measured, else the first count.
    first = next((load.rate for count, load, _, _ in levels if count == 1), levels[0][1].rate)
    rows = [
        "| order + gateway processes | paid orders | errors | orders/s | ÷ 1 + 1 | ÷ hello "
        "| p50 | p99 | CPU ms per order (all processes) | order / gateway CPU ms per order "
        "| load average at the end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for count, load, avg, shares in levels:
        orders = load.completed_in_window or 1
        platform_cpu = sum(v for k, v in shares.items() if k not in ("client", "baseline"))
        total = platform_cpu * load.window_s / orders * 1000
        own = {k: shares.get(k, 0.0) * load.window_s / orders * 1000 for k in SCALED}
        rows.append(
            f"| {count} + {count} | {load.completed_in_window} | {load.errors} "
            f"| **{load.rate:.2f}** | {ratio(load.rate, first)} "
            f"| {ratio(load.rate, baseline.rate)} "
            f"| {load.p50_ms:.0f} ms | {load.p99_ms:.0f} ms | {total:.0f} "
            f"| {own['order']:.0f} / {own['gateway']:.0f} | {avg} |"
        )
    busiest = max(levels[-1][3].items(), key=lambda kv: kv[1])
    return "\n".join(
        [
            paragraph(
                f"Measured {started:%Y-%m-%d %H:%M} UTC by `make bench-scale` on {m['cpus']} "
                f"CPU cores ({m['cpu_model']}) shared with other sessions' work, Python "
                f"{m['python']}. {concurrency} orders in flight, {seconds:.0f} s per count after "
                f"a warm-up; hello-world baseline {baseline.rate:,.0f} requests/s (before "
                f"{before.rate:,.0f}, after {after.rate:,.0f}). Errors: orders not paid "
                f"within 30 s or refused."
            ),
            "",
            *rows,
            "",
            paragraph(
                f"Busiest process at {levels[-1][0]} replicas: {busiest[0]} at "
                f"{busiest[1]:.0%} of one core (replicas summed)."
            ),
        ]
    )


def write_doc(block: str) -> None:
    text = DOC.read_text()
    new = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new + rest.split(END, 1)[1]
    else:
        text = text.replace("## Growth", f"## Scale-out\n\n{new}\n\n## Growth")
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", default="1,2,4", help="counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()
    counts = [int(c) for c in args.replicas.split(",")]
    block = asyncio.run(asyncio.wait_for(bench(counts, args.concurrency, args.seconds), 600))
    print(block)
    if not args.no_doc:
        write_doc(block)


if __name__ == "__main__":
    main()
