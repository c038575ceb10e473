"""Analytics benchmark: events/s the projections absorb against a bare JetStream consumer on
the same events in the same run, and the forecast's backtest against seasonal naive.

    make bench-analytics          (brings the test infrastructure up, like the other benches)

1. ``--orders`` orders of five events each (created, paid, being prepared, ready,
   completed; one in ten refunded in part) are published to a stream of the run's own;
2. the baseline: a durable pull consumer through the kernel's bus whose handler does
   nothing (fetch, decode, ack) drains it;
3. the projections: the analytics batch consumer (``consume_batches``: a fetch folded in
   memory, one Redis transaction, then the acks) drains it again, and once more with one
   message per transaction (batch 1: the shape of the per-event path it replaced);
4. the lag under load: orders published at ``--rate`` orders/s for ``--load-s`` seconds to
   the live projection with its feed (``analytics.figures_moved``, what the dashboard reloads
   on); per order, the time from its payment's publication to the feed event naming it,
   against a bare consumer's receipt of the same payment (the baseline);
5. the rebuild of the generated year: ``seed-history`` (365 days, the demo brand, with its
   loyalty ledgers) into streams of the run's own, then ``rebuild`` from them, against a bare
   read (ephemeral consumer, decode only) of the same streams;
6. the backtest: generated history for 3 outlets x 4 items, 4 weekly origins.

Every stream, consumer and Redis key is the run's own (a deployment id of its own, so its
streams carry its prefix: kernel/names.py), so it runs beside the suite on the same servers
without touching the streams the suite seeds and rebuilds from; all are deleted at the end.
Prints a table (with the load average) and rewrites the "Measured" section of
``docs/analytics.md`` and the "Analytics" section of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Message, StreamSpec
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.settings import Settings
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain import history
from bobaku.services.analytics.domain.model import Rules
from bobaku.services.analytics.service_layer.feed import FIGURES_MOVED, FiguresFeed
from bobaku.services.analytics.service_layer.forecast import backtest
from bobaku.services.analytics.service_layer.handlers import (
    last_seq,
    live_handler,
    rebuild,
    stream_messages,
)
from bobaku.services.analytics.service_layer.seed_history import seed_history
from bobaku.services.analytics.service_layer.sources import PLATFORM

DOCS = Path(__file__).resolve().parents[1] / "docs"


def order_events(i: int, t0: datetime) -> list[Event]:
    order, fr, outlet, cust = f"ord-bench-{i}", "fr-bench", f"outlet-{i % 5}", f"u-{i % 300}"
    base = {"order_id": order, "outlet_id": outlet, "customer_id": cust}
    line = {
        "menu_id": f"m00{i % 7}", "name": "Bench tea", "unit_price": 41000, "base_price": 28000,
        "quantity": 2, "subtotal": 82000,
        "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001"]},
    }  # fmt: skip
    when = t0 + timedelta(seconds=37 * i)

    def ev(kind: str, offset: float, **data: Any) -> Event:
        e = new_event(kind, {**base, **data}, source="bench", tenant=fr)
        return e.model_copy(update={"timestamp": when + timedelta(seconds=offset)})

    out = [
        ev("order.created", 0, user_id=cust, franchise_id=fr, items=[], lines=[line],
           subtotal_amount=82000, total_amount=82000, payment_method="gopay",
           status="pending_payment"),
        ev("order.payment_completed", 20, intent_id=f"pay-{i}", transaction_id=f"gpy-{i}",
           amount=82000, paid_at=when.isoformat()),
        ev("order.being_prepared", 21, estimated_completion=when.isoformat()),
        ev("order.ready", 300, by="u-barista"),
        ev("order.completed", 420, by="u-barista"),
    ]  # fmt: skip
    if i % 10 == 0:
        out.append(
            ev("order.refunded", 900, refund_id=f"rf-{i}", amount=20000, total_refunded=20000,
               full=False)
        )  # fmt: skip
    return out


async def drain(
    bus: EventBus, stream: str, durable: str, handler: Any, total: int, *, batch: int = 128,
    batched: bool = False,
) -> float:  # fmt: skip
    done = 0
    finished = asyncio.Event()

    def count(n: int) -> None:
        nonlocal done
        done += n
        if done >= total:
            finished.set()

    async def counted(event: Event, delivery: Delivery) -> None:
        await handler(event, delivery)
        count(1)

    async def counted_batch(messages: list[Message]) -> None:
        await handler(messages)
        count(sum(len(m.events) for m in messages))

    started = time.perf_counter()
    spec = ConsumerSpec(durable, stream, batch=batch)
    consumer = await (
        bus.consume_batches(spec, counted_batch) if batched else bus.consume(spec, counted)
    )
    await asyncio.wait_for(finished.wait(), timeout=900)
    elapsed = time.perf_counter() - started
    await consumer.stop(grace_s=5)
    return total / elapsed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def lag_under_load(settings: Settings, rate: float, load_s: float) -> dict[str, float]:
    """Payment → figures_moved naming the order, per order, under a steady order load."""
    bus = await EventBus.connect(settings, streams=(streams.EVENTS.spec,))
    redis = redis_from_settings(settings)
    tag = secrets.token_hex(3)
    spec = StreamSpec(f"BENCH_LAG_{tag.upper()}", (f"benchlag{tag}.>",))
    await bus.ensure_stream(spec)
    store = ProjectionStore(redis, settings.deployment_id, Rules(zone=ZoneInfo("Asia/Jakarta")))
    feed = FiguresFeed(bus, interval_s=0.5)
    paid_at: dict[str, float] = {}
    bare_lag: list[float] = []
    figure_lag: list[float] = []

    async def bare(event: Event, _: Delivery) -> None:
        if event.type == "order.payment_completed" and event.data["order_id"] in paid_at:
            bare_lag.append(time.perf_counter() - paid_at[event.data["order_id"]])

    async def moved(msg: Any) -> None:
        now = time.perf_counter()
        for order_id in Event.from_json(msg.data).data["order_ids"]:
            if order_id in paid_at and order_id not in seen:
                seen.add(order_id)
                figure_lag.append(now - paid_at[order_id])
        if len(seen) >= count:
            all_seen.set()

    seen: set[str] = set()
    all_seen = asyncio.Event()
    sub = await bus.nc.subscribe(
        bus.names.subject(streams.EVENTS.filter(FIGURES_MOVED, "fr-bench")), cb=moved
    )
    feed.start()
    consumers = [
        await bus.consume(ConsumerSpec("bench-lag-bare", spec.name, batch=128), bare),
        await bus.consume_batches(
            ConsumerSpec("bench-lag-projection", spec.name, batch=256),
            live_handler(store, bus, feed),
        ),
    ]
    subject = spec.subjects[0].removesuffix(">")
    count = int(rate * load_s)
    try:
        t0 = time.perf_counter()
        for i in range(count):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            events = order_events(100_000 + i, datetime.now(UTC))
            for event in events[:2]:  # created, then paid: now
                event = event.model_copy(update={"timestamp": datetime.now(UTC)})
                if event.type == "order.payment_completed":
                    paid_at[event.data["order_id"]] = time.perf_counter()
                await bus.js_publish(f"{subject}{i}", event.to_json())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), timeout=60)
    finally:
        for consumer in consumers:
            await consumer.stop(grace_s=5)
        await feed.stop()
        await sub.unsubscribe()
        await bus.js.delete_stream(bus.names.stream(spec.name))
        await store.drop(1)
        await redis.aclose()
        await bus.close()
    return {
        "lag_orders": count, "lag_rate": rate, "lag_seen": len(figure_lag),
        "lag_p50": quantile(figure_lag, 0.5), "lag_p99": quantile(figure_lag, 0.99),
        "bare_p50": quantile(bare_lag, 0.5), "bare_p99": quantile(bare_lag, 0.99),
    }  # fmt: skip


async def rebuild_year(settings: Settings, days: int = 365) -> dict[str, float]:
    """The generated year (the demo brand, ``days`` days, with its loyalty ledgers) seeded
    into streams of the run's own, then rebuilt from them."""
    bus = await EventBus.connect(settings)
    redis = redis_from_settings(settings)
    zone = ZoneInfo("Asia/Jakarta")
    store = ProjectionStore(redis, settings.deployment_id, Rules(zone=zone))
    sources = PLATFORM  # the run's deployment's own ES_ORDER, ES_LOYALTY, …
    try:
        t = time.perf_counter()
        seeded = await seed_history(
            bus, end=datetime.now(zone).date(), days=days, zone=zone, sources=sources
        )
        seed_s = time.perf_counter() - t
        t = time.perf_counter()
        messages = 0
        for name in sources.names:
            async for chunk in stream_messages(bus, name, 0, await last_seq(bus, name)):
                messages += len(chunk)
        bare_s = time.perf_counter() - t
        t = time.perf_counter()
        done = await rebuild(bus, store, sources=sources, switch=False)
        rebuild_s = time.perf_counter() - t
        await store.drop(done.generation)
    finally:
        for name in sources.names:
            with contextlib.suppress(Exception):
                await bus.js.delete_stream(bus.names.stream(name))
        await redis.aclose()
        await bus.close()
    return {
        "year_orders": seeded.orders + seeded.orders_existing, "seed_s": seed_s,
        "year_loyalty": seeded.loyalty_events, "rebuild_events": done.events,
        "rebuild_orders": done.orders, "rebuild_s": rebuild_s, "read_s": bare_s,
        "year_days": days,
    }  # fmt: skip


