"""The business figures as Prometheus metrics, read from the projections when scraped.

Nothing is counted per event here: a scrape reads the all-time and today's rows of every
scope this instance exports (``domain/model.py``: ``s:<scope>:all``, ``k:<scope>:all`` and
the day's ``s:``/``k:`` rows) in three Redis round trips (the lease, the directory, one
pipeline of every scope's rows), so the exported numbers are the API's
numbers, a rebuild gives them back, and the cost of a scrape follows the number of outlets,
never the history (docs/metrics.md "Business (analytics)"; cost in docs/performance.md).

Labels: ``level`` (``brand``, ``franchise``, ``outlet``), ``franchise`` and ``outlet``
(empty above their level), plus ``method`` (payment method), ``hours_ahead`` and ``band``
(forecast). The kitchen histograms are per outlet only (a franchise's are the sum of its
outlets'): about 55 series per outlet and 30 per franchise and for the brand.

Each series is exported by exactly one process, so Prometheus may sum over instances:

- pooled and silo: a scope is exported by the instance whose share keeps its all-time row
  (``Share.keeps``). The pooled instance exports the brand and every pooled franchise and
  outlet; a franchise's silo exports that franchise and its outlets; the pooled instance,
  which keeps a silo franchise's daily totals for HQ's table, does not export them;
- replicas of one instance read the same Redis keys: only the holder of a short lease in
  Redis (``an:<instance>:exporter``, renewed on each scrape) exports them; the others say
  ``bobaku_analytics_metrics_exporter 0``.

Counters only grow; net sales, which a refund lowers, is a gauge (``net_rupiah``), and over
a range it is ``increase(gross) - increase(discounts) - increase(refunds)``. A rebuild
switches generations before it has caught up with the last seconds of events: the exported
counters never step back (the highest value this process exported is kept), so Prometheus
never sees a reset that is not one.

The forecast's band (the next hours' cups, ``yhat``, ``lower``, ``upper``) is fitted once a
day per scope in the background, on the history up to yesterday, and cached: a scrape never
waits for a fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from bobaku.kernel.bus import Message
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import BIN_S, OrderFacts, percentile, sales_figures
from bobaku.services.analytics.service_layer import forecast as fc
from bobaku.services.analytics.service_layer.views import directory

log = logging.getLogger(__name__)

# Live: observed by the projection's consumer of the live order stream when an order's
# payment reaches its figures (the seeded past and a replay after a start are not).
PROJECTION_LAG = Histogram(
    "bobaku_analytics_projection_lag_seconds",
    "From an order's payment (its order.payment_completed) to its figures written",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

LABELS = ("level", "franchise", "outlet")
# (metric, field of the all-time sales row, help): counters, all-time.
COUNTERS = (
    ("orders_placed", "placed", "Orders placed"),
    ("orders_paid", "orders", "Orders paid"),
    ("orders_cancelled", "cancelled", "Orders cancelled (by the customer, staff or the saga)"),
    ("orders_refunded", "refunded_orders", "Paid orders with a refund"),
    ("items", "items", "Cups on paid orders"),
    ("gross_rupiah", "gross", "Gross sales of paid orders, rupiah"),
    ("discounts_rupiah", "discounts", "Discounts on paid orders (promotions, rewards), rupiah"),
    ("refunds_rupiah", "refunds", "Refunded, rupiah"),
)
# (metric, key of sales_figures, help): today's figures (Asia/Jakarta day), gauges.
TODAY = (
    ("orders_placed", "placed", "Orders placed today"),
    ("orders_paid", "orders", "Orders paid today"),
    ("orders_cancelled", "cancelled", "Orders placed today and cancelled"),
    ("items", "items", "Cups on today's paid orders"),
    ("gross_rupiah", "gross", "Gross sales today, rupiah"),
    ("discounts_rupiah", "discounts", "Discounts on today's paid orders, rupiah"),
    ("refunds_rupiah", "refunds", "Refunded on today's orders, rupiah"),
    ("net_rupiah", "net", "Net sales today (gross - discounts - refunds), rupiah"),
)
# Histogram edges (seconds), multiples of the projection's bins (BIN_S): a bin is counted
# under an edge when its upper end is at or below it.
KITCHEN_EDGES = (30, 60, 120, 180, 300, 600, 900, 1800, 3600)
assert all(edge % BIN_S == 0 for edge in KITCHEN_EDGES)

# Take the lease when free, renew it when ours; 1: this process exports.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Scope:
    level: str
    franchise: str = ""
    outlet: str = ""

    @property
    def key(self) -> str:
        """The read models' scope (``domain/model.py``)."""
        if self.level == "brand":
            return "b"
        if self.level == "franchise":
            return f"f:{self.franchise}"
        return f"o:{self.franchise}:{self.outlet}"

    @property
    def labels(self) -> list[str]:
        return [self.level, self.franchise, self.outlet]


