"""Orders consume ingredients through the saga: the whole platform as processes (supply
among them), orders placed through the gateway, stock read from the supply service.

Each test opens an outlet of its own in fr-jakarta with a known stock, so the expected
amounts are exact whatever else the suite orders at the demo outlets.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import pytest
from support import RunningPlatform, call, customer_token, eventually

from bobaku.kernel.auth import Role, TokenIssuer

FRANCHISE = "fr-jakarta"
BRIEF_ITEM = {
    "menu_id": "m001",
    "quantity": 2,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
}
# What BRIEF_ITEM takes by the demo recipes (docs/api/supply.md has the hand calculation).
BRIEF_NEEDS = {
    "assam-tea": 16, "fresh-milk": 340, "tapioca-pearl": 220, "brown-sugar-syrup": 46,
    "ice": 108, "cheese-foam-mix": 60, "cup-500": 2, "dome-lid": 2, "boba-straw": 2,
}  # fmt: skip
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = {day: [{"open": "00:00", "close": "24:00"}] for day in DAYS}


def owner(issuer: TokenIssuer) -> str:
    return issuer.issue("u-owner-test", [Role.FRANCHISE_OWNER], franchise_id=FRANCHISE)


async def open_outlet(
    http: aiohttp.ClientSession,
    platform: RunningPlatform,
    issuer: TokenIssuer,
    stock: dict[str, int],
) -> str:
    """A new fr-jakarta outlet, open around the clock, with ``stock`` counted in."""
    outlet = f"outlet-{secrets.randbelow(9 * 10**8) + 10**8}"
    service = issuer.issue("svc-test", [Role.SERVICE])
    status, body = await call(
        http, "PUT", f"{platform.url('menu')}/internal/outlets/{outlet}", service,
        json={"franchise_id": FRANCHISE, "name": f"BobaKu Test {outlet}"},
    )  # fmt: skip
    assert status == 201, body
    gw = platform.gateway
    status, body = await call(
        http, "PUT", f"{gw}/api/v1/outlets/{outlet}/hours", owner(issuer),
        json={"opening_hours": WEEK},
    )  # fmt: skip
    assert status == 200, body

    async def open_now() -> bool:
        # The new hours reach the menu's cached outlet by event: order only once they have.
        status, body = await call(http, "GET", f"{gw}/api/v1/outlets/{outlet}")
        return status == 200 and bool(body["data"]["open_now"])

    await eventually(open_now, timeout=20)
    lines = [{"ingredient_id": i, "counted": n} for i, n in stock.items()]
    status, body = await call(
        http, "POST", f"{gw}/api/v1/outlets/{outlet}/stock-takes", owner(issuer),
        json={"lines": lines},
    )  # fmt: skip
    assert status == 201, body
    return outlet


async def stock(
    http: aiohttp.ClientSession, platform: RunningPlatform, issuer: TokenIssuer, outlet: str
) -> dict[str, dict[str, int]]:
    status, body = await call(
        http, "GET", f"{platform.gateway}/api/v1/outlets/{outlet}/ingredient-stock", owner(issuer)
    )
    assert status == 200, body
    return {x["ingredient_id"]: x for x in body["data"]["items"]}


async def place(
    http: aiohttp.ClientSession, gw: str, token: str, outlet: str, provider: str,
    items: list[Any] | None = None,
) -> tuple[int, Any]:  # fmt: skip
    body = {"outlet_id": outlet, "items": items or [BRIEF_ITEM], "payment_method": provider}
    return await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json=body, headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip


async def force(
    http: aiohttp.ClientSession, platform: RunningPlatform, provider: str, **body: Any
) -> None:
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/{provider}/next", json=body
    )
    assert status in (200, 201), reply


async def reaches(
    http: aiohttp.ClientSession, gw: str, token: str, order_id: str, *statuses: str,
    timeout: float = 30,
) -> Any:  # fmt: skip
    async def probe() -> Any:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        view = body["data"]["order"]
        return view if view["status"]["current"] in statuses else None

    return await eventually(probe, timeout=timeout, interval=0.2)


def on_hand(levels: dict[str, dict[str, int]]) -> dict[str, int]:
    return {i: levels[i]["on_hand"] for i in BRIEF_NEEDS}


def reserved(levels: dict[str, dict[str, int]]) -> dict[str, int]:
    return {i: levels[i]["reserved"] for i in BRIEF_NEEDS}


FULL = dict.fromkeys(BRIEF_NEEDS, 10_000)
USED = {i: 10_000 - n for i, n in BRIEF_NEEDS.items()}
NONE = dict.fromkeys(BRIEF_NEEDS, 0)


async def test_an_order_takes_its_ingredients_by_recipe_when_it_is_prepared(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    outlet = await open_outlet(http, platform, token_issuer, FULL)
    token = await customer_token(http, platform.gateway)
    await force(http, platform, "gopay", outcome="success", delay_s=1.0)
    status, placed = await place(http, platform.gateway, token, outlet, "gopay")
    assert status == 201, placed
    # Placed and not yet paid: held, still on the shelf.
    levels = await stock(http, platform, token_issuer, outlet)
    assert reserved(levels) == BRIEF_NEEDS
    assert on_hand(levels) == FULL
    await reaches(http, platform.gateway, token, placed["data"]["id"], "being_prepared")

    async def used() -> bool:
        levels = await stock(http, platform, token_issuer, outlet)
        return on_hand(levels) == USED and reserved(levels) == NONE

    await eventually(used)


@pytest.mark.parametrize(("provider", "outcome"), [("ovo", "failure"), ("dana", "timeout")])
async def test_a_failed_or_lapsed_payment_gives_the_ingredients_back(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    token_issuer: TokenIssuer,
    provider: str,
    outcome: str,
) -> None:
    outlet = await open_outlet(http, platform, token_issuer, FULL)
    token = await customer_token(http, platform.gateway)
    await force(http, platform, provider, outcome=outcome, delay_s=0.3)
    status, placed = await place(http, platform.gateway, token, outlet, provider)
    assert status == 201, placed
    assert reserved(await stock(http, platform, token_issuer, outlet)) == BRIEF_NEEDS
    await reaches(http, platform.gateway, token, placed["data"]["id"], "cancelled", timeout=60)

    async def released() -> bool:
        levels = await stock(http, platform, token_issuer, outlet)
        return reserved(levels) == NONE and on_hand(levels) == FULL

    await eventually(released, timeout=20)


async def test_a_customer_cancelling_gives_the_ingredients_back(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    outlet = await open_outlet(http, platform, token_issuer, FULL)
    token = await customer_token(http, platform.gateway)
    await force(http, platform, "shopeepay", outcome="timeout")
    status, placed = await place(http, platform.gateway, token, outlet, "shopeepay")
    assert status == 201, placed
    order_id = placed["data"]["id"]
    status, body = await call(
        http, "POST", f"{platform.gateway}/api/v1/orders/{order_id}/cancel", token,
        json={"reason": "changed my mind"},
    )  # fmt: skip
    assert status == 200, body

    async def released() -> bool:
        levels = await stock(http, platform, token_issuer, outlet)
        return reserved(levels) == NONE and on_hand(levels) == FULL

    await eventually(released, timeout=20)


@pytest.mark.timeout(240)
async def test_killing_supply_between_reservation_and_commit_loses_and_double_counts_nothing(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    outlet = await open_outlet(http, platform, token_issuer, FULL)
    token = await customer_token(http, platform.gateway)
    # The provider settles while supply is dead: the saga's commit finds nobody home.
    await force(http, platform, "gopay", outcome="success", delay_s=1.5)
    status, placed = await place(http, platform.gateway, token, outlet, "gopay")
    assert status == 201, placed
    order_id = placed["data"]["id"]
    await platform.platform.kill("supply")  # SIGKILL: no draining, no goodbye
    await reaches(http, platform.gateway, token, order_id, "payment_completed", timeout=30)
    await asyncio.sleep(2.0)  # the saga's commit is failing and being retried meanwhile
    await platform.platform.restart("supply")

    view = await reaches(http, platform.gateway, token, order_id, "being_prepared", timeout=90)
    assert [h["status"] for h in view["status"]["history"]].count("being_prepared") == 1
    levels = await stock(http, platform, token_issuer, outlet)
    # The reservation survived the crash and was used exactly once.
    assert on_hand(levels) == USED
    assert reserved(levels) == NONE
    # Repeating the saga's calls after the fact changes nothing.
    service = token_issuer.issue("svc-test", [Role.SERVICE])
    for step in ("commit", "commit"):
        status, body = await call(
            http, "POST",
            f"{platform.url('supply')}/internal/stock/reservations/{order_id}/{step}", service,
        )  # fmt: skip
        assert status == 200, body
    assert on_hand(await stock(http, platform, token_issuer, outlet)) == USED


async def test_an_item_out_of_ingredients_leaves_the_menu_and_returns_on_a_receipt(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    # Popping boba for one Strawberry Popping Yakult (m011: 40 g), plenty of the rest.
    outlet = await open_outlet(
        http, platform, token_issuer,
        {"popping-boba": 40, "yakult": 20, "strawberry-jam": 2000, "cane-syrup": 2000,
         "ice": 10_000, "cup-500": 100, "flat-lid": 100, "boba-straw": 100},
    )  # fmt: skip
    gw = platform.gateway

    async def m011_available() -> bool:
        status, body = await call(http, "GET", f"{gw}/api/v1/outlets/{outlet}/menu")
        assert status == 200, body
        items = {i["id"]: i for c in body["data"]["categories"] for i in c["items"]}
        return bool(items["m011"]["available"])

    async def sold_out() -> bool:
        return not await m011_available()

    assert await m011_available()
    token = await customer_token(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.2)
    status, placed = await place(
        http, gw, token, outlet, "gopay", items=[{"menu_id": "m011", "quantity": 1}]
    )
    assert status == 201, placed
    # Held for the order, the last 40 g are gone from the menu (an event, not a poll).
    await eventually(sold_out, timeout=20)
    status, refused = await place(
        http, gw, token, outlet, "gopay", items=[{"menu_id": "m011", "quantity": 1}]
    )
    assert status == 409, refused
    # A delivery of popping boba brings it back.
    status, body = await call(
        http, "POST", f"{gw}/api/v1/outlets/{outlet}/receipts", owner(token_issuer),
        json={"lines": [{"ingredient_id": "popping-boba", "quantity": 3200}]},
    )  # fmt: skip
    assert status == 201, body
    await eventually(m011_available, timeout=20)