async def run(orders: int, rate: float, load_s: float, days: int = 365) -> dict[str, float]:
    settings = Settings(service_name="analytics-bench", deployment_id=f"b{secrets.token_hex(3)}")
    bus = await EventBus.connect(settings)
    redis = redis_from_settings(settings)
    spec = StreamSpec(
        f"BENCH_AN_{secrets.token_hex(3).upper()}", (f"bench{secrets.token_hex(3)}.>",)
    )
    await bus.ensure_stream(spec)
    store = ProjectionStore(redis, settings.deployment_id, Rules(zone=ZoneInfo("Asia/Jakarta")))
    try:
        t0 = datetime.now(UTC) - timedelta(hours=6)
        total = 0
        subject = spec.subjects[0].removesuffix(">")
        for i in range(orders):
            for event in order_events(i, t0):
                await bus.js_publish(f"{subject}{i}", event.to_json())
                total += 1

        async def nothing(event: Event, delivery: Delivery) -> None:
            return None

        bare = await drain(bus, spec.name, "bench-bare", nothing, total)
        handler = live_handler(store, bus)
        projected = await drain(
            bus, spec.name, "bench-projection", handler, total, batch=256, batched=True
        )
        await store.drop(1)
        one_by_one = await drain(
            bus, spec.name, "bench-projection-1", handler, total, batch=1, batched=True
        )
    finally:
        await bus.js.delete_stream(bus.names.stream(spec.name))
        await store.drop(1)
        await redis.aclose()
        await bus.close()

    lag = await lag_under_load(settings, rate, load_s)
    year = await rebuild_year(settings, days)

    start, days = date(2026, 1, 1), 330
    items = ("m001", "m003", "m012", history.SEASONAL_ITEM)
    sales = list(history.generate(start, days, outlets=history.OUTLETS[:3], items=items))
    t = time.perf_counter()
    bt = backtest(
        history.daily_series(iter(sales), start, days),
        history.hourly_series(iter(sales), start, days),
        start.weekday(),
    )
    return {
        "events": total, "bare": bare, "projected": projected, "one_by_one": one_by_one,
        "backtest_s": time.perf_counter() - t,
        "series": bt.series, "daily_wape": bt.daily_wape, "naive_daily_wape": bt.naive_daily_wape,
        "daily_mape": bt.daily_mape, "naive_daily_mape": bt.naive_daily_mape,
        "hourly_wape": bt.hourly_wape, "naive_hourly_wape": bt.naive_hourly_wape,
        **lag, **year,
    }  # fmt: skip


