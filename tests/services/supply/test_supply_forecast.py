"""Suggested purchase orders from par levels and the real analytics service's forecast.

An analytics service of its own (its own deployment id, so its projections are its own)
gets sixteen weeks of paid orders at a new outlet through its projection writer, as its
consumers would have written them; a supply service asks it for the forecast on the
manager's behalf. The expected amounts come from the forecast analytics serves and the
recipe supply serves: the forecast cups of each item over the supplier's lead time, times
what one standard drink takes.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from supply_testing import Client, SupplyHarness

from bobaku.kernel.bus import Delivery, Message
from bobaku.kernel.events import new_event
from bobaku.kernel.settings import Settings
from bobaku.services.analytics.bootstrap import build_app as build_analytics
from bobaku.services.analytics.entrypoints.http import STORE
from bobaku.services.analytics.settings import AnalyticsSettings
from bobaku.services.supply.bootstrap import build_app as build_supply

# Cups of each item per day over the last sixteen weeks at the outlet.
SOLD = {"m001": 12, "m002": 5}
# Both above their reorder points: on par levels alone nothing would be ordered.
AVAILABLE = {"tapioca-pearl": 5000, "fresh-milk": 20_000}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def with_analytics(
    harness: SupplyHarness, settings: Settings
) -> AsyncIterator[tuple[Client, Client]]:
    deployment = f"{settings.deployment_id}-an{secrets.token_hex(3)}"
    analytics_settings = AnalyticsSettings(
        **{**settings.model_dump(), "service_name": "analytics", "deployment_id": deployment}
    )
    analytics: Client = TestClient(
        TestServer(build_analytics(analytics_settings, run_consumers=False))
    )
    await analytics.start_server()
    supply_settings = settings.model_copy(
        update={
            "service_name": "supply",
            "menu_url": str(harness.menu.make_url("")).rstrip("/"),
            "service_token": harness.service,
            "analytics_url": str(analytics.make_url("")).rstrip("/"),
        }
    )
    supply_app = build_supply(supply_settings, run_consumers=False)
    supply: Client = TestClient(TestServer(supply_app))
    await supply.start_server()
    yield analytics, supply
    await supply.close()
    await analytics.close()


async def _sell(analytics: Client, franchise: str, outlet: str) -> None:
    """Sixteen weeks of paid orders (what the forecast reads), one per item and day up to
    today, folded into analytics' projections."""
    store = analytics.app[STORE]
    today = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0)
    for days_ago in range(0, 16 * 7):
        at = today - timedelta(days=days_ago)
        for menu_id, cups in SOLD.items():
            order_id = f"ord-fc-{secrets.token_hex(6)}"
            base = {"order_id": order_id, "outlet_id": outlet, "customer_id": "c-forecast"}
            created = new_event(
                "order.created",
                {
                    **base,
                    "franchise_id": franchise,
                    "payment_method": "gopay",
                    "total_amount": 30_000 * cups,
                    "items": [{"menu_id": menu_id, "quantity": cups, "subtotal": 30_000 * cups}],
                },
                source="order-service",
                tenant=franchise,
            )
            paid = new_event(
                "order.payment_completed",
                {**base, "amount": 30_000 * cups},
                source="order-service",
                tenant=franchise,
            )
            # Messages no stream stored (order events need no position), in one batch.
            await store.apply(
                [
                    Message([event.model_copy(update={"timestamp": when})], Delivery("", "", 0, 1))
                    for event, when in ((created, at), (paid, at + timedelta(minutes=1)))
                ]
            )


async def _get(client: Client, path: str, token: str, **params: str) -> Any:
    async with client.get(
        path, params=params, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return body["data"]


async def test_the_suggestion_adds_the_forecast_use_over_the_suppliers_lead_time(
    harness: SupplyHarness, with_analytics: tuple[Client, Client]
) -> None:
    analytics, supply = with_analytics
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    await _sell(analytics, franchise, outlet)
    await harness.count(outlet, franchise, AVAILABLE)
    levels = {
        "tapioca-pearl": {"par": 9000, "reorder_at": 4000},
        "fresh-milk": {"par": 30_000, "reorder_at": 10_000},
    }
    status, body = await harness.call(
        "PUT", f"/outlets/{outlet}/par-levels", json={"levels": levels}, token=manager
    )
    assert status == 200, body

    forecast = await _get(
        analytics, f"/analytics/franchises/{franchise}/outlets/{outlet}/forecast", manager,
        limit="20",
    )  # fmt: skip
    cups = {i["id"]: [p["cups"] for p in i["daily"]] for i in forecast["items"]}
    assert set(cups) == set(SOLD)
    suppliers = await _get(supply, f"/franchises/{franchise}/suppliers", manager)
    lead = {s["id"]: s["lead_time_days"] for s in suppliers["items"]}
    ingredients = await _get(supply, f"/franchises/{franchise}/ingredients", manager)
    supplier_of = {x["id"]: x["supplier_id"] for x in ingredients["items"]}
    pack_of = {x["id"]: x["pack_size"] for x in ingredients["items"]}

    async def per_cup(menu_id: str, ingredient_id: str) -> int:
        recipe = await _get(supply, f"/recipes/{menu_id}/regular", manager)
        return sum(x["quantity"] for x in recipe["lines"] if x["ingredient_id"] == ingredient_id)

    expected_use = {}
    for ingredient_id in levels:
        days = min(lead[supplier_of[ingredient_id]], 7)
        used = 0.0
        for menu_id, daily in cups.items():
            used += await per_cup(menu_id, ingredient_id) * sum(daily[:days])
        expected_use[ingredient_id] = used
    # The forecast matters here: pearls and milk are both used within the lead time.
    assert all(v > 0 for v in expected_use.values()), expected_use

    data = await _get(supply, f"/outlets/{outlet}/suggested-purchase-orders", manager)
    assert data["basis"] == "forecast"
    assert data["forecast_items"] == sorted(SOLD)
    lines = {x["ingredient_id"]: x for po in data["purchase_orders"] for x in po["lines"]}
    for ingredient_id, level in levels.items():
        # Supply reads the same forecast figures: rounded up once, per ingredient.
        use = math.ceil(round(expected_use[ingredient_id], 6))
        projected = AVAILABLE[ingredient_id] - use
        if projected >= level["reorder_at"]:
            assert ingredient_id not in lines, lines
            continue
        line = lines[ingredient_id]
        assert line["forecast_use"] == use
        short = level["par"] - projected
        assert line["packs"] == math.ceil(short / pack_of[ingredient_id])
    # Two days of pearls (about 1.9 kg) take the 5 kg below the 4 kg reorder point.
    assert "tapioca-pearl" in lines, data

    # The harness's supply reaches no analytics: the same outlet, par levels alone.
    status, body = await harness.call(
        "GET", f"/outlets/{outlet}/suggested-purchase-orders", token=manager
    )
    assert status == 200
    assert body["data"]["basis"] == "par_levels"
    assert body["data"]["purchase_orders"] == []
