"""The business metrics the analytics service exports, read from its projections in the real
Redis: they agree with the API's figures, a refund moves net sales, pooled and silo
instances summed count each order once, and replicas of one instance export it once."""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from analytics_testing import FR, OUTLET, cancelled, completed, created, line, paid, ready, refunded
from prometheus_client.metrics_core import Metric
from test_projections import alone

from bobaku.kernel.events import Event
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import Rules, Share
from bobaku.services.analytics.service_layer import views
from bobaku.services.analytics.service_layer.metrics import BusinessMetrics, exported_scopes
from bobaku.services.analytics.service_layer.views import Period

# 03:00 UTC = 10:00 in Jakarta; "now" for the scrapes is an hour later, the same day.
T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
NOW = (T0 + timedelta(hours=1)).timestamp()
DAY = Period(T0.date(), T0.date())
SILO = f"fr-msilo{secrets.token_hex(3)}"
LINES = [line("m001", 2, 41000, ["t001"]), line("m002", 1, 30000, [])]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
EXPORTER = ("bobaku_analytics_metrics_exporter", frozenset())


def samples(families: list[Metric]) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): float(s.value) for f in families for s in f.samples
    }


def value(got: Samples, name: str, **labels: str) -> float:
    want = {"level": "outlet", "franchise": FR, "outlet": OUTLET, **labels}
    return got[(name, frozenset(want.items()))]


def of(franchise: str, event: Event) -> Event:
    data = dict(event.data)
    if "franchise_id" in data:
        data["franchise_id"] = franchise
    return event.model_copy(update={"tenant": franchise, "data": data})


def day_of_orders(tag: str, franchise: str = FR) -> list[Event]:
    """Served (made and picked up), refunded in part, still in the kitchen, cancelled."""
    a, b, c, d = (f"ord-me-{tag}-{franchise}-{i}" for i in range(4))
    events = [
        created(a, T0, LINES), paid(a, T0 + timedelta(seconds=30), 112000),
        ready(a, T0 + timedelta(seconds=200)), completed(a, T0 + timedelta(seconds=260)),
        created(b, T0, LINES, method="ovo"), paid(b, T0 + timedelta(seconds=10), 112000),
        ready(b, T0 + timedelta(seconds=100)),
        refunded(b, T0 + timedelta(minutes=20), 12000, 12000, full=False),
        created(c, T0, LINES[:1]), paid(c, T0 + timedelta(seconds=5), 82000),
        created(d, T0, LINES[:1]), cancelled(d, T0 + timedelta(seconds=5)),
    ]  # fmt: skip
    return [of(franchise, e) for e in events]


@pytest.fixture
async def exported(store: ProjectionStore) -> Any:
    metrics = BusinessMetrics(store)
    yield metrics
    await metrics.close()


async def test_the_exported_figures_are_the_apis_and_a_refund_moves_net_sales(
    store: ProjectionStore, exported: BusinessMetrics
) -> None:
    tag = secrets.token_hex(3)
    await store.apply(alone(*day_of_orders(tag)))
    got = samples(await exported.collect(NOW))
    assert got[EXPORTER] == 1
    report = await views.sales(store, f"o:{FR}:{OUTLET}", DAY, "day", compare=False)
    totals = report["totals"]
    # A fresh store: all time is this one day, so counters and today's gauges are the API's.
    for metric, figure in (
        ("orders_placed", "placed"), ("orders_paid", "orders"), ("orders_cancelled", "cancelled"),
        ("orders_refunded", "refunded_orders"), ("items", "items"), ("gross_rupiah", "gross"),
        ("discounts_rupiah", "discounts"), ("refunds_rupiah", "refunds"),
    ):  # fmt: skip
        assert value(got, f"bobaku_analytics_{metric}_total") == totals[figure], metric
        if metric != "orders_refunded":
            assert value(got, f"bobaku_analytics_today_{metric}") == totals[figure], metric
    assert value(got, "bobaku_analytics_net_rupiah") == totals["net"] == 112000 * 2 + 82000 - 12000
    assert value(got, "bobaku_analytics_today_net_rupiah") == totals["net"]
    for method, n in totals["payment_methods"].items():
        assert value(got, "bobaku_analytics_payment_method_orders_total", method=method) == n
    assert totals["payment_methods"] == {"gopay": 2, "ovo": 1}
    # The brand and the franchise carry the same (no one else's orders in this store).
    brand = {"level": "brand", "franchise": "", "outlet": ""}
    for level in (brand, {"outlet": "", "level": "franchise"}):
        assert value(got, "bobaku_analytics_gross_rupiah_total", **level) == totals["gross"]

    kitchen = (await views.kitchen(store, f"o:{FR}:{OUTLET}", DAY, "day"))["totals"]
    assert (
        value(got, "bobaku_analytics_today_kitchen_payment_to_ready_p50_seconds")
        == kitchen["payment_to_ready_p50_s"]
    )
    assert (
        value(got, "bobaku_analytics_today_kitchen_payment_to_ready_p90_seconds")
        == kitchen["payment_to_ready_p90_s"]
    )
    assert value(got, "bobaku_analytics_today_kitchen_waiting_orders") == 1  # c: paid, not ready
    prep = "bobaku_analytics_kitchen_payment_to_ready_seconds"
    # 170 s and 90 s from payment to ready: both under 180 s, one under 120 s (per outlet:
    # a franchise's histogram is the sum of its outlets').
    assert ("bobaku_analytics_kitchen_late_orders_total", frozenset(brand.items())) not in got
    assert value(got, f"{prep}_count") == kitchen["orders"] == 2
    assert value(got, f"{prep}_bucket", le="120") == 1
    assert value(got, f"{prep}_bucket", le="180") == 2
    assert value(got, f"{prep}_sum") == 260.0
    assert value(got, "bobaku_analytics_kitchen_ready_to_pickup_seconds_count") == 1

    # A refund lowers net sales and raises refunds, both exported at once.
    b = f"ord-me-{tag}-{FR}-1"
    await store.apply(
        alone(of(FR, refunded(b, T0 + timedelta(minutes=40), 5000, 17000, full=False)))
    )
    after = samples(await exported.collect(NOW))
    assert (
        value(after, "bobaku_analytics_net_rupiah")
        == value(got, "bobaku_analytics_net_rupiah") - 5000
    )
    assert value(after, "bobaku_analytics_refunds_rupiah_total") == totals["refunds"] + 5000
    assert value(after, "bobaku_analytics_today_net_rupiah") == totals["net"] - 5000
    assert value(after, "bobaku_analytics_orders_refunded_total") == 1  # the same order again


