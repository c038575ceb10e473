# ruff: noqa: E501  (PromQL reads best on one line)
"""Grafana dashboards as code: ``python monitoring/grafana/generate.py`` writes
``monitoring/grafana/dashboards/<folder>/<uid>.json`` from the definitions below, built with
grafana-foundation-sdk (Grafana's own typed builders).

Dashboards (docs/observability.md says who sees what):

- ``bobaku-hq`` (folder HQ): the whole brand — today's sales, orders, net sales and
  cancellations per franchise, payment methods, the top outlets, kitchen times, the forecast.
- ``bobaku-franchise`` (folder Franchises): one franchise (variable ``franchise``) by outlet.
- ``bobaku-kitchen`` (folder Franchises): one outlet's kitchen board (``franchise``, ``outlet``).
- ``bobaku-platform`` (folder Platform): RED per service, saga steps, upstreams and breakers,
  JetStream lag and dead letters, the analytics projection's lag, cache hit ratio, the hub.

The business numbers (HQ, franchise, kitchen) are the analytics service's metrics, read
from its projections when scraped (``services/analytics/service_layer/metrics.py``), so
they are the numbers its API and dashboard page show.

Every panel's PromQL runs against a real Prometheus after real traffic in
tests/monitoring/test_dashboards.py and must return data; ``--check`` fails if the JSON
files are not what this script generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

OUT = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="bobaku-prometheus")


@dataclass(frozen=True)
class P:
    """One panel: a title, its queries (expr, legend), a unit, and its kind."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12


def _panel(p: P) -> Any:
    builder: Any = (stat.Panel() if p.kind == "stat" else timeseries.Panel()).title(p.title)
    builder = builder.datasource(DS).unit(p.unit).span(p.width).height(6 if p.kind == "stat" else 8)
    for i, (expr, legend) in enumerate(p.queries):
        builder = builder.with_target(
            prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        )
    return builder


def _var(name: str, query: str, label: str) -> Any:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query({"query": query, "refId": name})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def _dashboard(uid: str, title: str, tags: list[str], rows: list[tuple[str, list[P]]],
               variables: tuple[Any, ...] = ()) -> dict[str, Any]:  # fmt: skip
    board = (
        db.Dashboard(title).uid(uid).tags(["bobaku", *tags]).refresh("30s")
        .time("now-6h", "now").timezone("Asia/Jakarta")
    )  # fmt: skip
    for variable in variables:
        board = board.with_variable(variable)
    for row_title, panels in rows:
        board = board.with_row(db.Row(row_title))
        for p in panels:
            board = board.with_panel(_panel(p))
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


RI = "$__rate_interval"
NOT_PROBES = 'route!~"/(healthz|readyz|metrics)"'

# Business numbers: the analytics service's metrics (docs/metrics.md "Business (analytics)"),
# exported once per scope whichever instance keeps it, so every query sums over instances.
A = "bobaku_analytics_"
BRAND_LEVEL = 'level="brand"'
FRANCHISE_LEVEL = 'level="franchise"'
OUTLET_LEVEL = 'level="outlet"'
F = 'level="franchise", franchise="$franchise"'
F_OUTLETS = 'level="outlet", franchise="$franchise"'
FO = 'level="outlet", franchise="$franchise", outlet="$outlet"'


def net_over(sel: str, window: str = "$__range", by: str = "") -> str:
    """Net sales over a window: a refund lowers net, so it is gross - discounts - refunds,
    each a counter, rather than the increase of a number that may fall."""
    grouping = f" by ({by}) " if by else ""
    return " - ".join(
        f"sum{grouping}(increase({A}{name}_rupiah_total{{{sel}}}[{window}]))"
        for name in ("gross", "discounts", "refunds")
    )


def net_rate(sel: str, by: str) -> str:
    """Net sales per second, by ``by``."""
    return " - ".join(
        f"sum by ({by}) (rate({A}{name}_rupiah_total{{{sel}}}[{RI}]))"
        for name in ("gross", "discounts", "refunds")
    )


def quantile(q: float, metric: str, sel: str, by: str = "") -> str:
    return f"histogram_quantile({q}, sum by ({by + ', ' if by else ''}le) (rate({A}{metric}_bucket{{{sel}}}[{RI}])))"


