"""The kitchen display and order tracking pages in a real browser, on the whole platform.

Headless Chromium (Debian's ``chromium``, driven by ``playwright-core`` from
``e2e/browser/``) logs into the KDS as the demo barista of outlet-01; this test places the
demo customer's orders through the gateway at the moments the browser asks for them; the
barista bumps the ticket and the customer's tracking page turns ``ready``. Then the KDS's
link to the hub is cut while an order is placed, and the page is reloaded while another is:
each ticket must show exactly once. A blender order, then another reload: the station filter
shows each ticket by the station it came back with. A bumped ticket is recalled. Last, a
second screen whose clock the script holds (Playwright's fake clock, no waiting) shows a
ticket plain, amber and red as its age passes the thresholds. Screenshots land in
``.run/test-artifacts/browser/``.

The two sides talk in JSON lines (see ``e2e/browser/kitchen_flow.mjs``, and
``tests/browser_support.py`` for the tools): the script says where it is (``kds_ready``,
``kds_offline``, ``kds_reloading``, ``kds_stations``, then ``done`` or ``failed``), and this
test answers each with ``{"cmd": "watch", "order_id": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from typing import Any

import aiohttp
import pytest
from browser_support import (
    ROOT,
    STEP_TIMEOUT_S,
    Browser,
    ensure_chromium,
    ensure_playwright,
    login,
)
from support import RunningPlatform, call, eventually

from bobaku.kernel.auth import Role, TokenIssuer

ARTIFACTS = ROOT / ".run" / "test-artifacts" / "browser"

STAFF = ("staff.outlet-01@bobaku.id", "bobaku-demo-123")
CUSTOMER = ("rina@example.com", "bobaku-demo-123")
ITEM = "Brown Sugar Boba Milk Tea"
TOPPINGS = ("Pearl", "Cheese Foam")
KITCHEN = "outlet:outlet-01:kitchen"
HISTORY = (
    "Menunggu pembayaran · Awaiting payment",
    "Dibayar · Paid",
    "Sedang disiapkan · Being prepared",
    "Siap diambil · Ready for pickup",
)
ORDER = {
    "outlet_id": "outlet-01",
    "items": [
        {
            "menu_id": "m001",
            "quantity": 2,
            "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
        }
    ],
    "payment_method": "gopay",
}
# A drink of another station (the blender's), for the station filter.
BLEND_ITEM = "Taro Boba Smoothie"
BLEND_ORDER = {**ORDER, "items": [{"menu_id": "m020", "quantity": 1}]}


# -- the platform side ---------------------------------------------------------------------


async def place_order(
    http: aiohttp.ClientSession,
    platform: RunningPlatform,
    token: str,
    wait: bool = True,
    order: dict[str, Any] = ORDER,
) -> str:
    """The brief's order (2 Brown Sugar Boba Milk Tea, 50% sugar, 30% ice, pearl and cheese
    foam) unless told another, paid with GoPay, which the simulator settles."""
    gw = platform.gateway
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/gopay/next",
        json={"outcome": "success", "delay_s": 0.2},
    )  # fmt: skip
    assert status in (200, 201), reply
    status, placed = await call(
        http, "POST", f"{gw}/api/v1/orders", token, json=order,
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    order_id = str(placed["data"]["id"])

    async def being_prepared() -> bool:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        return bool(body["data"]["order"]["status"]["current"] == "being_prepared")

    if wait:
        await eventually(being_prepared, timeout=STEP_TIMEOUT_S, interval=0.2)
    return order_id


class KitchenFeed:
    """The outlet's kitchen channel, followed from here: proof that the hub has routed a
    publication (so a KDS that was offline meanwhile must recover it)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: set[tuple[str, str]] = set()

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, hub: str, token: str) -> KitchenFeed:
        ws = await http.ws_connect(f"{hub.replace('http', 'ws', 1)}/ws")
        feed = cls(ws)
        assert "result" in await feed.command(
            1, {"op": "connect", "token": token, "name": "test probe"}
        )
        assert "result" in await feed.command(2, {"op": "subscribe", "channel": KITCHEN})
        return feed

    async def command(self, command_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send_json({"id": command_id, **fields})
        while True:
            frame = await self.next_frame()
            if frame.get("id") == command_id:
                return frame

    async def next_frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = await self.ws.receive_json(timeout=STEP_TIMEOUT_S)
        if frame.get("type") == "ping":
            await self.ws.send_json({"op": "pong"})
        elif frame.get("type") == "pub":
            event = frame["data"]
            self.seen.add((event["type"], event["data"].get("order_id", "")))
        return frame

    async def wait_for(self, event_type: str, order_id: str) -> None:
        async def routed() -> bool:
            while (event_type, order_id) not in self.seen:
                await self.next_frame()
            return True

        await asyncio.wait_for(routed(), STEP_TIMEOUT_S)


async def recoveries(http: aiohttp.ClientSession, hub: str) -> float:
    async with http.get(f"{hub}/metrics") as resp:
        text = await resp.text()
    found = re.search(r'^bobaku_hub_recoveries_total\{outcome="recovered"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def watch(
    browser: Browser, order_id: str, item: str = ITEM, toppings: tuple[str, ...] = TOPPINGS
) -> None:
    await browser.send("watch", order_id=order_id, item=item, toppings=toppings)


# -- the test --------------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_a_barista_bumps_an_order_on_the_kitchen_display_and_the_customer_sees_it_ready(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    token_issuer: TokenIssuer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():  # installs are slow: show their progress as it happens
        await asyncio.to_thread(ensure_chromium)
        await asyncio.to_thread(ensure_playwright)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    hub = platform.url("hub")
    customer = await login(http, platform.gateway, *CUSTOMER)
    barista = token_issuer.issue(
        "u-kitchen-probe", [Role.STAFF], franchise_id="fr-jakarta", outlet_ids=["outlet-01"]
    )
    feed = await KitchenFeed.open(http, hub, barista)
    browser = await Browser.start(
        "kitchen_flow.mjs", ARTIFACTS, HUB_URL=hub,
        STAFF_EMAIL=STAFF[0], STAFF_PASSWORD=STAFF[1],
        CUSTOMER_EMAIL=CUSTOMER[0], CUSTOMER_PASSWORD=CUSTOMER[1],
    )  # fmt: skip
    try:
        await browser.next_event("kds_ready")
        # The KDS is live before the order exists: the ticket must come to it live.
        first = await place_order(http, platform, customer, wait=False)
        await watch(browser, first)

        await browser.next_event("kds_offline")
        recovered_before = await recoveries(http, hub)
        second = await place_order(http, platform, customer)
        await feed.wait_for("order.being_prepared", second)
        await watch(browser, second)

        await browser.next_event("kds_reloading")
        third = await place_order(http, platform, customer)
        await feed.wait_for("order.being_prepared", third)
        await watch(browser, third)

        await browser.next_event("kds_stations")
        blend = await place_order(http, platform, customer, order=BLEND_ORDER)
        await watch(browser, blend, BLEND_ITEM, ())

        result = await browser.next_event("done")
    finally:
        await browser.close()
        await feed.ws.close()
    (ARTIFACTS / "result.json").write_text(json.dumps(result, indent=2))

    # The ticket came in with its item and customizations, and the bump moved it to ready.
    [before] = result["before_bump"]
    assert before["rail"] == "preparing"
    assert f"2\N{MULTIPLICATION SIGN} {ITEM}" in before["text"]
    assert re.search(r"sugar 50%(?!%)", before["text"]), before["text"]
    assert re.search(r"ice 30%(?!%)", before["text"]), before["text"]
    assert "Pearl, Cheese Foam" in before["text"]
    assert before["button"] == "Bump → ready"
    [after] = result["after_bump"]
    assert after["rail"] == "ready"
    assert after["button"] == "Recall"
    status, order = await call(http, "GET", f"{platform.gateway}/api/v1/orders/{first}", customer)
    assert status == 200, order
    assert order["data"]["order"]["status"]["current"] == "ready"

    # The customer's page followed live, and shows the way there.
    tracking = result["tracking"]
    assert result["tracking_before"]["state"].startswith("Sedang disiapkan")
    assert tracking["state"] == "Siap diambil · Ready for pickup"
    assert tracking["title"] == f"Order #{first.split('-')[-1].upper()}"
    assert tracking["steps_done"] == [
        "Awaiting payment",
        "Paid",
        "Being prepared",
        "Ready for pickup",
    ]
    # Each entry is "<local time> <label>", oldest first, each step once.
    history = tracking["history"]
    assert len(history) == len(HISTORY), history
    assert all(entry.endswith(label) for entry, label in zip(history, HISTORY, strict=True))
    assert tracking["hub"] == "live"

    # A dropped link and a reload lose no ticket and show none twice.
    assert result["status_while_down"] != "live"
    assert result["reconnects"] >= 1
    assert await recoveries(http, hub) > recovered_before, "the KDS did not resume via recovery"
    for moment, orders in (
        ("after_drop", (first, second)),
        ("after_reload", (first, second, third)),
    ):
        shown = result[moment]["all"]
        for order_id in orders:
            assert shown.count(order_id) == 1, (moment, order_id, shown)
        assert len(shown) == len(set(shown)), (moment, shown)
    assert [t["rail"] for t in result["after_drop"]["first"]] == ["ready"]
    assert [t["rail"] for t in result["after_drop"]["second"]] == ["preparing"]
    assert [t["rail"] for t in result["after_reload"]["first"]] == ["ready"]
    assert [t["rail"] for t in result["after_reload"]["second"]] == ["preparing"]
    assert [t["rail"] for t in result["after_reload"]["third"]] == ["preparing"]

    # The station filter works on tickets loaded after a reload: each keeps its station.
    stations = result["stations"]
    assert {"blender", "toppings", "tea_bar"} <= set(stations["options"]), stations["options"]
    [blend_ticket] = stations["blend_after_reload"]
    assert blend_ticket["rail"] == "preparing"
    assert f"1\N{MULTIPLICATION SIGN} {BLEND_ITEM}" in blend_ticket["text"]
    assert "blender" in blend_ticket["text"]  # the line's station tag, from the HTTP ticket
    assert stations["blender"] == [blend]
    assert sorted(stations["toppings"]) == sorted([first, second, third])
    assert sorted(stations["all"]) == sorted([first, second, third, blend])

    # Recall: the bumped ticket came back to preparing with its SLA clock kept.
    recall = result["recall"]
    assert [t["rail"] for t in recall["bumped"]] == ["ready"]
    assert [(t["rail"], t["button"]) for t in recall["recalled"]] == [("preparing", "Bump → ready")]
    assert recall["start_kept"] is True
    status, recalled = await call(
        http, "GET", f"{platform.gateway}/api/v1/orders/{second}", customer
    )
    assert status == 200, recalled
    assert recalled["data"]["order"]["status"]["current"] == "being_prepared"
    assert [h["status"] for h in recalled["data"]["order"]["status"]["history"]][-2:] == [
        "ready",
        "being_prepared",
    ]

    # SLA colours by the held clock: none just before amber, amber past it, red past target.
    sla = result["sla"]

    def clock(ms: int) -> str:
        return f"{ms // 60000}:{ms // 1000 % 60:02d}"

    assert sla["fresh"]["timer"] == clock(sla["warn_ms"] - 10000)
    assert not {"warn", "late"} & set(sla["fresh"]["classes"]), sla["fresh"]
    assert sla["amber"]["timer"] == clock(sla["warn_ms"] + 10000)
    assert "warn" in sla["amber"]["classes"]
    assert "late" not in sla["amber"]["classes"]
    assert sla["amber"]["border"] == "rgb(245, 166, 35)"  # --warn
    assert sla["red"]["timer"] == clock(sla["target_ms"] + 10000)
    assert "late" in sla["red"]["classes"]
    assert "warn" not in sla["red"]["classes"]
    assert sla["red"]["border"] == "rgb(208, 49, 45)"  # --late

    assert result["page_errors"] == []
    for name in ("kds-before-bump", "kds-after-bump", "tracking-ready"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5000