def exported_scopes(store: ProjectionStore, known: Mapping[str, Sequence[str]]) -> list[Scope]:
    """The brand, franchises and outlets whose figures this instance exports: those whose
    all-time rows its share keeps (``Share.keeps``), so no two instances export one."""
    share = store.rules.share
    out = [Scope("brand")] if share.keeps("", "s:b:all") else []
    for fid in sorted(known):
        if share.keeps(fid, f"s:f:{fid}:all"):
            out.append(Scope("franchise", fid))
        for oid in sorted(known[fid]):
            if share.keeps(fid, f"s:o:{fid}:{oid}:all"):
                out.append(Scope("outlet", fid, oid))
    return out


def _buckets(row: Mapping[str, int], prefix: str) -> list[tuple[str, float]]:
    bins = {int(k[len(prefix) :]): v for k, v in row.items() if k.startswith(prefix)}
    out = [
        (str(edge), float(sum(n for b, n in bins.items() if (b + 1) * BIN_S <= edge)))
        for edge in KITCHEN_EDGES
    ]
    return [*out, ("+Inf", float(sum(bins.values())))]


@dataclass
class Band:
    day: date
    mean: list[float]  # today, tomorrow
    low: list[float]
    high: list[float]
    profile: dict[int, list[float]]  # weekday -> share of each hour


