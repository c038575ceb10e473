# ruff: noqa: E501  (PromQL reads best on one line)
"""Grafana dashboards as code: ``python monitoring/grafana/generate.py`` writes
``monitoring/grafana/dashboards/<folder>/<uid>.json`` from the definitions below, built with
grafana-foundation-sdk (Grafana's own typed builders).

Dashboards (docs/observability.md says who sees what):

- ``bobaku-hq`` (folder HQ): the whole brand — orders, revenue, cancellations per franchise,
  payments per provider, the top outlets.
- ``bobaku-franchise`` (folder Franchises): one franchise (variable ``franchise``) by outlet.
- ``bobaku-kitchen`` (folder Franchises): one outlet's kitchen board (``franchise``, ``outlet``).
- ``bobaku-platform`` (folder Platform): RED per service, saga steps, upstreams and breakers,
  JetStream lag and dead letters, cache hit ratio, the hub.

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
F = 'franchise="$franchise"'
FO = 'franchise="$franchise", outlet="$outlet"'
NOT_PROBES = 'route!~"/(healthz|readyz|metrics)"'


def hq() -> dict[str, Any]:
    return _dashboard(
        "bobaku-hq",
        "BobaKu HQ overview",
        ["hq"],
        [
            (
                "Today",
                [
                    P(
                        "Orders placed (range)",
                        (("sum(increase(bobaku_orders_placed_total[$__range]))", "orders"),),
                        kind="stat",
                        width=6,
                    ),
                    P(
                        "Revenue (range)",
                        (("sum(increase(bobaku_revenue_rupiah_total[$__range]))", "IDR"),),
                        "currencyIDR",
                        "stat",
                        6,
                    ),
                    P(
                        "Paid / placed",
                        (
                            (
                                "sum(increase(bobaku_orders_paid_total[$__range])) / sum(increase(bobaku_orders_placed_total[$__range]))",
                                "paid",
                            ),
                        ),
                        "percentunit",
                        "stat",
                        6,
                    ),
                    P(
                        "Cancelled (range)",
                        (("sum(increase(bobaku_orders_cancelled_total[$__range]))", "cancelled"),),
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
                                f"sum by (franchise) (rate(bobaku_orders_placed_total[{RI}])) * 60",
                                "{{franchise}}",
                            ),
                        ),
                    ),
                    P(
                        "Revenue per hour by franchise",
                        (
                            (
                                f"sum by (franchise) (rate(bobaku_revenue_rupiah_total[{RI}])) * 3600",
                                "{{franchise}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Top outlets by revenue (range)",
                        (
                            (
                                "topk(10, sum by (franchise, outlet) (increase(bobaku_revenue_rupiah_total[$__range])))",
                                "{{franchise}} {{outlet}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Payments captured by provider",
                        (
                            (
                                f"sum by (provider) (rate(bobaku_payments_captured_total[{RI}])) * 60",
                                "{{provider}}",
                            ),
                        ),
                    ),
                    P(
                        "Refunded (range)",
                        (
                            (
                                "sum by (franchise) (increase(bobaku_refunded_rupiah_total[$__range]))",
                                "{{franchise}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Kitchen prep p90 by franchise",
                        (
                            (
                                f"histogram_quantile(0.9, sum by (franchise, le) (rate(bobaku_kitchen_prep_seconds_bucket[{RI}])))",
                                "{{franchise}}",
                            ),
                        ),
                        "s",
                    ),
                ],
            ),
        ],
    )


def _franchise_var(only: str | None) -> Any:
    """HQ picks any franchise; an owner's org gets a constant: their own, nothing else."""
    if only is not None:
        return db.ConstantVariable("franchise").value(only)
    return _var("franchise", "label_values(bobaku_orders_placed_total, franchise)", "Franchise")


def _suffix(only: str | None) -> str:
    return f"-{only}" if only else ""


