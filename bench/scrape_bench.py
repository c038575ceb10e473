"""What Prometheus's scrapes cost the platform: bytes, series and CPU per scrape per process.

``make bench-scrape`` starts the platform as the ordering benchmark does (the launcher's
processes on the suite's NATS, Redis and FerretDB), gives it some traffic so the
per-franchise, per-route and per-durable series exist (menu reads and a few orders through
the gateway), then scrapes each process's ``/metrics`` ``SCRAPES`` times one after another
and reads the process's CPU time from ``/proc`` before and after. Printed as JSON (one
object per process and a total): response bytes, samples (series), CPU milliseconds per
scrape and what the local 5-second and the chart's 30-second intervals cost as a share of
one core. The analytics service is among the processes: its scrape reads the business
figures from its projections (``services/analytics/service_layer/metrics.py``), so the
bench waits until its projection has the run's orders.

Then the business metrics alone, as the number of outlets grows (``--outlets``, default
5,50,250): a projection of that many outlets (in 10 franchises, 3 orders each, one day) in
the run's Redis, and ``BusinessMetrics.collect`` rendered as a scrape renders it, timed in
this process (CPU and wall per scrape, bytes, series), beside the rendering of this
process's own registry (what analytics served before); and one scope's daily forecast fit
for the band, on 16 weeks of generated history. Not a test: the figures go into
docs/performance.md (section Prometheus scrape cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from ordering_bench import (  # the same platform and traffic helpers
    MENU_PATH,
    SERVICES,
    CpuMeter,
    PaymentWatch,
    Run,
    bench_platform,
    client_session,
    log,
    order_placer,
    ready_to_order,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bobaku.kernel.bus import Delivery, Message
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.events import new_event
from bobaku.kernel.settings import Settings
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import Rules
from bobaku.services.analytics.service_layer.metrics import BusinessMetrics, Scope

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


BRAND_PLACED = 'bobaku_analytics_orders_placed_total{franchise="",level="brand"'  # labels sorted


async def analytics_caught_up(http: aiohttp.ClientSession, url: str, orders: int) -> None:
    """Until the analytics process exports the run's orders at brand level (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with http.get(url) as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith(BRAND_PLACED) and float(line.rsplit(" ", 1)[1]) >= orders:
                    return
        await asyncio.sleep(0.5)
    log("analytics did not export every order within 60 s; scraping what it has")


async def bench() -> list[dict[str, Any]]:
    base, run = Settings(), Run()
    async with bench_platform(base, run, "scrape-bench", services=(*SERVICES, "analytics")) as bp:
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
            analytics = plat.running["analytics"].proc.port
            await analytics_caught_up(http, f"http://127.0.0.1:{analytics}/metrics", ORDERS)
            for name, running in sorted(plat.running.items()):
                url = f"http://127.0.0.1:{running.proc.port}/metrics"
                figures.append(await scrape_cost(http, name, url, running.child.pid))
        return figures


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def _order(fid: str, oid: str, n: int, at: datetime) -> list[Any]:
    order = f"ord-sb-{oid}-{n}"
    base = {"order_id": order, "outlet_id": oid, "customer_id": f"u-{n}"}
    line = {"menu_id": "m001", "name": "Boba", "quantity": 2, "subtotal": 56000,
            "customizations": {"sugar_level": 50, "toppings": ["t001"]}}  # fmt: skip
    created = {**base, "user_id": f"u-{n}", "franchise_id": fid, "items": [], "lines": [line],
               "subtotal_amount": 56000, "total_amount": 56000,
               "payment_method": random.choice(("gopay", "ovo", "dana"))}  # fmt: skip
    steps: list[tuple[str, dict[str, Any], int]] = [
        ("order.created", created, 0), ("order.payment_completed", {**base, "amount": 56000}, 20),
        ("order.ready", base, 20 + random.randint(60, 600)),
    ]  # fmt: skip
    return [
        new_event(kind, data, source="order-service", tenant=fid).model_copy(
            update={"timestamp": at + timedelta(seconds=dt)}
        )
        for kind, data, dt in steps
    ]


async def business_scrape_cost(base: Settings, outlets: int) -> dict[str, Any]:
    """The business metrics of ``outlets`` outlets, rendered as a scrape renders them."""
    redis = redis_from_settings(base)
    rules = Rules(zone=ZoneInfo("Asia/Jakarta"))
    store = ProjectionStore(redis, f"scrapebench-{secrets.token_hex(3)}", rules)
    exported = BusinessMetrics(store)
    at = datetime.now(UTC) - timedelta(minutes=30)
    try:
        events = [
            e
            for i in range(outlets)
            for n in range(3)
            for e in _order(f"fr-sb{i % 10}", f"outlet-sb{i}", n, at)
        ]
        for i in range(0, len(events), 240):
            await store.apply([Message([e], Delivery("", "", 0, 1)) for e in events[i : i + 240]])
        # Warm (the lease, the generation pointer), and the day's forecast bands fitted in
        # the background, as once a day: timed apart, not counted in the scrapes.
        fitting = time.perf_counter()
        await exported.collect()
        await exported.bands_fitted()
        bands_s = time.perf_counter() - fitting
        registry = CollectorRegistry(auto_describe=False)
        own = generate_latest()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(SCRAPES):
            generate_latest()
        registry_ms = (time.process_time() - cpu) * 1000 / SCRAPES
        cpu, wall = time.process_time(), time.perf_counter()
        body = b""
        for _ in range(SCRAPES):
            families = await exported.collect()
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Families(families))
            body = generate_latest(registry)
        cpu_ms = (time.process_time() - cpu) * 1000 / SCRAPES
        wall_ms = (time.perf_counter() - wall) * 1000 / SCRAPES
        # One scope's band, on 16 weeks of history (the fit runs once a day per scope).
        scope = Scope("outlet", "fr-sb0", "outlet-sb0")
        gen = await store.generation()
        today = datetime.now(rules.zone).date()
        for d in range(1, 16 * 7 + 1):
            day = today - timedelta(days=d)
            cups = 80 + 30 * (day.weekday() >= 5) + random.randint(-10, 10)
            await redis.hset(f"{store.prefix(gen)}:s:{scope.key}:d:{day}", "items", cups)
        fit = time.perf_counter()
        await exported.band(scope, today)
        return {
            "process": f"analytics business metrics, {outlets} outlets",
            "scopes": 1 + min(outlets, 10) + outlets,
            "bytes": len(body),
            "samples": samples(body.decode()),
            "cpu_ms_per_scrape": round(cpu_ms, 2),
            "wall_ms_per_scrape": round(wall_ms, 2),
            "registry_only_cpu_ms": round(registry_ms, 2),
            "registry_only_bytes": len(own),
            "bands_s_every_scope_no_history": round(bands_s, 2),
            "band_fit_s_one_scope_16_weeks": round(time.perf_counter() - fit, 3),
        }
    finally:
        await exported.close()
        for gen in (1, 2):
            await store.drop(gen)
        await redis.aclose()


async def business(outlets: list[int]) -> list[dict[str, Any]]:
    return [await business_scrape_cost(Settings(), n) for n in outlets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--outlets", default="5,50,250", help="business metrics: outlets")
    parser.add_argument("--only-business", action="store_true", help="skip the platform")
    args = parser.parse_args()
    outlets = [int(n) for n in args.outlets.split(",") if n]
    if args.only_business:
        for line in asyncio.run(business(outlets)):
            print(json.dumps(line))
        return
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
    for line in [*figures, total, *asyncio.run(business(outlets))]:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