def table(r: dict[str, float], loadavg: tuple[float, float, float]) -> str:
    load = " / ".join(f"{x:.2f}" for x in loadavg)
    year = "year" if r["year_days"] == 365 else f"{int(r['year_days'])} days"
    return "\n".join(
        [
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine (shared, 2 cores; "
            f"load average 1/5/15 min at the start {load}).",
            "",
            "| measure | analytics | baseline | ratio |",
            "|---|---|---|---|",
            f"| events/s absorbed ({int(r['events'])} order events, batches of 256) "
            f"| {r['projected']:.0f} "
            f"| {r['bare']:.0f} (bare JetStream consumer) | {r['projected'] / r['bare']:.2f} |",
            f"| events/s absorbed, one message per transaction "
            f"| {r['one_by_one']:.0f} | {r['bare']:.0f} | {r['one_by_one'] / r['bare']:.2f} |",
            f"| daily WAPE ({int(r['series'])} outlet x item series, 4 weekly origins) "
            f"| {r['daily_wape']:.3f} | {r['naive_daily_wape']:.3f} (seasonal naive) "
            f"| {r['daily_wape'] / r['naive_daily_wape']:.2f} |",
            f"| daily MAPE | {r['daily_mape']:.3f} | {r['naive_daily_mape']:.3f} "
            f"| {r['daily_mape'] / r['naive_daily_mape']:.2f} |",
            f"| hourly WAPE | {r['hourly_wape']:.3f} | {r['naive_hourly_wape']:.3f} "
            f"| {r['hourly_wape'] / r['naive_hourly_wape']:.2f} |",
            f"| payment → figure on the feed, p50 ({int(r['lag_seen'])}/{int(r['lag_orders'])} "
            f"orders at {r['lag_rate']:g}/s) | {1000 * r['lag_p50']:.0f} ms "
            f"| {1000 * r['bare_p50']:.0f} ms (bare consumer receives the payment) "
            f"| {r['lag_p50'] / r['bare_p50']:.1f} |",
            f"| payment → figure on the feed, p99 | {1000 * r['lag_p99']:.0f} ms "
            f"| {1000 * r['bare_p99']:.0f} ms | {r['lag_p99'] / r['bare_p99']:.1f} |",
            f"| rebuild of the generated {year} ({int(r['year_orders'])} orders, "
            f"{int(r['year_loyalty'])} loyalty facts; {int(r['rebuild_events'])} events) "
            f"| {r['rebuild_s']:.1f} s | {r['read_s']:.1f} s (bare read of the same streams) "
            f"| {r['rebuild_s'] / r['read_s']:.1f} |",
            f"| seeding the generated {year} (make seed-history, without its rebuild) "
            f"| {r['seed_s']:.1f} s | | |",
            f"| backtest time | {r['backtest_s']:.1f} s | | |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--rate", type=float, default=10.0, help="orders/s for the lag")
    parser.add_argument("--load-s", type=float, default=30.0, help="seconds of order load")
    parser.add_argument(
        "--history-days", type=int, default=365, help="days of generated history to rebuild"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args()
    if args.history_days < 1:
        parser.error("--history-days must be at least 1")
    load = os.getloadavg()
    result = asyncio.run(run(args.orders, args.rate, min(args.load_s, 120.0), args.history_days))
    text = table(result, load)
    print(text)
    if args.no_doc:
        return
    for name, title in (("analytics.md", "Measured"), ("performance.md", "Analytics")):
        path = DOCS / name
        path.write_text(with_table(path.read_text(), title, text))
        print(f"wrote {path}", file=sys.stderr)


def with_table(doc: str, title: str, text: str) -> str:
    """``doc`` with the run's table in section ``title``: the last run's table (from its
    "Run ..." line to the table's end) replaced, the words around it kept."""
    start = doc.find(f"## {title}\n")
    if start < 0:
        return doc.rstrip("\n") + f"\n\n## {title}\n\n{text}\n"
    end = doc.find("\n## ", start + 1)
    end = len(doc) if end < 0 else end
    section = doc[start:end]
    run = re.compile(r"^Run \d{4}-\d\d-\d\d \d\d:\d\d UTC[^\n]*\n\n(?:\|[^\n]*\n?)+", re.M)
    if run.search(section):
        section = run.sub(lambda _: text + "\n", section, count=1)
    else:
        section = section.rstrip("\n") + f"\n\n{text}\n"
    return doc[:start] + section + doc[end:]


if __name__ == "__main__":
    main()