def franchise(only: str | None = None) -> dict[str, Any]:
    return _dashboard(
        f"bobaku-franchise{_suffix(only)}",
        f"BobaKu franchise {only or ''}".strip(),
        ["franchise"],
        [
            (
                "Sales",
                [
                    P(
                        "Orders placed (range)",
                        (
                            (
                                f"sum(increase(bobaku_orders_placed_total{{{F}}}[$__range]))",
                                "orders",
                            ),
                        ),
                        kind="stat",
                        width=8,
                    ),
                    P(
                        "Revenue (range)",
                        ((f"sum(increase(bobaku_revenue_rupiah_total{{{F}}}[$__range]))", "IDR"),),
                        "currencyIDR",
                        "stat",
                        8,
                    ),
                    P(
                        "Cancelled (range)",
                        (
                            (
                                f"sum(increase(bobaku_orders_cancelled_total{{{F}}}[$__range]))",
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
                                f"sum by (outlet) (rate(bobaku_orders_placed_total{{{F}}}[{RI}])) * 60",
                                "{{outlet}}",
                            ),
                        ),
                    ),
                    P(
                        "Revenue by outlet (range)",
                        (
                            (
                                f"sum by (outlet) (increase(bobaku_revenue_rupiah_total{{{F}}}[$__range]))",
                                "{{outlet}}",
                            ),
                        ),
                        "currencyIDR",
                    ),
                    P(
                        "Refunds by outlet (range)",
                        (
                            (
                                f"sum by (outlet) (increase(bobaku_orders_refunded_total{{{F}}}[$__range]))",
                                "{{outlet}}",
                            ),
                        ),
                    ),
                    P(
                        "Payments by provider",
                        (
                            (
                                f"sum by (provider) (increase(bobaku_payments_captured_total{{{F}}}[$__range]))",
                                "{{provider}}",
                            ),
                        ),
                    ),
                ],
            ),
            (
                "Kitchens",
                [
                    P(
                        "Prep time p90 by outlet",
                        (
                            (
                                f"histogram_quantile(0.9, sum by (outlet, le) (rate(bobaku_kitchen_prep_seconds_bucket{{{F}}}[{RI}])))",
                                "{{outlet}}",
                            ),
                        ),
                        "s",
                    ),
                    P(
                        "Orders in preparation by outlet",
                        (
                            (
                                f"sum by (outlet) (bobaku_kitchen_orders_in_preparation{{{F}}})",
                                "{{outlet}}",
                            ),
                        ),
                    ),
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
                    P(
                        "In preparation",
                        ((f"sum(bobaku_kitchen_orders_in_preparation{{{FO}}})", "orders"),),
                        kind="stat",
                        width=6,
                    ),
                    P(
                        "Prep p50",
                        (
                            (
                                f"histogram_quantile(0.5, sum by (le) (rate(bobaku_kitchen_prep_seconds_bucket{{{FO}}}[{RI}])))",
                                "p50",
                            ),
                        ),
                        "s",
                        "stat",
                        6,
                    ),
                    P(
                        "Prep p90",
                        (
                            (
                                f"histogram_quantile(0.9, sum by (le) (rate(bobaku_kitchen_prep_seconds_bucket{{{FO}}}[{RI}])))",
                                "p90",
                            ),
                        ),
                        "s",
                        "stat",
                        6,
                    ),
                    P(
                        "Paid orders (range)",
                        ((f"sum(increase(bobaku_orders_paid_total{{{FO}}}[$__range]))", "orders"),),
                        kind="stat",
                        width=6,
                    ),
                ],
            ),
            (
                "Flow",
                [
                    P(
                        "Orders paid vs done per minute",
                        (
                            (f"sum(rate(bobaku_orders_paid_total{{{FO}}}[{RI}])) * 60", "paid"),
                            (
                                f"sum(rate(bobaku_kitchen_prep_seconds_count{{{FO}}}[{RI}])) * 60",
                                "ready",
                            ),
                        ),
                    ),
                    P(
                        "Prep time",
                        (
                            (
                                f"histogram_quantile(0.5, sum by (le) (rate(bobaku_kitchen_prep_seconds_bucket{{{FO}}}[{RI}])))",
                                "p50",
                            ),
                            (
                                f"histogram_quantile(0.9, sum by (le) (rate(bobaku_kitchen_prep_seconds_bucket{{{FO}}}[{RI}])))",
                                "p90",
                            ),
                        ),
                        "s",
                    ),
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
                'label_values(bobaku_orders_placed_total{franchise="$franchise"}, outlet)',
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