async def test_pooled_and_silo_exports_summed_over_instances_count_each_order_once(
    redis: Any,
) -> None:
    """What Prometheus sums over instances: the pooled instance beside a franchise's silo
    gives, series for series, what one instance keeping everything gives."""
    rules = Rules(zone=ZoneInfo("Asia/Jakarta"), service_target_s=300)
    made = {
        name: ProjectionStore(redis, f"t{secrets.token_hex(4)}", replace(rules, share=share))
        for name, share in (
            ("all", Share()),
            ("pooled", Share(silos=frozenset({SILO}))),
            ("silo", Share(silo_of=SILO)),
        )
    }
    exporters = {name: BusinessMetrics(store) for name, store in made.items()}
    try:
        tag = secrets.token_hex(3)
        messages = alone(*day_of_orders(tag, FR), *day_of_orders(tag, SILO))
        for store in made.values():
            await store.apply(messages)
        got = {name: samples(await e.collect(NOW)) for name, e in exporters.items()}
        summed: Samples = defaultdict(float)
        for name in ("pooled", "silo"):
            for key, v in got[name].items():
                if key != EXPORTER:
                    summed[key] += v
        reference = {k: v for k, v in got["all"].items() if k != EXPORTER}
        # (The forecast's band comes from a background fit: compare the figures.)
        figures = {k: v for k, v in reference.items() if k[0] != "bobaku_analytics_forecast_cups"}
        assert {
            k: v for k, v in summed.items() if k[0] != "bobaku_analytics_forecast_cups"
        } == figures
        assert value(figures, "bobaku_analytics_orders_placed_total", franchise=SILO) == 4
        # Who exports what: the brand from the pooled instance only; the silo franchise
        # from its silo only, though the pooled instance keeps its daily totals for HQ.
        placed = "bobaku_analytics_orders_placed_total"
        levels = {
            name: {(dict(k[1])["level"], dict(k[1])["franchise"]) for k in g if k[0] == placed}
            for name, g in got.items()
        }
        assert levels["pooled"] == {("brand", ""), ("franchise", FR), ("outlet", FR)}
        assert levels["silo"] == {("franchise", SILO), ("outlet", SILO)}
        brand = {"level": "brand", "franchise": "", "outlet": ""}
        gross = value(got["pooled"], "bobaku_analytics_gross_rupiah_total", **brand)
        assert gross == 2 * (112000 * 2 + 82000)  # both franchises' orders
    finally:
        for name, e in exporters.items():
            await e.close()
            await made[name].drop(1)