def today(title: str, metric: str, sel: str, unit: str = "short", width: int = 6) -> P:
    return P(title, ((f"sum({A}today_{metric}{{{sel}}})", title.lower()),), unit, "stat", width)


def per_order_today(title: str, sel: str, width: int = 6) -> P:
    """Net sales per paid order today (the average basket)."""
    expr = f"sum({A}today_net_rupiah{{{sel}}}) / sum({A}today_orders_paid{{{sel}}})"
    return P(title, ((expr, "IDR"),), "currencyIDR", "stat", width)


def forecast(title: str, sel: str) -> P:
    """This hour's cups: the forecast with its band, and what is being sold (per hour)."""
    now = 'hours_ahead="0"'
    return P(
        title,
        (
            (f'sum({A}forecast_cups{{{sel}, {now}, band="yhat"}})', "forecast"),
            (f'sum({A}forecast_cups{{{sel}, {now}, band="lower"}})', "lower (80%)"),
            (f'sum({A}forecast_cups{{{sel}, {now}, band="upper"}})', "upper (80%)"),
            (f"sum(rate({A}items_total{{{sel}}}[{RI}])) * 3600", "sold (cups/h)"),
        ),
    )


def ahead(title: str, sel: str) -> P:
    """The next hours' forecast cups, now."""
    return P(
        title,
        ((f'sum by (hours_ahead) ({A}forecast_cups{{{sel}, band="yhat"}})', "+{{hours_ahead}} h"),),
        kind="stat",
        width=12,
    )


