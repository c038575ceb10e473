"""Who may change what, and bad input: every refused request answers in the error envelope
and changes nothing (no document, no stock event, no announcement)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from menu_testing import MenuService

from bobaku.kernel.auth import Role
from bobaku.kernel.web import DATABASES


@dataclass
class Scene:
    """An outlet, its franchise and an item of its own, fresh for each case."""

    outlet: str
    franchise: str
    item: str

    def fill(self, text: str) -> str:
        return text.format(outlet=self.outlet, franchise=self.franchise, item=self.item)


async def scene(menu: MenuService) -> Scene:
    item = await menu.new_item()
    outlet, franchise = await menu.new_outlet()
    return Scene(outlet, franchise, item)


async def everything_about(menu: MenuService, at: Scene) -> tuple[Any, ...]:
    """What a write to this scene could have touched."""
    databases = menu.app[DATABASES]
    platform, franchise = databases.platform, await databases.franchise(at.franchise)
    return (
        await platform["menu_items"].find_one({"_id": at.item}),
        await platform["menu_items"].count_documents({}),
        await platform["outlets"].find_one({"_id": at.outlet}),
        await platform["outlets"].count_documents({}),
        [d async for d in franchise["franchise_prices"].find()],
        [d async for d in franchise["outlet_availability"].find()],
        await menu.events_on(f"events.{at.franchise}.>"),
    )


def token_for(menu: MenuService, who: str, at: Scene) -> str:
    if who == "owner":
        return menu.token(Role.FRANCHISE_OWNER, franchise_id=at.franchise)
    if who == "manager":
        return menu.token(Role.OUTLET_MANAGER, franchise_id=at.franchise, outlet_ids=[at.outlet])
    return menu.hq if who == "hq" else menu.service


Body = Callable[[Scene], Any]
HOURS = "/outlets/{outlet}/hours"
ITEM = "/items/{item}"
PRICE = "/franchises/{franchise}/prices/{item}"
AVAILABILITY = "/outlets/{outlet}/availability"
REGISTER = "/internal/outlets/{outlet}"
NEW = {"id": "m777777", "name": "Pandan Latte", "category_id": "c01", "base_price": 25000}


def new_item(**changes: Any) -> Body:
    return lambda at: {**NEW, **changes}


CASES: list[tuple[str, str, str, Body, int]] = [
    # HQ catalog
    ("POST", "/items", "hq", new_item(id="milk-tea"), 422),
    ("POST", "/items", "hq", new_item(base_price="25000"), 422),
    ("POST", "/items", "hq", new_item(base_price=0), 422),
    ("POST", "/items", "hq", new_item(category_id="c99"), 422),
    ("POST", "/items", "hq", new_item(topping_ids=["t999"]), 422),
    ("POST", "/items", "hq", new_item(sugar_levels=[]), 422),
    ("POST", "/items", "hq", new_item(ice_levels=[0, 0]), 422),
    ("POST", "/items", "hq", new_item(station="oven"), 422),
    ("POST", "/items", "hq", new_item(calories=300), 422),
    ("POST", "/items", "hq", new_item(
        season={"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-11-01T00:00:00Z"}), 422),
    ("POST", "/items", "hq", new_item(season={"starts_at": "2026-12-01", "ends_at": "x"}), 422),
    ("POST", "/items", "hq", lambda at: {**NEW, "id": at.item}, 409),
    ("POST", "/items", "owner", new_item(), 403),
    ("PATCH", ITEM, "hq", lambda at: {}, 422),
    ("PATCH", ITEM, "hq", lambda at: {"base_price": None}, 422),
    ("PATCH", ITEM, "hq", lambda at: {"base_price": -5}, 422),
    ("PATCH", ITEM, "hq", lambda at: {"topping_ids": ["t999"]}, 422),
    ("PATCH", ITEM, "hq", lambda at: {"category_id": "c99"}, 422),
    ("PATCH", "/items/m999999", "hq", lambda at: {"base_price": 1000}, 404),
    # franchise prices
    ("PUT", PRICE, "owner", lambda at: {"price": 0}, 422),
    ("PUT", PRICE, "owner", lambda at: {"price": "21000"}, 422),
    ("PUT", PRICE, "owner", lambda at: {}, 422),
    ("PUT", "/franchises/{franchise}/prices/m999999", "owner", lambda at: {"price": 1000}, 404),
    ("PUT", PRICE, "manager", lambda at: {"price": 21000}, 403),
    # outlet availability, hours, stock
    ("PUT", AVAILABILITY, "manager", lambda at: {}, 422),
    ("PUT", AVAILABILITY, "manager", lambda at: {at.item: "no"}, 422),
    ("PUT", AVAILABILITY, "manager", lambda at: {"x1": False}, 422),
    ("PUT", AVAILABILITY, "manager", lambda at: {"m999999": False}, 422),
    ("PUT", AVAILABILITY, "manager", lambda at: [at.item], 422),
    ("PUT", HOURS, "manager", lambda at: {"opening_hours": {"mon": [{"open": "25:00",
                                                                     "close": "10:00"}]}}, 422),
    ("PUT", HOURS, "manager", lambda at: {"opening_hours": {"funday": []}}, 422),
    ("PUT", HOURS, "manager", lambda at: {"opening_hours": {"mon": [
        {"open": "10:00", "close": "15:00"}, {"open": "14:00", "close": "22:00"}]}}, 422),
    ("PUT", HOURS, "manager", lambda at: {"opening_hours": {"mon": [
        {"open": "10:00", "close": "10:00"}]}}, 422),
    # 24:00 ends a day; a period cannot open then (it would "run past midnight" to 16:12).
    ("PUT", HOURS, "manager", lambda at: {"opening_hours": {"mon": [
        {"open": "24:00", "close": "16:12"}]}}, 422),
    ("PUT", HOURS, "manager", lambda at: {"timezone": "Mars/Olympus", "opening_hours": {}}, 422),
    ("PUT", HOURS, "manager", lambda at: {"timezone": "Asia/Jakarta"}, 422),
    # internal
    ("PUT", REGISTER, "service", lambda at: {"franchise_id": "FR JKT", "name": "X"}, 422),
    ("PUT", REGISTER, "service", lambda at: {"franchise_id": at.franchise}, 422),
    ("PUT", REGISTER, "service",
     lambda at: {"franchise_id": at.franchise, "name": "X", "timezone": "Nowhere/City"}, 422),
    ("PUT", REGISTER, "service",
     lambda at: {"franchise_id": at.franchise, "name": "X", "stations": ["grill"]}, 422),
    ("PUT", REGISTER, "service", lambda at: {"franchise_id": "fr-other", "name": "Moved"}, 409),
    ("PUT", "/internal/outlets/Shop_1", "service",
     lambda at: {"franchise_id": at.franchise, "name": "X"}, 422),
    ("PUT", REGISTER, "hq", lambda at: {"franchise_id": at.franchise, "name": "X"}, 403),
    ("POST", "/internal/quotes", "service",
     lambda at: {"outlet_id": at.outlet, "items": [{"menu_id": at.item, "quantity": 1,
                                                   "customizations": {"sugar_level": 40}}]}, 422),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "who", "body", "status"), CASES)
async def test_a_refused_write_answers_with_the_envelope_and_changes_nothing(
    menu: MenuService, method: str, path: str, who: str, body: Body, status: int
) -> None:
    at = await scene(menu)
    before = await everything_about(menu, at)
    got, answer = await menu.call(
        method, at.fill(path), json=body(at), token=token_for(menu, who, at)
    )
    assert got == status, answer
    assert answer["status"] == "error"
    assert set(answer["error"]) == {"code", "message", "details"}
    if status == 422:
        assert answer["error"]["details"]["fields"]
    assert await everything_about(menu, at) == before


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("POST", "/items", "hq"),
        ("PUT", PRICE, "owner"),
        ("PUT", AVAILABILITY, "manager"),
        ("PUT", HOURS, "manager"),
        ("PUT", REGISTER, "service"),
        ("POST", "/internal/quotes", "service"),
    ],
)
@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [
        ('{"price": ', {"Content-Type": "application/json"}, 400, "malformed_json"),
        ("", {"Content-Type": "application/json"}, 400, "malformed_json"),
        ("price=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "unsupported_media_type"),
    ],
)  # fmt: skip
async def test_a_body_that_is_not_json_is_refused_and_changes_nothing(
    menu: MenuService,
    method: str,
    path: str,
    who: str,
    raw: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    at = await scene(menu)
    before = await everything_about(menu, at)
    got, answer = await menu.call(
        method, at.fill(path), data=raw, headers=headers, token=token_for(menu, who, at)
    )
    assert (got, answer["error"]["code"]) == (status, code)
    assert await everything_about(menu, at) == before


async def test_a_jakarta_owner_cannot_set_a_bandung_price(menu: MenuService) -> None:
    jakarta_owner = menu.token(Role.FRANCHISE_OWNER, franchise_id="fr-jakarta")
    bandung_prices = (await menu.app[DATABASES].franchise("fr-bandung"))["franchise_prices"]
    before = [d async for d in bandung_prices.find()]

    status, body = await menu.call(
        "PUT", "/franchises/fr-bandung/prices/m001", json={"price": 1000}, token=jakarta_owner
    )
    assert (status, body["error"]["code"]) == (403, "tenant_forbidden")
    status, body = await menu.call(
        "DELETE", "/franchises/fr-bandung/prices/m001", token=jakarta_owner
    )
    assert status == 403
    status, body = await menu.call("GET", "/franchises/fr-bandung/prices", token=jakarta_owner)
    assert status == 403

    _, prices = await menu.call("GET", "/franchises/fr-bandung/prices", token=menu.hq)
    assert {p["item_id"]: p["price"] for p in prices["data"]["items"]}["m001"] == 26000
    assert (await menu.menu_item("outlet-04", "m001"))["price"] == 26000
    assert [d async for d in bandung_prices.find()] == before


async def test_staff_of_one_outlet_cannot_change_another(menu: MenuService) -> None:
    mine, franchise = await menu.new_outlet()
    theirs, _ = await menu.new_outlet(franchise)
    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[mine])
    status, body = await menu.call(
        "PUT", f"/outlets/{theirs}/availability", json={"m001": False}, token=manager
    )
    assert (status, body["error"]["code"]) == (403, "tenant_forbidden")
    other_owner = menu.token(Role.FRANCHISE_OWNER, franchise_id="fr-jakarta")
    status, _ = await menu.call(
        "PUT",
        f"/outlets/{theirs}/hours",
        json={"opening_hours": {"mon": [{"open": "08:00", "close": "12:00"}]}},
        token=other_owner,
    )
    assert status == 403
    status, _ = await menu.call("PUT", f"/outlets/{theirs}/availability", json={"m001": False})
    assert status == 401


async def test_hq_reading_the_prices_of_an_unknown_franchise_gets_a_404_and_no_database(
    menu: MenuService,
) -> None:
    from bobaku.kernel.db import franchise_db_name

    databases = menu.app[DATABASES]
    nowhere = menu.new_franchise()
    status, answer = await menu.call("GET", f"/franchises/{nowhere}/prices", token=menu.hq)
    assert (status, answer["error"]["code"]) == (404, "franchise_not_found"), answer
    names = await databases.client.list_database_names()
    assert franchise_db_name(databases.prefix, nowhere) not in names
    # A franchise with an outlet and no overrides yet is a franchise: an empty list.
    _, franchise_id = await menu.new_outlet()
    status, answer = await menu.call("GET", f"/franchises/{franchise_id}/prices", token=menu.hq)
    assert (status, answer["data"]["items"]) == (200, [])
