"""What Prometheus's scrapes cost the platform: bytes, series and CPU per scrape per process.

``make bench-scrape`` starts the platform as the ordering benchmark does (the launcher's
processes on the suite's NATS, Redis and FerretDB), gives it some traffic so the
per-franchise, per-route and per-durable series exist (menu reads and a few orders through
the gateway), then scrapes each process's ``/metrics`` ``SCRAPES`` times one after another
and reads the process's CPU time from ``/proc`` before and after. Printed as JSON (one
object per process and a total): response bytes, samples (series), CPU milliseconds per
scrape and what the local 5-second and the chart's 30-second intervals cost as a share of
one core. Not a test:
the figures go into docs/performance.md (section Prometheus scrape cost).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from ordering_bench import (  # the same platform and traffic helpers
    MENU_PATH,
    CpuMeter,
    PaymentWatch,
    Run,
    bench_platform,
    client_session,
    log,
    order_placer,
    ready_to_order,
)

from bobaku.kernel.settings import Settings

SCRAPES = 40
# The local scrape interval (scripts/observability.sh) and the chart's ServiceMonitor one.
INTERVALS_S = {"5s": 5.0, "30s": 30.0}
MENU_READS = 200
ORDERS = 20


def samples(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


async def scrape_cost(http: aiohttp.ClientSession, name: str, url: str, pid: int) -> dict[str, Any]:
    async with http.get(url) as resp:  # warm: the first render builds caches
        body = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"{name} /metrics: {resp.status}")
    before, started = CpuMeter.seconds(pid), time.perf_counter()
    for _ in range(SCRAPES):
        async with http.get(url) as resp:
            body = await resp.text()
    wall_ms = (time.perf_counter() - started) * 1000 / SCRAPES
    cpu_ms = (CpuMeter.seconds(pid) - before) * 1000 / SCRAPES
    return {
        "process": name,
        "bytes": len(body.encode()),
        "samples": samples(body),
        "cpu_ms_per_scrape": round(cpu_ms, 2),
        "wall_ms_per_scrape": round(wall_ms, 2),
        **{f"core_share_at_{k}": round(cpu_ms / (v * 1000), 6) for k, v in INTERVALS_S.items()},
    }


async def bench() -> list[dict[str, Any]]:
    base, run = Settings(), Run()
    async with bench_platform(base, run, "scrape-bench") as bp:
        plat, nc, gateway = bp.plat, bp.nc, bp.gateway
        log(f"traffic: {MENU_READS} menu reads and {ORDERS} orders through {gateway}")
        async with aiohttp.ClientSession() as session:
            tokens = await ready_to_order(session, gateway, run, 4)
            for _ in range(MENU_READS):
                async with session.get(gateway + MENU_PATH) as resp:
                    await resp.read()
        watch = PaymentWatch()
        await nc.subscribe(
            run.names.subject("es.order.>"), cb=watch.on_message, pending_msgs_limit=100_000
        )
        async with client_session(4) as session:
            place = order_placer(session, gateway, tokens, watch, [])
            await asyncio.gather(*(place(i) for i in range(ORDERS)))
        log(f"scraping each process {SCRAPES} times")
        figures = []
        async with aiohttp.ClientSession() as http:
            for name, running in sorted(plat.running.items()):
                url = f"http://127.0.0.1:{running.proc.port}/metrics"
                figures.append(await scrape_cost(http, name, url, running.child.pid))
        return figures


def main() -> None:
    figures = asyncio.run(bench())
    total = {
        "process": "total",
        "bytes": sum(f["bytes"] for f in figures),
        "samples": sum(f["samples"] for f in figures),
        "cpu_ms_per_scrape": round(sum(f["cpu_ms_per_scrape"] for f in figures), 2),
        **{
            f"core_share_at_{k}": round(sum(f[f"core_share_at_{k}"] for f in figures), 6)
            for k in INTERVALS_S
        },
    }
    for line in [*figures, total]:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
