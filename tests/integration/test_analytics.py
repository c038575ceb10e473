"""Analytics through the real order path: orders placed, paid, made, picked up, refunded and
cancelled through the gateway move the figures the API shows at each level; another
franchise's or outlet's figures are a 403; a rebuild from the streams equals the live model.

The test works on outlet-05 (fr-bandung), which no other test orders from, so its figures
move only by what this test does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from support import ARTIFACTS, RunningPlatform, call, customer_token, eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.settings import Settings
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import Rules
from bobaku.services.analytics.service_layer.handlers import rebuild

FR, OUTLET = "fr-bandung", "outlet-05"
ITEM = {
    "menu_id": "m001",
    "quantity": 2,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001"]},
}
ZONE = ZoneInfo("Asia/Jakarta")
OUTLET_PATH = f"/api/v1/analytics/franchises/{FR}/outlets/{OUTLET}"


async def force(
    http: aiohttp.ClientSession, platform: RunningPlatform, provider: str, **body: Any
) -> None:
    url = f"{platform.url('provider-sim')}/_control/{provider}/next"
    status, reply = await call(http, "POST", url, json=body)
    assert status in (200, 201), reply


async def place(http: aiohttp.ClientSession, gw: str, token: str, provider: str) -> dict[str, Any]:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json={"outlet_id": OUTLET, "items": [ITEM], "payment_method": provider},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, body
    return dict(body["data"])


async def status_of(http: aiohttp.ClientSession, gw: str, token: str, order_id: str) -> str:
    status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
    assert status == 200, body
    return str(body["data"]["order"]["status"]["current"])


async def reaches(
    http: aiohttp.ClientSession, gw: str, token: str, order_id: str, want: str
) -> None:
    async def probe() -> bool:
        return await status_of(http, gw, token, order_id) == want

    await eventually(probe, timeout=40, interval=0.2)


def today() -> str:
    return datetime.now(ZONE).date().isoformat()


async def figures(
    http: aiohttp.ClientSession, gw: str, token: str, path: str, report: str = "sales", **q: str
) -> dict[str, Any]:
    params = {"from": today(), "to": today(), **q}
    status, body = await call(http, "GET", f"{gw}{path}/{report}", token, params=params)
    assert status == 200, body
    return dict(body["data"])


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    keys = ("orders", "placed", "cancelled", "gross", "discounts", "refunds", "net", "items")
    out: dict[str, Any] = {k: after[k] - before[k] for k in keys}
    methods = set(after["payment_methods"]) | set(before["payment_methods"])
    out["payment_methods"] = {
        m: after["payment_methods"].get(m, 0) - before["payment_methods"].get(m, 0)
        for m in methods
        if after["payment_methods"].get(m, 0) != before["payment_methods"].get(m, 0)
    }
    return out


async def test_orders_through_the_gateway_move_every_figure_they_should(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    hq = token_issuer.issue("u-hq-an", [Role.HQ_ADMIN])
    owner = token_issuer.issue("u-owner-an", [Role.FRANCHISE_OWNER], franchise_id=FR)
    boss = token_issuer.issue(
        "u-mgr-an", [Role.OUTLET_MANAGER], franchise_id=FR, outlet_ids=[OUTLET]
    )
    barista = token_issuer.issue("u-bar-an", [Role.STAFF], franchise_id=FR, outlet_ids=[OUTLET])
    before = (await figures(http, gw, boss, OUTLET_PATH))["totals"]
    menu_before = await figures(http, gw, owner, OUTLET_PATH, "menu")
    kitchen_before = (await figures(http, gw, boss, OUTLET_PATH, "kitchen"))["totals"]
    loyalty_before = await figures(http, gw, owner, f"/api/v1/analytics/franchises/{FR}", "loyalty")
    liability_before = await figures(http, gw, hq, "/api/v1/analytics/brand", "loyalty")

    first, second = await customer_token(http, gw), await customer_token(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.1)
    made = await place(http, gw, first, "gopay")
    await force(http, platform, "ovo", outcome="success", delay_s=0.1)
    refunded = await place(http, gw, second, "ovo")
    await force(http, platform, "dana", outcome="timeout")
    dropped = await place(http, gw, first, "dana")
    price = made["total_amount"]

    # Made and picked up; refunded in part; cancelled by the customer before paying.
    await reaches(http, gw, first, made["id"], "being_prepared")
    for action in ("bump", "complete"):
        status, body = await call(
            http, "POST", f"{gw}/api/v1/orders/{made['id']}/{action}", barista
        )
        assert status == 200, body
    await reaches(http, gw, second, refunded["id"], "being_prepared")
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{refunded['id']}/refund", boss,
        json={"amount": 30000, "reason": "drink spilled"},
        headers={"Idempotency-Key": secrets.token_hex(6)},
    )  # fmt: skip
    assert status == 202, body
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{dropped['id']}/cancel", first,
        json={"reason": "changed my mind"},
    )  # fmt: skip
    assert status == 200, body

    expected = {
        "orders": 2, "placed": 3, "cancelled": 1, "gross": 2 * price, "discounts": 0,
        "refunds": 30000, "net": 2 * price - 30000, "items": 4,
        "payment_methods": {"gopay": 1, "ovo": 1},
    }  # fmt: skip

    async def moved() -> dict[str, Any] | None:
        now = (await figures(http, gw, boss, OUTLET_PATH))["totals"]
        got = delta(now, before)
        return now if got == expected else None

    totals = await eventually(moved, timeout=40, interval=0.3)
    assert totals["cancellation_rate"] == round(totals["cancelled"] / totals["placed"], 4)

    menu = await figures(http, gw, owner, OUTLET_PATH, "menu")
    cups = {e["id"]: e["cups"] for e in menu["top_items"]}
    cups_before = {e["id"]: e["cups"] for e in menu_before["top_items"]}
    assert cups["m001"] - cups_before.get("m001", 0) == 4
    assert menu["cups"] - menu_before["cups"] == 4

    async def kitchen_counted() -> dict[str, Any] | None:
        k = (await figures(http, gw, boss, OUTLET_PATH, "kitchen"))["totals"]
        done = k["picked_up"] - kitchen_before["picked_up"] == 1
        return k if done and k["orders"] - kitchen_before["orders"] == 1 else None

    kitchen = await eventually(kitchen_counted, timeout=20)
    assert kitchen["payment_to_ready_p50_s"] is not None

    # Franchise and brand levels include the outlet's figures.
    franchise = (await figures(http, gw, owner, f"/api/v1/analytics/franchises/{FR}"))["totals"]
    brand = (await figures(http, gw, hq, "/api/v1/analytics/brand", compare="true"))["totals"]
    for level in (franchise, brand):
        assert level["orders"] >= totals["orders"]
        assert level["refunds"] >= totals["refunds"]
    rollup = await figures(http, gw, hq, "/api/v1/analytics/brand", "franchises")
    assert FR in {f["franchise_id"] for f in rollup["franchises"]}
    customers = await figures(http, gw, owner, f"/api/v1/analytics/franchises/{FR}", "customers")
    assert customers["new"] >= 2

    # Loyalty: the customer service's ledger earned points on both paid orders (1 per full
    # Rp1,000, named with the franchise); analytics counts them as issued for the franchise
    # and in the brand's liability (other tests' orders may add to either, never take away).
    earned = 2 * (price // 1000)

    async def loyalty_counted() -> dict[str, Any] | None:
        now = await figures(http, gw, owner, f"/api/v1/analytics/franchises/{FR}", "loyalty")
        return now if now["issued"] - loyalty_before["issued"] >= earned else None

    franchise_loyalty = await eventually(loyalty_counted, timeout=30, interval=0.3)
    assert "outstanding_points" not in franchise_loyalty  # the liability is the brand's
    brand_loyalty = await figures(http, gw, hq, "/api/v1/analytics/brand", "loyalty")
    assert brand_loyalty["issued"] - liability_before["issued"] >= earned
    assert brand_loyalty["outstanding_points"] > liability_before["outstanding_points"]
    status, body = await call(
        http, "GET", f"{gw}/api/v1/analytics/franchises/fr-jakarta/loyalty", owner
    )
    assert (status, body["error"]["code"]) == (403, "tenant_forbidden"), body

    # The forecast: the next 7 days of the items sold, with a band, and hourly.
    ahead = await figures(http, gw, boss, OUTLET_PATH, "forecast", limit="3")
    m001 = next(i for i in ahead["items"] if i["id"] == "m001")
    assert len(m001["daily"]) == 7
    assert all(p["low"] <= p["cups"] <= p["high"] for p in m001["daily"])
    assert len(ahead["hourly"]) == 7 * 24

    # CSV export of the same series.
    async with http.get(
        f"{gw}{OUTLET_PATH}/sales", params={"from": today(), "to": today(), "format": "csv",
                                           "granularity": "hour"},
        headers={"Authorization": f"Bearer {boss}"},
    ) as resp:  # fmt: skip
        assert resp.status == 200
        assert resp.content_type == "text/csv"
        text = await resp.text()
    header, *rows = text.strip().splitlines()
    assert header.split(",")[:3] == ["bucket", "orders", "placed"]
    assert len(rows) == 24


async def test_another_franchise_or_outlet_is_a_403_and_a_security_event(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    jakarta = token_issuer.issue(
        "u-owner-jkt-an", [Role.FRANCHISE_OWNER], franchise_id="fr-jakarta"
    )
    other_manager = token_issuer.issue(
        "u-mgr-04-an", [Role.OUTLET_MANAGER], franchise_id=FR, outlet_ids=["outlet-04"]
    )
    barista = token_issuer.issue("u-bar-an2", [Role.STAFF], franchise_id=FR, outlet_ids=[OUTLET])
    cases = (
        (jakarta, f"/api/v1/analytics/franchises/{FR}/sales", "tenant_forbidden"),
        (jakarta, f"{OUTLET_PATH}/menu", "tenant_forbidden"),
        (jakarta, "/api/v1/analytics/brand/franchises", "forbidden"),
        (other_manager, f"{OUTLET_PATH}/sales", "tenant_forbidden"),
        (other_manager, f"/api/v1/analytics/franchises/{FR}/sales", "forbidden"),
        (barista, f"{OUTLET_PATH}/kitchen", "forbidden"),
        (jakarta, f"{OUTLET_PATH}/forecast", "tenant_forbidden"),
    )
    for token, path, code in cases:
        status, body = await call(http, "GET", gw + path, token)
        assert (status, body["error"]["code"]) == (403, code), (path, body)
    status, body = await call(http, "GET", f"{gw}{OUTLET_PATH}/sales")
    assert status == 401

    async def logged() -> bool:
        log = (ARTIFACTS / "analytics.log").read_text()
        return "tenant_violation" in log and "outlet_violation" in log

    await eventually(logged, timeout=10)


async def test_bad_query_parameters_are_a_422_naming_the_field(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    hq = token_issuer.issue("u-hq-an2", [Role.HQ_ADMIN])
    base = f"{platform.gateway}/api/v1/analytics/brand/sales"
    for params, field in (
        ({"granularity": "week"}, "granularity"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-12-01", "granularity": "minute"}, "from"),
        ({"colour": "red"}, "colour"),
    ):
        status, body = await call(http, "GET", base, hq, params=params)
        assert status == 422, body
        assert field in {f["field"] for f in body["error"]["details"]["fields"]}, body


async def test_the_gateway_documents_the_analytics_api(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    async def merged() -> dict[str, Any] | None:
        status, doc = await call(http, "GET", f"{platform.gateway}/api/v1/openapi.json")
        assert status == 200
        return doc if "analytics" not in doc.get("x-unavailable", ["analytics"]) else None

    doc = await eventually(merged, timeout=40, interval=1.0)
    levels = ("brand", "franchises/{franchise_id}", "franchises/{franchise_id}/outlets/{outlet_id}")
    for level in levels:
        for report in ("sales", "menu", "kitchen", "customers"):
            assert f"/api/v1/analytics/{level}/{report}" in doc["paths"]
    assert "/api/v1/analytics/brand/franchises" in doc["paths"]


async def test_a_rebuild_from_the_streams_equals_the_live_model(
    platform: RunningPlatform, settings: Settings
) -> None:
    env = platform.envs["analytics"]
    live = Settings(
        **{**settings.model_dump(), "deployment_id": env["DEPLOYMENT_ID"], "service_name": "an-t"}
    )
    bus = await EventBus.connect(live)
    redis = redis_from_settings(live)
    store = ProjectionStore(redis, live.deployment_id, Rules(zone=ZONE))
    try:

        async def equal() -> bool:
            gen = await store.generation(fresh=True)
            before = await store.dump(gen)
            done = await rebuild(bus, store, switch=False)
            try:
                return bool(before == await store.dump(done.generation) == await store.dump(gen))
            finally:
                await store.drop(done.generation)

        assert await eventually(equal, timeout=60, interval=1.0)

        # The command does the same and makes its generation current, with a progress bar.
        def ours(dump: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
            return {k: v for k, v in dump.items() if f"o:{FR}:{OUTLET}:" in k}

        figures_before = ours(await store.dump(await store.generation(fresh=True), "s"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bobaku.services.analytics", "rebuild",
            env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert "rebuild: 100%" in err.decode()
        assert "rebuilt generation" in err.decode()
        after = ours(await store.dump(await store.generation(fresh=True), "s"))
        assert after == figures_before
    finally:
        await redis.aclose()
        await bus.close()
