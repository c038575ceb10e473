"""The analytics dashboard in a real browser, on the whole platform (through the gateway).

Headless Chromium (``e2e/browser/dashboard_flow.mjs``, tools in ``tests/browser_support.py``)
logs in with the demo accounts: the owner of fr-jakarta sees their franchise, and an order
this test places at its around-the-clock outlet (outlet-06, which no other test orders
from) shows on the page live, without a reload; the owner of fr-bandung asking for
fr-jakarta's page gets the 403 and not one figure; HQ sees the brand, following every
franchise's feed; the manager of outlet-06 their outlet, with the forecast and its band.
Screenshots land in ``.run/test-artifacts/dashboard/``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from browser_support import ROOT, Browser, ensure_chromium, ensure_playwright, login
from support import ARTIFACTS as PLATFORM_LOGS
from support import RunningPlatform, call, eventually

ARTIFACTS = ROOT / ".run" / "test-artifacts" / "dashboard"
PASSWORD = "bobaku-demo-123"
FR, OTHER, OUTLET = "fr-jakarta", "fr-bandung", "outlet-06"
CUSTOMER = "andi@example.com"
ORDER = {
    "outlet_id": OUTLET,
    "items": [
        {
            "menu_id": "m001",
            "quantity": 1,
            "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001"]},
        }
    ],
    "payment_method": "gopay",
}


async def place_paid_order(
    http: aiohttp.ClientSession, platform: RunningPlatform, token: str
) -> str:
    gw = platform.gateway
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/gopay/next",
        json={"outcome": "success", "delay_s": 0.1},
    )  # fmt: skip
    assert status in (200, 201), reply
    status, placed = await call(
        http, "POST", f"{gw}/api/v1/orders", token, json=ORDER,
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    order_id = str(placed["data"]["id"])

    async def paid() -> bool:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        return body["data"]["order"]["status"]["current"] != "pending_payment"

    await eventually(paid, timeout=40, interval=0.2)
    return order_id


async def todays_orders(http: aiohttp.ClientSession, gw: str, token: str, path: str) -> int:
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
    status, body = await call(
        http, "GET", f"{gw}/api/v1/analytics/{path}/sales", token,
        params={"from": today, "to": today},
    )  # fmt: skip
    assert status == 200, body
    return int(body["data"]["totals"]["orders"])


@pytest.mark.timeout(300)
async def test_the_dashboard_shows_each_level_its_own_figures_live_and_another_franchise_a_403(
    platform: RunningPlatform, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():  # installs are slow: show their progress as it happens
        await asyncio.to_thread(ensure_chromium)
        await asyncio.to_thread(ensure_playwright)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    gw = platform.gateway
    owner_token = await login(http, gw, f"owner.{FR.removeprefix('fr-')}@bobaku.id", PASSWORD)
    customer = await login(http, gw, CUSTOMER, PASSWORD)
    violations_before = (PLATFORM_LOGS / "analytics.log").read_text().count("tenant_violation")
    browser = await Browser.start(
        "dashboard_flow.mjs", ARTIFACTS, GATEWAY_URL=gw, PASSWORD=PASSWORD,
        OWNER_EMAIL=f"owner.{FR.removeprefix('fr-')}@bobaku.id",
        OTHER_OWNER_EMAIL=f"owner.{OTHER.removeprefix('fr-')}@bobaku.id",
        OTHER_FRANCHISE=FR, HQ_EMAIL="hq@bobaku.id", MANAGER_EMAIL=f"manager.{OUTLET}@bobaku.id",
    )  # fmt: skip
    try:
        ready = await browser.next_event("owner_ready")
        # What the page showed is what the API says, with the owner's own token.
        assert ready["orders"] == await todays_orders(http, gw, owner_token, f"franchises/{FR}")
        await place_paid_order(http, platform, customer)
        await browser.send("placed", orders=ready["orders"] + 1)
        await browser.next_event("owner_live")
        result = await browser.next_event("done")
    finally:
        await browser.close()
    (ARTIFACTS / "result.json").write_text(json.dumps(result, indent=2))
    assert result["page_errors"] == [], result["page_errors"]

    # The owner's page: their franchise, live on its feed; the order came in without a reload.
    before, after = result["owner_before"], result["owner_after"]
    assert before["scope"] == f"Franchise {FR}"
    assert (before["login_hidden"], before["board_hidden"], before["denied_hidden"]) == (
        True, False, True,
    )  # fmt: skip
    assert before["channels"] == f"franchise:{FR}:ops"
    assert after["orders"] >= before["orders"] + 1
    assert after["net"] > before["net"]
    assert after["updates"] > before["updates"]
    assert after["loaded_at"] is not None
    assert after["loaded_at"] == before["loaded_at"]
    assert after["orders"] <= await todays_orders(http, gw, owner_token, f"franchises/{FR}")
    charts = after["charts"]
    assert charts["today"]["labels"] == 24  # today, hour by hour
    assert charts["days"]["labels"] == 30  # the last 30 days
    assert charts["days"]["sums"][1] >= after["orders"]  # orders per day include today's
    assert charts["today"]["sums"][0] == after["net"]
    assert charts["forecast"]["labels"] == 7
    assert any("Brown Sugar Boba Milk Tea" in row for row in after["top_items"])
    # Loyalty: 30 days of points issued vs redeemed; the liability is the brand's, not shown
    # to an owner as theirs.
    assert charts["loyalty"]["labels"] == 30
    assert charts["loyalty"]["datasets"] == [30, 30]
    assert after["loyalty"]["outstanding_text"] == "brand-wide"
    today_row, days_row = after["kitchen"]
    assert today_row.startswith("Today")
    assert days_row.startswith("30 days")

    # Another franchise's owner: the 403, and not one figure, chart or feed.
    denied = result["denied"]
    assert denied["denied_hidden"] is False
    assert denied["board_hidden"] is True
    assert denied["login_hidden"] is True
    assert denied["denied_title"] == "403 · tenant_forbidden"
    assert denied["statuses"]
    assert set(denied["statuses"]) == {403}
    assert denied["chart_instances"] == 0
    assert set(denied["kpis"]) == {"\N{EN DASH}"}
    assert denied["top_items"] == []
    assert denied["kitchen"] == []
    assert denied["channels"] is None
    # ... and the refusal is a security event.
    log = (PLATFORM_LOGS / "analytics.log").read_text()
    assert log.count("tenant_violation") > violations_before

    # HQ: the brand, following every franchise's feed; the manager: their outlet.
    hq = result["hq"]
    assert hq["scope"] == "Brand (all franchises)"
    assert {f"franchise:{FR}:ops"} <= set(hq["channels"].split())
    assert hq["orders"] >= after["orders"]
    # HQ sees the outstanding points, as the brand's loyalty report gives them.
    hq_token = await login(http, gw, "hq@bobaku.id", PASSWORD)
    status, body = await call(http, "GET", f"{gw}/api/v1/analytics/brand/loyalty", hq_token)
    assert status == 200, body
    assert hq["loyalty"]["outstanding"] not in (None, "")
    assert int(hq["loyalty"]["outstanding"]) <= body["data"]["outstanding_points"]
    assert hq["charts"]["loyalty"]["labels"] == 30
    manager = result["manager"]
    assert manager["scope"] == f"Outlet {OUTLET} · {FR}"
    assert manager["channels"] == f"outlet:{OUTLET}:kitchen"
    assert 1 <= manager["orders"] <= after["orders"]
    forecast = manager["charts"]["forecast"]
    assert forecast["labels"] == 7
    assert forecast["datasets"] == [7, 7, 7]
    low, high, mean = forecast["sums"]
    assert low <= mean <= high
    assert mean > 0

    for name in ("owner", "owner-live", "denied", "hq", "manager"):
        assert (ARTIFACTS / f"dashboard-{name}.png").stat().st_size > 5000, name