async def test_replicas_of_one_instance_export_its_figures_once(store: ProjectionStore) -> None:
    """Two processes of one instance read the same Redis keys: the lease holder exports,
    the other says it does not; when the holder stops, the other takes over."""
    await store.apply(alone(*day_of_orders(secrets.token_hex(3))))
    first, second = BusinessMetrics(store), BusinessMetrics(store)
    try:
        one = samples(await first.collect(NOW))
        other = samples(await second.collect(NOW))
        assert one[EXPORTER] == 1
        assert other == {EXPORTER: 0}
        assert value(one, "bobaku_analytics_orders_placed_total") == 4
        await first.close()
        took = samples(await second.collect(NOW))
        assert value(took, "bobaku_analytics_orders_placed_total") == 4
    finally:
        await first.close()
        await second.close()


async def test_the_exported_counters_never_step_back_while_a_rebuild_catches_up(
    store: ProjectionStore, exported: BusinessMetrics
) -> None:
    """A rebuild's new generation is made current a moment before it has every last event:
    Prometheus must not read that as a counter reset (it would count the whole total again)."""
    events = day_of_orders(secrets.token_hex(3))
    await store.apply(alone(*events))
    before = samples(await exported.collect(NOW))
    # The new generation has the first order so far (its first four events).
    gen = await store.generation() + 1
    await store.apply(alone(*events[:4]), gen)
    await store.switch(gen)
    behind = samples(await exported.collect(NOW))
    assert value(behind, "bobaku_analytics_today_orders_placed") == 1  # a gauge says what is
    for metric in (
        "orders_placed_total", "gross_rupiah_total", "kitchen_payment_to_ready_seconds_count",
        "payment_method_orders_total",
    ):  # fmt: skip
        labels = {"method": "gopay"} if metric.startswith("payment") else {}
        was = value(before, f"bobaku_analytics_{metric}", **labels)
        assert value(behind, f"bobaku_analytics_{metric}", **labels) == was, metric
    await store.drop(gen)


def test_only_the_scopes_an_instance_keeps_are_exported(store: ProjectionStore) -> None:
    known = {FR: [OUTLET], SILO: ["outlet-x"]}
    silo = replace(store.rules, share=Share(silo_of=SILO))
    pooled = replace(store.rules, share=Share(silos=frozenset({SILO})))
    keys = {
        name: [s.key for s in exported_scopes(replace_rules(store, rules), known)]
        for name, rules in (("silo", silo), ("pooled", pooled))
    }
    assert keys == {
        "silo": [f"f:{SILO}", f"o:{SILO}:outlet-x"],
        "pooled": ["b", f"f:{FR}", f"o:{FR}:{OUTLET}"],
    }


def replace_rules(store: ProjectionStore, rules: Rules) -> ProjectionStore:
    return ProjectionStore(store.redis, store.base.removeprefix("an:"), rules)


async def test_the_forecast_band_spreads_the_days_forecast_over_its_hours(
    store: ProjectionStore, exported: BusinessMetrics
) -> None:
    """Sixteen weeks of an outlet's daily cups (busier at weekends) and four weeks of its
    hours (all cups at 10:00 and 11:00): this hour's and the next hours' band is the day's
    forecast times the hour's share, lower <= yhat <= upper."""
    from bobaku.services.analytics.service_layer import forecast as fc

    await store.apply(alone(*day_of_orders(secrets.token_hex(3))))  # the outlet exists
    zone = store.rules.zone
    now = datetime(2026, 12, 2, 9, 30, tzinfo=zone).timestamp()  # a Wednesday, 09:30
    today = datetime.fromtimestamp(now, zone).date()
    gen = await store.generation()
    scope = f"o:{FR}:{OUTLET}"
    history = []
    for back in range(16 * 7, 0, -1):
        day = today - timedelta(days=back)
        cups = 120 if day.weekday() >= 5 else 80 + back % 3
        history.append(float(cups))
        await store.redis.hset(f"{store.prefix(gen)}:s:{scope}:d:{day}", "items", cups)
        if back <= 28:
            for hour, share in ((10, 0.75), (11, 0.25)):
                key = f"{store.prefix(gen)}:s:{scope}:h:{day}T{hour:02d}"
                await store.redis.hset(key, "items", round(cups * share))
    await exported.collect(now)  # starts the day's fit in the background
    await exported.bands_fitted()
    got = samples(await exported.collect(now))
    expected = fc.forecast_daily(history, 2)

    def band(ahead: int, name: str) -> float:
        return value(got, "bobaku_analytics_forecast_cups", hours_ahead=str(ahead), band=name)

    # 09:00 sells nothing on this outlet's recent Wednesdays; 10:00 about three quarters.
    assert (band(0, "yhat"), band(0, "lower"), band(0, "upper")) == (0, 0, 0)
    ten = [band(1, name) for name in ("lower", "yhat", "upper")]
    assert ten[0] <= ten[1] <= ten[2]
    assert ten[2] > ten[0]
    assert abs(ten[1] - expected.mean[0] * 0.75) < 1.0
    assert abs(band(2, "yhat") - expected.mean[0] * 0.25) < 1.0
