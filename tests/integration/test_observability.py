"""Observability on the whole platform: Prometheus scrapes every process the launcher
starts, every Grafana panel's PromQL returns data after real traffic, and one order placed
through the gateway is one trace in Jaeger from the gateway to the hub's publication.

Prometheus, Jaeger and the NATS/Redis collector are the real servers scripts/infra.sh starts
for the suite (scripts/observability.sh); nothing here is faked but the payment providers.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from launcher import available
from scrape_config import write_targets
from support import RunningPlatform, call, eventually

from bobaku.kernel.auth import Role, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "monitoring" / "grafana" / "dashboards"
ITEM = {"menu_id": "m001", "quantity": 1, "customizations": {"sugar_level": 50}}
# What a dashboard's variables and Grafana's own macros stand for in these checks.
MACROS = {
    "$__rate_interval": "30s",
    "$__range": "15m",
    "$franchise": "fr-jakarta",
    "$outlet": "outlet-01",
}


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through `make test` (scripts/infra.sh)")
    return value


@pytest.fixture(scope="module")
async def scraped(platform: RunningPlatform) -> AsyncIterator[RunningPlatform]:
    """Point the suite's Prometheus at this platform's processes (their free ports)."""
    targets = Path(_env("BOBAKU_SCRAPE_TARGETS_DIR")) / "platform.json"
    write_targets(targets, platform.platform.procs)
    yield platform
    write_targets(targets, [])  # the platform stops after the session; scrape nothing then


async def prom_query(http: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
    async with http.get(f"{_env('PROMETHEUS_URL')}/api/v1/query", params={"query": expr}) as resp:
        body = await resp.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


# ------------------------------------------------------------------ traffic ---


async def register(http: aiohttp.ClientSession, gw: str) -> str:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/register",
        json={"email": f"obs-{secrets.token_hex(5)}@example.com", "password": "boba-lover-99",
              "name": "Obs Test", "language": "id"},
    )  # fmt: skip
    assert status == 201, body
    return str(body["data"]["tokens"]["access_token"])


async def force(http: aiohttp.ClientSession, platform: RunningPlatform, provider: str,
                **body: Any) -> None:  # fmt: skip
    url = f"{platform.url('provider-sim')}/_control/{provider}/next"
    status, reply = await call(http, "POST", url, json=body)
    assert status in (200, 201), reply


async def place(http: aiohttp.ClientSession, gw: str, token: str, provider: str) -> tuple[str, str]:
    """Place an order; returns its id and the trace id the gateway answered with."""
    async with http.post(
        f"{gw}/api/v1/orders",
        json={"outlet_id": "outlet-01", "items": [ITEM], "payment_method": provider},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)},
    ) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return str(body["data"]["id"]), resp.headers["X-Trace-ID"]


async def reaches(http: aiohttp.ClientSession, gw: str, token: str, order_id: str,
                  *statuses: str) -> None:  # fmt: skip
    async def probe() -> bool:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        return bool(body["data"]["order"]["status"]["current"] in statuses)

    await eventually(probe, timeout=40, interval=0.2)


async def kitchen(http: aiohttp.ClientSession, gw: str, issuer: TokenIssuer, order_id: str,
                  *actions: str) -> None:  # fmt: skip
    barista = issuer.issue("u-obs-barista", [Role.STAFF], franchise_id="fr-jakarta",
                           outlet_ids=["outlet-01"])  # fmt: skip
    for action in actions:
        status, body = await call(http, "POST", f"{gw}/api/v1/orders/{order_id}/{action}", barista)
        assert status == 200, body


async def refund(http: aiohttp.ClientSession, gw: str, issuer: TokenIssuer, order_id: str) -> None:
    boss = issuer.issue("u-obs-manager", [Role.OUTLET_MANAGER], franchise_id="fr-jakarta",
                        outlet_ids=["outlet-01"])  # fmt: skip
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{order_id}/refund", boss,
        json={"amount": 1000, "reason": "too sweet"},
        headers={"Idempotency-Key": secrets.token_hex(6)},
    )  # fmt: skip
    assert status == 202, body


@pytest.fixture(scope="module")
async def traffic(scraped: RunningPlatform, token_issuer: TokenIssuer) -> dict[str, str]:
    """Real orders through the gateway: served, refunded, failed, and one still in the kitchen."""
    gw = scraped.gateway
    async with aiohttp.ClientSession() as http:
        token = await register(http, gw)
        await force(http, scraped, "gopay", outcome="success", delay_s=0.1)
        served, trace_id = await place(http, gw, token, "gopay")
        await reaches(http, gw, token, served, "being_prepared")
        await kitchen(http, gw, token_issuer, served, "bump", "complete")

        await force(http, scraped, "gopay", outcome="success", delay_s=0.1)
        refunded, _ = await place(http, gw, token, "gopay")
        await reaches(http, gw, token, refunded, "being_prepared")
        await refund(http, gw, token_issuer, refunded)

        await force(http, scraped, "ovo", outcome="failure", delay_s=0.1)
        failed, _ = await place(http, gw, token, "ovo")
        await reaches(http, gw, token, failed, "cancelled")

        await force(http, scraped, "dana", outcome="success", delay_s=0.1)
        waiting, _ = await place(http, gw, token, "dana")
        await reaches(http, gw, token, waiting, "being_prepared")
    return {"served": served, "trace_id": trace_id}


# ---------------------------------------------------------------- prometheus ---


async def test_prometheus_scrapes_every_process_the_launcher_starts(
    scraped: RunningPlatform,
) -> None:
    expected = {p.name for p in available()}
    async with aiohttp.ClientSession() as http:

        async def all_up() -> set[str]:
            result = await prom_query(http, 'up{job="bobaku"} == 1')
            seen = {r["metric"]["service"] for r in result}
            assert seen == expected, f"up: {sorted(seen)}; not up: {sorted(expected - seen)}"
            return seen

        assert await eventually(all_up, timeout=60, interval=1) == expected
        # NATS (JetStream consumers), Redis and Prometheus's own peers are scraped too.
        for job in ("infra", "alertmanager", "prometheus"):
            assert await prom_query(http, f'up{{job="{job}"}} == 1'), job
        assert await prom_query(http, "nats_up == 1")
        assert await prom_query(http, "redis_up == 1")


def panels() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DASHBOARDS.rglob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets") or []:
                found.append((board["uid"], panel["title"], target["expr"]))
    return found


def substitute(expr: str) -> str:
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    assert "$" not in expr, f"unknown variable in {expr}"
    return expr


async def test_every_dashboard_panel_returns_data_after_real_traffic(
    traffic: dict[str, str],
) -> None:
    queries = panels()
    assert len(queries) > 40
    async with aiohttp.ClientSession() as http:
        empty: list[str] = []

        async def all_answer() -> bool:
            empty.clear()
            for uid, title, expr in queries:
                if not await prom_query(http, substitute(expr)):
                    empty.append(f"{uid} / {title}: {expr}")
            return not empty

        try:
            await eventually(all_answer, timeout=90, interval=3)
        except AssertionError:
            pytest.fail("panels whose query returned nothing:\n" + "\n".join(empty))


OUTLET_01 = 'level="outlet", franchise="fr-jakarta", outlet="outlet-01"'
# Today's figures as the analytics API names them -> the gauge the service exports.
TODAY = {
    "placed": "orders_placed", "orders": "orders_paid", "cancelled": "orders_cancelled",
    "gross": "gross_rupiah", "discounts": "discounts_rupiah", "refunds": "refunds_rupiah",
    "net": "net_rupiah", "items": "items",
}  # fmt: skip


async def prom_value(http: aiohttp.ClientSession, expr: str) -> float | None:
    result = await prom_query(http, expr)
    return float(result[0]["value"][1]) if result else None


async def api_today(http: aiohttp.ClientSession, gw: str, token: str) -> dict[str, Any]:
    day = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
    status, body = await call(
        http, "GET", f"{gw}/api/v1/analytics/franchises/fr-jakarta/outlets/outlet-01/sales",
        token, params={"from": day, "to": day},
    )  # fmt: skip
    assert status == 200, body
    return dict(body["data"]["totals"])


async def exported_today(http: aiohttp.ClientSession) -> dict[str, float | None]:
    return {
        figure: await prom_value(http, f"sum(bobaku_analytics_today_{name}{{{OUTLET_01}}})")
        for figure, name in TODAY.items()
    }


async def test_business_metrics_are_the_analytics_figures_and_a_refund_moves_net(
    traffic: dict[str, str], scraped: RunningPlatform, token_issuer: TokenIssuer
) -> None:
    """What Prometheus scraped from the analytics service is what its API answers, and a
    refund through the gateway lowers the exported net sales by its amount."""
    gw = scraped.gateway
    hq = token_issuer.issue("u-obs-hq", [Role.HQ_ADMIN])
    async with aiohttp.ClientSession() as http:
        seen: dict[str, Any] = {}

        async def agree() -> bool:
            seen["api"] = api = await api_today(http, gw, hq)
            seen["prometheus"] = exported = await exported_today(http)
            return api["placed"] >= 4 and all(exported[k] == api[k] for k in TODAY)

        try:
            await eventually(agree, timeout=60, interval=1)
        except AssertionError:
            pytest.fail(f"exported {seen.get('prometheus')} != API {seen.get('api')}")

        net = f"sum(bobaku_analytics_net_rupiah{{{OUTLET_01}}})"
        refunds = f"sum(bobaku_analytics_refunds_rupiah_total{{{OUTLET_01}}})"
        token = await register(http, gw)
        await force(http, scraped, "gopay", outcome="success", delay_s=0.1)
        order, _ = await place(http, gw, token, "gopay")
        await reaches(http, gw, token, order, "being_prepared")
        await eventually(agree, timeout=60, interval=1)  # the payment is in both
        was_net, was_refunds = await prom_value(http, net), await prom_value(http, refunds)
        assert was_net is not None
        assert was_refunds is not None
        await refund(http, gw, token_issuer, order)  # 1,000 rupiah

        async def moved() -> bool:
            now = {"net": await prom_value(http, net), "refunds": await prom_value(http, refunds)}
            return now == {"net": was_net - 1000, "refunds": was_refunds + 1000}

        await eventually(moved, timeout=60, interval=1)
        await eventually(agree, timeout=60, interval=1)
        # Each paid order's payment -> figure lag was observed by the live consumer.
        lag = await prom_value(http, "sum(bobaku_analytics_projection_lag_seconds_count)")
        assert lag is not None
        assert lag >= 4, lag
        # No order, customer or user ids in any label of the business metrics.
        for name in ("bobaku_analytics_orders_placed_total", "bobaku_analytics_net_rupiah",
                     "bobaku_analytics_kitchen_payment_to_ready_seconds_bucket",
                     "bobaku_analytics_payment_method_orders_total",
                     "bobaku_analytics_forecast_cups", "bobaku_saga_steps_total"):  # fmt: skip
            found = await prom_query(http, name)
            assert found, name
            for series in found:
                labels = series["metric"]
                assert not any("ord-" in str(v) or "u-" in str(v) for v in labels.values())
                assert set(labels) <= {
                    "__name__", "level", "franchise", "outlet", "method", "le", "hours_ahead",
                    "band", "saga", "step", "outcome", "instance", "job", "service",
                }, labels  # fmt: skip


# -------------------------------------------------------------------- traces ---


async def test_one_order_is_one_trace_from_the_gateway_to_the_hub(
    traffic: dict[str, str],
) -> None:
    trace_id = traffic["trace_id"]
    jaeger = _env("JAEGER_URL")
    # No "menu": the order service prices from its copy of the outlet's menu while that is
    # current, so the menu is in an order's trace only when an earlier test made it stale.
    wanted = {"gateway", "order", "payment", "provider-sim", "hub"}
    async with aiohttp.ClientSession() as http:

        async def complete() -> dict[str, Any] | None:
            async with http.get(f"{jaeger}/api/traces/{trace_id}") as resp:
                if resp.status != 200:
                    return None
                body = await resp.json()
            traces = body.get("data") or []
            if len(traces) != 1:
                return None
            trace: dict[str, Any] = traces[0]
            services = {p["serviceName"] for p in trace["processes"].values()}
            ops = {(trace["processes"][s["processID"]]["serviceName"], s["operationName"])
                   for s in trace["spans"]}  # fmt: skip
            if not wanted <= services:
                return None
            if ("payment", "POST /webhooks/{provider}") not in ops:
                return None
            if not any(svc == "hub" and op == "publish hub" for svc, op in ops):
                return None
            return trace

        trace = await eventually(complete, timeout=60, interval=1)

    spans = trace["spans"]
    assert {s["traceID"] for s in spans} == {trace_id}
    by_id = {s["spanID"]: s for s in spans}
    roots = [s for s in spans if not any(r["refType"] == "CHILD_OF" for r in s["references"])]
    # One root: the gateway's server span for POST /api/v1/orders; every other span hangs
    # from it (no orphan whose parent never reached Jaeger).
    assert len(roots) == 1, [s["operationName"] for s in roots]
    root_service = trace["processes"][roots[0]["processID"]]["serviceName"]
    assert (root_service, roots[0]["operationName"]) == ("gateway", "POST /api/v1/{tail}")
    for span in spans:
        for ref in span["references"]:
            assert ref["spanID"] in by_id, f"{span['operationName']} has a missing parent"
    ops = [(trace["processes"][s["processID"]]["serviceName"], s["operationName"]) for s in spans]
    # The provider's callback to the payment service is in the trace as a child of the
    # simulator's own span, and the kitchen step (order.being_prepared) was published.
    assert any(svc == "provider-sim" and op == "POST" for svc, op in ops), ops
    kinds = {t["value"] for s in spans for t in s["tags"] if t["key"] == "span.kind"}
    assert {"server", "client", "producer", "consumer"} <= kinds
    assert any(
        t["key"] == "bobaku.event.type" and t["value"] == "order.being_prepared"
        for s in spans for t in s["tags"]
    )  # fmt: skip