def hq() -> dict[str, Any]:
    return _dashboard(
        "bobaku-hq",
        "BobaKu HQ overview",
        ["hq"],
        [
            (
                "Today (Asia/Jakarta)",
                [
                    today("Net sales today", "net_rupiah", BRAND_LEVEL, "currencyIDR"),
                    today("Paid orders today", "orders_paid", BRAND_LEVEL),
                    per_order_today("Average basket today", BRAND_LEVEL),
                    P(
                        "Cancellation rate today",
                        (
                            (
                                f"sum({A}today_orders_cancelled{{{BRAND_LEVEL}}}) / sum({A}today_orders_placed{{{BRAND_LEVEL}}})",
                                "cancelled",
                            ),
                        ),
                        "percentunit",
                        "stat",
                        6,
                    ),
                ],
            ),
            (
                "Range",
                [
                    P(
                        "Orders placed (range)",
                        (
                            (
                                f"sum(increase({A}orders_placed_total{{{BRAND_LEVEL}}}[$__range]))",
                                "orders",
                            ),
                        ),
                        kind="stat",
                        width=6,
                    ),
                    P(
                        "Net sales (range)",
                        ((net_over(BRAND_LEVEL), "IDR"),),
                        "currencyIDR",
                        "stat",
                        6,
                    ),
                    P(
                        "Paid / placed (range)",
                        (
                            (
                                f"sum(increase({A}orders_paid_total{{{BRAND_LEVEL}}}[$__range])) / sum(increase({A}orders_placed_total{{{BRAND_LEVEL}}}[$__range]))",
                                "paid",
                            ),
                        ),
                        "percentunit",
                        "stat",
                        6,
                    ),
                    P(
                        "Cancelled (range)",
                        (
                            (
                                f"sum(increase({A}orders_cancelled_total{{{BRAND_LEVEL}}}[$__range]))",
                                "cancelled",
                            ),
                        ),
                        kind="stat",
                        width=6,
                    ),
                ],
            ),
            (
                "Franchises",
                [
                    P(
                        "Orders per minute by franchise",
                        (
                            (
                                f"sum by (franchise) (rate({A}orders_placed_total{{{FRANCHISE_LEVEL}}}[{RI}])) * 60",
                                "{{franchise}}",
                            ),
                        ),
                    ),
                    P(
                        "Net sales per hour by franchise",
                        ((f"({net_rate(FRANCHISE_LEVEL, 'franchise')}) * 3600", "{{franchise}}"),),
                        "currencyIDR",
                    ),
                    P(
                        "Net sales today by franchise",
                        (
                            (
                                f"sum by (franchise) ({A}today_net_rupiah{{{FRANCHISE_LEVEL}}})",
                                "{{franchise}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Top outlets by net sales (range)",
                        (
                            (
                                f"topk(10, {net_over(OUTLET_LEVEL, by='franchise, outlet')})",
                                "{{franchise}} {{outlet}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Payment methods (range)",
                        (
                            (
                                f"sum by (method) (increase({A}payment_method_orders_total{{{BRAND_LEVEL}}}[$__range]))",
                                "{{method}}",
                            ),
                        ),
                    ),
                    P(
                        "Refunded by franchise (range)",
                        (
                            (
                                f"sum by (franchise) (increase({A}refunds_rupiah_total{{{FRANCHISE_LEVEL}}}[$__range]))",
                                "{{franchise}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Kitchen payment to ready p90 by franchise",
                        (
                            (
                                quantile(
                                    0.9,
                                    "kitchen_payment_to_ready_seconds",
                                    OUTLET_LEVEL,  # a franchise's histogram: its outlets' sum
                                    "franchise",
                                ),
                                "{{franchise}}",
                            ),
                        ),
                        "s",
                    ),
                    forecast("Cups this hour: forecast and sold (brand)", BRAND_LEVEL),
                ],
            ),
        ],
    )


def _franchise_var(only: str | None) -> Any:
    """HQ picks any franchise; an owner's org gets a constant: their own, nothing else."""
    if only is not None:
        return db.ConstantVariable("franchise").value(only)
    return _var(
        "franchise",
        f"label_values({A}orders_placed_total{{{FRANCHISE_LEVEL}}}, franchise)",
        "Franchise",
    )


def _suffix(only: str | None) -> str:
    return f"-{only}" if only else ""


def franchise(only: str | None = None) -> dict[str, Any]:
    return _dashboard(
        f"bobaku-franchise{_suffix(only)}",
        f"BobaKu franchise {only or ''}".strip(),
        ["franchise"],
        [
            (
                "Today (Asia/Jakarta)",
                [
                    today("Net sales today", "net_rupiah", F, "currencyIDR"),
                    today("Paid orders today", "orders_paid", F),
                    per_order_today("Average basket today", F),
                    today("Waiting in the kitchens", "kitchen_waiting_orders", F),
                ],
            ),
            (
                "Sales",
                [
                    P(
                        "Orders placed (range)",
                        ((f"sum(increase({A}orders_placed_total{{{F}}}[$__range]))", "orders"),),
                        kind="stat",
                        width=8,
                    ),
                    P("Net sales (range)", ((net_over(F), "IDR"),), "currencyIDR", "stat", 8),
                    P(
                        "Cancelled (range)",
                        (
                            (
                                f"sum(increase({A}orders_cancelled_total{{{F}}}[$__range]))",
                                "cancelled",
                            ),
                        ),
                        kind="stat",
                        width=8,
                    ),
                    P(
                        "Orders per minute by outlet",
                        (
                            (
                                f"sum by (outlet) (rate({A}orders_placed_total{{{F_OUTLETS}}}[{RI}])) * 60",
                                "{{outlet}}",
                            ),
                        ),
                    ),
                    P(
                        "Net sales by outlet (range)",
                        ((net_over(F_OUTLETS, by="outlet"), "{{outlet}}"),),
                        "currencyIDR",
                    ),
                    P(
                        "Net sales today by outlet",
                        ((f"sum by (outlet) ({A}today_net_rupiah{{{F_OUTLETS}}})", "{{outlet}}"),),
                        "currencyIDR",
                    ),
                    P(
                        "Refunded by outlet (range)",
                        (
                            (
                                f"sum by (outlet) (increase({A}refunds_rupiah_total{{{F_OUTLETS}}}[$__range]))",
                                "{{outlet}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Payment methods (range)",
                        (
                            (
                                f"sum by (method) (increase({A}payment_method_orders_total{{{F}}}[$__range]))",
                                "{{method}}",
                            ),
                        ),
                    ),
                ],
            ),
            (
                "Kitchens and forecast",
                [
                    P(
                        "Payment to ready p90 by outlet",
                        (
                            (
                                quantile(
                                    0.9, "kitchen_payment_to_ready_seconds", F_OUTLETS, "outlet"
                                ),
                                "{{outlet}}",
                            ),
                        ),
                        "s",
                    ),
                    P(
                        "Waiting in the kitchen by outlet",
                        (
                            (
                                f"sum by (outlet) ({A}today_kitchen_waiting_orders{{{F_OUTLETS}}})",
                                "{{outlet}}",
                            ),
                        ),
                    ),
                    forecast("Cups this hour: forecast and sold", F),
                    ahead("Cups forecast, the next hours", F),
                ],
            ),
        ],
        (_franchise_var(only),),
    )


def kitchen(only: str | None = None) -> dict[str, Any]:
    return _dashboard(
        f"bobaku-kitchen{_suffix(only)}",
        f"BobaKu outlet kitchen board {only or ''}".strip(),
        ["franchise", "kitchen"],
        [
            (
                "Now",
                [
                    today("Waiting", "kitchen_waiting_orders", FO),
                    today(
                        "Payment to ready p50 today",
                        "kitchen_payment_to_ready_p50_seconds",
                        FO,
                        "s",
                    ),
                    today(
                        "Payment to ready p90 today",
                        "kitchen_payment_to_ready_p90_seconds",
                        FO,
                        "s",
                    ),
                    today("Paid orders today", "orders_paid", FO),
                ],
            ),
            (
                "Flow",
                [
                    P(
                        "Orders paid vs ready per minute",
                        (
                            (f"sum(rate({A}orders_paid_total{{{FO}}}[{RI}])) * 60", "paid"),
                            (
                                f"sum(rate({A}kitchen_payment_to_ready_seconds_count{{{FO}}}[{RI}])) * 60",
                                "ready",
                            ),
                        ),
                    ),
                    P(
                        "Kitchen times",
                        (
                            (
                                quantile(0.5, "kitchen_payment_to_ready_seconds", FO),
                                "payment to ready p50",
                            ),
                            (
                                quantile(0.9, "kitchen_payment_to_ready_seconds", FO),
                                "payment to ready p90",
                            ),
                            (
                                quantile(0.9, "kitchen_ready_to_pickup_seconds", FO),
                                "ready to pick-up p90",
                            ),
                        ),
                        "s",
                    ),
                    forecast("Cups this hour: forecast and sold", FO),
                    ahead("Cups forecast, the next hours", FO),
                    P(
                        "Kitchen screens connected (hub)",
                        (('sum(bobaku_hub_subscriptions{namespace="kitchen"})', "subscriptions"),),
                    ),
                ],
            ),
        ],
        (
            _franchise_var(only),
            _var(
                "outlet",
                f'label_values({A}orders_placed_total{{{OUTLET_LEVEL}, franchise="$franchise"}}, outlet)',
                "Outlet",
            ),
        ),
    )


def platform() -> dict[str, Any]:
    return _dashboard(
        "bobaku-platform",
        "BobaKu platform health",
        ["platform"],
        [
            (
                "RED per service",
                [
                    P(
                        "Requests/s by service",
                        (
                            (
                                f"sum by (service) (rate(bobaku_http_requests_total{{{NOT_PROBES}}}[{RI}]))",
                                "{{service}}",
                            ),
                        ),
                    ),
                    P(
                        "Error ratio (5xx) by service",
                        (("service:bobaku_http_errors:ratio_rate5m", "{{service}}"),),
                        "percentunit",
                    ),
                    P(
                        "Latency p95 by service",
                        (
                            (
                                f"histogram_quantile(0.95, sum by (service, le) (rate(bobaku_http_request_duration_seconds_bucket{{{NOT_PROBES}}}[{RI}])))",
                                "{{service}}",
                            ),
                        ),
                        "s",
                    ),
                    P("Targets up", (('sum by (service) (up{job="bobaku"})', "{{service}}"),)),
                ],
            ),
            (
                "Order path SLO",
                [
                    P(
                        "Order API availability (5m)",
                        (("1 - slo:order_errors:ratio_rate5m", "availability"),),
                        "percentunit",
                        "stat",
                        8,
                    ),
                    P(
                        "Saga step p95",
                        (
                            (
                                f"histogram_quantile(0.95, sum by (step, le) (rate(bobaku_saga_step_duration_seconds_bucket[{RI}])))",
                                "{{step}}",
                            ),
                        ),
                        "s",
                        width=8,
                    ),
                    P(
                        "Saga steps by outcome",
                        (
                            (
                                f"sum by (step, outcome) (rate(bobaku_saga_steps_total[{RI}]))",
                                "{{step}} {{outcome}}",
                            ),
                        ),
                        width=8,
                    ),
                ],
            ),
            (
                "Upstreams and providers",
                [
                    P(
                        "Upstream latency p95",
                        (
                            (
                                f"histogram_quantile(0.95, sum by (upstream, le) (rate(bobaku_upstream_call_duration_seconds_bucket[{RI}])))",
                                "{{upstream}}",
                            ),
                        ),
                        "s",
                    ),
                    P(
                        "Upstream failure ratio",
                        (("upstream:bobaku_upstream_failures:ratio_rate5m", "{{upstream}}"),),
                        "percentunit",
                    ),
                    P(
                        "Upstream calls by outcome",
                        (
                            (
                                f"sum by (upstream, outcome) (rate(bobaku_upstream_calls_total[{RI}]))",
                                "{{upstream}} {{outcome}}",
                            ),
                        ),
                    ),
                    P(
                        "Circuit breakers (0 closed, 1 half-open, 2 open)",
                        (("max by (upstream) (bobaku_circuit_breaker_state)", "{{upstream}}"),),
                    ),
                    P(
                        "Cache hit ratio",
                        (
                            (
                                f'(sum by (cache) (rate(bobaku_cache_lookups_total{{result="hit"}}[{RI}])) or sum by (cache) (rate(bobaku_cache_lookups_total[{RI}])) * 0) / sum by (cache) (rate(bobaku_cache_lookups_total[{RI}]))',
                                "{{cache}}",
                            ),
                        ),
                        "percentunit",
                    ),
                ],
            ),
            (
                "JetStream",
                [
                    P(
                        "Analytics: payment to figure (projection lag)",
                        (
                            (
                                f"histogram_quantile(0.5, sum by (le) (rate({A}projection_lag_seconds_bucket[{RI}])))",
                                "p50",
                            ),
                            (
                                f"histogram_quantile(0.99, sum by (le) (rate({A}projection_lag_seconds_bucket[{RI}])))",
                                "p99",
                            ),
                        ),
                        "s",
                    ),
                    P(
                        "Consumer lag (server)",
                        (("max by (consumer) (nats_jetstream_consumer_pending)", "{{consumer}}"),),
                    ),
                    P(
                        "Dead letters (range)",
                        (
                            (
                                "sum by (consumer) (increase(bobaku_events_dead_lettered_total[$__range]))",
                                "{{consumer}}",
                            ),
                        ),
                    ),
                    P(
                        "Events stored by kind",
                        ((f"sum by (kind) (rate(bobaku_events_stored_total[{RI}]))", "{{kind}}"),),
                    ),
                    P(
                        "Stream messages",
                        (("sum by (stream) (nats_jetstream_stream_messages)", "{{stream}}"),),
                    ),
                ],
            ),
            (
                "Hub",
                [
                    P("Connections", (("sum(bobaku_hub_connections)", "connections"),)),
                    P(
                        "Delivery latency p95",
                        (
                            (
                                f"histogram_quantile(0.95, sum by (le) (rate(bobaku_hub_delivery_latency_seconds_bucket[{RI}])))",
                                "p95",
                            ),
                        ),
                        "s",
                    ),
                    P(
                        "Frames dropped by reason",
                        ((f"sum by (reason) (rate(bobaku_hub_drops_total[{RI}]))", "{{reason}}"),),
                    ),
                    P("Redis memory", (("redis_used_memory_bytes", "used"),), "bytes"),
                ],
            ),
        ],
    )


# The franchises whose owners get a Grafana org of their own (the demo brand's; onboarding
# a franchise adds it here, see docs/observability.md).
FRANCHISES = ("fr-jakarta", "fr-bandung")


def boards() -> dict[str, list[dict[str, Any]]]:
    """Folder under dashboards/ → its dashboards. ``hq``, ``franchises`` and ``platform``
    belong to HQ's org; ``org-<franchise>`` to that owner's org, pinned to their franchise."""
    out = {"hq": [hq()], "franchises": [franchise(), kitchen()], "platform": [platform()]}
    for fr in FRANCHISES:
        out[f"org-{fr}"] = [franchise(fr), kitchen(fr)]
    return out


def render() -> dict[Path, str]:
    out = {}
    for folder, items in boards().items():
        for board in items:
            out[OUT / folder / f"{board['uid']}.json"] = (
                json.dumps(board, indent=2, sort_keys=True) + "\n"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="generate the Grafana dashboards")
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    stale = []
    for path, text in render().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.exit(f"stale dashboards (run python monitoring/grafana/generate.py): {stale}")


if __name__ == "__main__":
    main()