class BusinessMetrics:
    """The metric source of the analytics app (``kernel.web.METRIC_SOURCES``)."""

    def __init__(
        self, store: ProjectionStore, *, lease_s: float = 90.0, forecast_hours: int = 3
    ) -> None:
        self.store = store
        self.lease_s = lease_s
        self.forecast_hours = forecast_hours
        self.token = secrets.token_hex(8)
        self._lease = store.redis.register_script(LEASE)
        self._release = store.redis.register_script(RELEASE)
        self._high: dict[tuple[str, tuple[str, ...]], float] = {}
        self._bands: dict[str, Band] = {}
        self._fitting: asyncio.Task[None] | None = None

    @property
    def lease_key(self) -> str:
        return f"{self.store.base}:exporter"

    async def exporting(self) -> bool:
        took = await self._lease(keys=[self.lease_key], args=[self.token, int(self.lease_s * 1000)])
        return bool(took)

    async def close(self) -> None:
        """Give the lease back (a replica takes over at its next scrape) and stop fitting."""
        if self._fitting is not None:
            self._fitting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._fitting
        with contextlib.suppress(Exception):
            await self._release(keys=[self.lease_key], args=[self.token])

    # --- a scrape ------------------------------------------------------------------------

    async def collect(self, now: float | None = None) -> list[Metric]:
        at = now if now is not None else time.time()
        exporter = GaugeMetricFamily(
            "bobaku_analytics_metrics_exporter",
            "1: this process exports the business metrics of its instance (the lease holder)",
        )
        if not await self.exporting():
            exporter.add_metric([], 0)
            return [exporter]
        exporter.add_metric([], 1)
        zone = self.store.rules.zone
        today = datetime.fromtimestamp(at, zone).date()
        scopes = exported_scopes(self.store, await directory(self.store))
        keys: list[str] = []
        for s in scopes:
            keys += [f"{kind}:{s.key}:{when}" for kind in "sk" for when in ("all", f"d:{today}")]
        rows = await self.store.rows(keys)
        families = self._sales(scopes, rows[0::4], rows[1::4])  # s:all, s:d:<today>
        families += self._kitchen(scopes, rows[2::4], rows[3::4])  # k:all, k:d:<today>
        families.append(self._forecast(scopes, at))
        return [exporter, *families]

    def _counter(
        self,
        family: CounterMetricFamily | HistogramMetricFamily,
        labels: list[str],
        value: float,
        part: str = "",
    ) -> float:
        """The value, never below what this process exported for the series before."""
        key = (family.name + part, tuple(labels))
        high = max(self._high.get(key, 0.0), value)
        self._high[key] = high
        return high

    def _sales(
        self,
        scopes: Sequence[Scope],
        totals: Sequence[Mapping[str, int]],
        days: Sequence[Mapping[str, int]],
    ) -> list[Metric]:
        counters = [
            (CounterMetricFamily(f"bobaku_analytics_{n}", f"{doc}, all time", labels=LABELS), fld)
            for n, fld, doc in COUNTERS
        ]
        methods = CounterMetricFamily(
            "bobaku_analytics_payment_method_orders",
            "Paid orders by payment method, all time",
            labels=[*LABELS, "method"],
        )
        net = GaugeMetricFamily(
            "bobaku_analytics_net_rupiah",
            "Net sales (gross - discounts - refunds), all time, rupiah: a refund lowers it",
            labels=LABELS,
        )
        today = [
            (GaugeMetricFamily(f"bobaku_analytics_today_{name}", doc, labels=LABELS), key)
            for name, key, doc in TODAY
        ]
        for scope, row, day in zip(scopes, totals, days, strict=True):
            labels = scope.labels
            for family, fld in counters:
                family.add_metric(labels, self._counter(family, labels, row.get(fld, 0)))
            for fld, value in sorted(row.items()):
                if fld.startswith("pm:"):
                    series = [*labels, fld[3:]]
                    methods.add_metric(series, self._counter(methods, series, value))
            net.add_metric(
                labels, row.get("gross", 0) - row.get("discounts", 0) - row.get("refunds", 0)
            )
            figures = sales_figures(day)
            for gauge, key in today:
                gauge.add_metric(labels, figures[key])
        return [*(f for f, _ in counters), methods, net, *(g for g, _ in today)]

    def _kitchen(
        self,
        scopes: Sequence[Scope],
        totals: Sequence[Mapping[str, int]],
        days: Sequence[Mapping[str, int]],
    ) -> list[Metric]:
        prep = HistogramMetricFamily(
            "bobaku_analytics_kitchen_payment_to_ready_seconds",
            "From an order's payment to ready, all time (bins of 15 s)",
            labels=LABELS,
        )
        pick = HistogramMetricFamily(
            "bobaku_analytics_kitchen_ready_to_pickup_seconds",
            "From ready to picked up, all time (bins of 15 s)",
            labels=LABELS,
        )
        late = CounterMetricFamily(
            "bobaku_analytics_kitchen_late_orders",
            "Orders whose payment to ready took longer than the service target, all time",
            labels=LABELS,
        )
        waiting = GaugeMetricFamily(
            "bobaku_analytics_today_kitchen_waiting_orders",
            "Orders paid today and not ready yet (nor cancelled or refunded in full)",
            labels=LABELS,
        )
        p50 = GaugeMetricFamily(
            "bobaku_analytics_today_kitchen_payment_to_ready_p50_seconds",
            "Median payment to ready of today's orders (upper edge of its 15 s bin)",
            labels=LABELS,
        )
        p90 = GaugeMetricFamily(
            "bobaku_analytics_today_kitchen_payment_to_ready_p90_seconds",
            "90th percentile payment to ready of today's orders (upper edge of its 15 s bin)",
            labels=LABELS,
        )
        for scope, row, day in zip(scopes, totals, days, strict=True):
            labels = scope.labels
            # Histograms and the late count per outlet only: a franchise's or the brand's
            # are the sums of its outlets' (sum by (franchise, le)), at a fraction of the series.
            if scope.level == "outlet":
                for family, prefix, total in ((prep, "p:", "pms"), (pick, "u:", "ums")):
                    buckets = [
                        (le, self._counter(family, labels, n, le))
                        for le, n in _buckets(row, prefix)
                    ]
                    seconds = self._counter(family, labels, row.get(total, 0) / 1000, "sum")
                    family.add_metric(labels, buckets, seconds)
                late.add_metric(labels, self._counter(late, labels, row.get("late", 0)))
            waiting.add_metric(labels, day.get("wait", 0))
            bins = {int(k[2:]): v for k, v in day.items() if k.startswith("p:")}
            for gauge, q in ((p50, 0.5), (p90, 0.9)):
                if (value := percentile(bins, q)) is not None:
                    gauge.add_metric(labels, value)
        return [prep, pick, late, waiting, p50, p90]

    # --- the forecast's band -------------------------------------------------------------

    def _forecast(self, scopes: Sequence[Scope], now: float) -> Metric:
        family = GaugeMetricFamily(
            "bobaku_analytics_forecast_cups",
            "Cups forecast for the hour hours_ahead from now (0: this hour), with its 80% "
            "band: band yhat, lower, upper",
            labels=[*LABELS, "hours_ahead", "band"],
        )
        zone = self.store.rules.zone
        local = datetime.fromtimestamp(now, zone)
        today = local.date()
        stale = [s for s in scopes if (b := self._bands.get(s.key)) is None or b.day != today]
        if stale and (self._fitting is None or self._fitting.done()):
            self._fitting = asyncio.create_task(self._fit(stale, today), name="forecast-bands")
        for scope in scopes:
            band = self._bands.get(scope.key)
            if band is None or band.day != today:
                continue
            for ahead in range(self.forecast_hours):
                slot = local.hour + ahead
                day, hour = divmod(slot, 24)
                if day >= len(band.mean):
                    break
                share = band.profile[(today.weekday() + day) % 7][hour]
                for name, values in (
                    ("yhat", band.mean),
                    ("lower", band.low),
                    ("upper", band.high),
                ):
                    family.add_metric(
                        [*scope.labels, str(ahead), name], round(values[day] * share, 3)
                    )
        return family

    async def bands_fitted(self) -> None:
        """Until the background fit a scrape started (if any) is done."""
        if self._fitting is not None:
            await asyncio.shield(self._fitting)

    async def _fit(self, scopes: Iterable[Scope], today: date) -> None:
        try:
            for scope in scopes:
                self._bands[scope.key] = await self.band(scope, today)
        except Exception:
            log.warning("forecast bands not fitted", exc_info=True)

    async def band(self, scope: Scope, today: date) -> Band:
        """Today's and tomorrow's cups at the scope, fitted on the 16 weeks up to yesterday
        (``forecast.forecast_daily``), spread over the hours by the last four weeks' hour
        profile of each weekday; the band's edges are spread by the same shares."""
        days = 16 * 7
        first = today - timedelta(days=days)
        rows = await self.store.rows(
            [f"s:{scope.key}:d:{first + timedelta(days=i)}" for i in range(days)]
        )
        start = today - timedelta(days=28)
        midnight = datetime.combine(start, datetime.min.time())
        hours = [(midnight + timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(28 * 24)]
        hourly = await self.store.rows([f"s:{scope.key}:h:{h}" for h in hours])
        history = [float(r.get("items", 0)) for r in rows]
        result = await asyncio.to_thread(fc.forecast_daily, history, 2)
        profile = fc.hour_profile([float(r.get("items", 0)) for r in hourly], start.weekday())
        return Band(today, result.mean, result.low, result.high, profile)


def observe_lag(messages: Iterable[Message], moved: Iterable[OrderFacts], now: float) -> None:
    """The payment -> figure lag of each order whose payment is in the batch and whose
    figures moved (a redelivered payment moves nothing, so it is not observed again)."""
    ids = {facts.order_id for facts in moved if facts.paid_ts is not None}
    if not ids:
        return
    for message in messages:
        for event in message.events:
            if event.type == "order.payment_completed" and event.data.get("order_id") in ids:
                PROJECTION_LAG.observe(max(now - event.timestamp.timestamp(), 0.0))
