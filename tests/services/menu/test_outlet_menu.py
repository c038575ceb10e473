"""The effective menu of an outlet: HQ catalog → franchise prices → outlet availability,
seasons and opening hours; outlets and catalog reads."""

from __future__ import annotations

from datetime import timedelta

from menu_testing import NOON_IN_JAKARTA, MenuService
from support import eventually

from bobaku.kernel.auth import Role


async def test_the_menu_layers_hq_prices_franchise_overrides_and_outlet_availability(
    menu: MenuService,
) -> None:
    item = await menu.new_item(base_price=24000)
    outlet, franchise = await menu.new_outlet()
    sibling, _ = await menu.new_outlet(franchise)
    assert (await menu.menu_item(outlet, item))["price"] == 24000

    owner = menu.token(Role.FRANCHISE_OWNER, franchise_id=franchise)
    status, body = await menu.call(
        "PUT", f"/franchises/{franchise}/prices/{item}", json={"price": 21000}, token=owner
    )
    assert status == 200, body
    assert body["data"] == {
        "franchise_id": franchise,
        "item_id": item,
        "name": f"Test Tea {item}",
        "base_price": 24000,
        "override": 21000,
        "price": 21000,
    }

    async def franchise_price_shows() -> bool:
        return (await menu.menu_item(outlet, item))["price"] == 21000

    await eventually(franchise_price_shows)
    other_outlet, _ = await menu.new_outlet()
    assert (await menu.menu_item(other_outlet, item))["price"] == 24000  # another franchise

    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[outlet])
    status, body = await menu.call(
        "PUT", f"/outlets/{outlet}/availability", json={item: False}, token=manager
    )
    assert (status, body["data"]) == (200, {"outlet_id": outlet, "unavailable": [item]})

    async def unavailable_here() -> bool:
        shown = await menu.menu_item(outlet, item)
        return shown["available"] is False and shown["unavailable_reason"] == (
            "unavailable_at_outlet"
        )

    await eventually(unavailable_here)
    assert (await menu.menu_item(sibling, item))["available"] is True  # only that outlet

    status, _ = await menu.call("DELETE", f"/franchises/{franchise}/prices/{item}", token=owner)
    assert status == 200

    async def hq_price_again() -> bool:
        return (await menu.menu_item(sibling, item))["price"] == 24000

    await eventually(hq_price_again)


async def test_a_seasonal_item_is_out_of_season_before_and_after_its_window(
    menu: MenuService,
) -> None:
    starts = NOON_IN_JAKARTA + timedelta(days=10)
    ends = starts + timedelta(days=30)
    item = await menu.new_item(
        name="Durian Cheese Foam Festival",
        season={"starts_at": starts.isoformat(), "ends_at": ends.isoformat()},
    )
    outlet, _ = await menu.new_outlet()

    shown = await menu.menu_item(outlet, item)
    assert shown["seasonal"] is True
    assert shown["season"] == {
        "starts_at": starts.isoformat().replace("+00:00", "Z"),
        "ends_at": ends.isoformat().replace("+00:00", "Z"),
    }
    assert (shown["available"], shown["unavailable_reason"]) == (False, "out_of_season")
    # Open hours for the test: the window starts at midnight UTC, i.e. 07:00 in Jakarta.
    menu.clock.now = starts + timedelta(hours=5)
    assert (await menu.menu_item(outlet, item))["available"] is True
    menu.clock.now = ends + timedelta(hours=5)
    assert (await menu.menu_item(outlet, item))["unavailable_reason"] == "out_of_season"


async def test_open_now_follows_the_opening_hours_in_jakarta_time(menu: MenuService) -> None:
    status, body = await menu.call("GET", "/outlets/outlet-01")
    assert status == 200
    assert body["data"]["open_now"] is True
    assert body["data"]["opening_hours"]["tue"] == [{"open": "10:00", "close": "22:00"}]

    menu.clock.now = NOON_IN_JAKARTA + timedelta(hours=10)  # 22:00 in Jakarta
    _, body = await menu.call("GET", "/outlets/outlet-01")
    assert body["data"]["open_now"] is False
    _, shown = await menu.call("GET", "/outlets/outlet-01/menu")
    assert shown["data"]["open_now"] is False


async def test_a_manager_moves_the_opening_hours_and_the_outlet_follows(
    menu: MenuService,
) -> None:
    outlet, franchise = await menu.new_outlet()
    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[outlet])
    late = {"tue": [{"open": "18:00", "close": "02:00"}]}
    status, body = await menu.call(
        "PUT", f"/outlets/{outlet}/hours", json={"opening_hours": late}, token=manager
    )
    assert status == 200, body
    assert body["data"]["opening_hours"] == late
    assert body["data"]["open_now"] is False  # noon

    menu.clock.now = NOON_IN_JAKARTA + timedelta(hours=13)  # Wednesday 01:00 in Jakarta

    async def open_after_midnight() -> bool:
        _, got = await menu.call("GET", f"/outlets/{outlet}")
        return bool(got["data"]["open_now"])

    await eventually(open_after_midnight)


async def test_outlets_are_listed_by_franchise_and_city_in_pages(menu: MenuService) -> None:
    franchise = menu.new_franchise()
    made = sorted([(await menu.new_outlet(franchise, city="Surabaya"))[0] for _ in range(3)])
    seen: list[str] = []
    cursor = None
    while True:
        query = f"/outlets?franchise_id={franchise}&limit=2" + (
            f"&cursor={cursor}" if cursor else ""
        )
        status, body = await menu.call("GET", query)
        assert status == 200
        seen += [o["id"] for o in body["data"]["items"]]
        cursor = body["data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    _, bandung = await menu.call("GET", "/outlets?franchise_id=fr-bandung")
    assert [o["id"] for o in bandung["data"]["items"]] == ["outlet-04", "outlet-05"]
    _, braga = await menu.call("GET", "/outlets?city=Bandung&limit=1")
    assert braga["data"]["items"][0]["id"] == "outlet-04"
    status, body = await menu.call("GET", "/outlets?limit=500")
    assert (status, body["error"]["details"]["fields"][0]["field"]) == (422, "limit")


async def test_catalog_reads_name_the_toppings_and_their_prices(menu: MenuService) -> None:
    status, body = await menu.call("GET", "/items/m001")
    assert status == 200
    item = body["data"]
    assert (item["name"], item["base_price"]) == ("Brown Sugar Boba Milk Tea", 28000)
    assert {"id": "t003", "name": "Cheese Foam", "price": 8000} in item["toppings"]
    _, toppings = await menu.call("GET", "/toppings")
    assert {"id": "t001", "name": "Pearl", "price": 5000} in toppings["data"]["items"]
    status, missing = await menu.call("GET", "/items/m999999")
    assert (status, missing["error"]["code"]) == (404, "item_not_found")
    status, missing = await menu.call("GET", "/outlets/outlet-999999999/menu")
    assert (status, missing["error"]["code"]) == (404, "outlet_not_found")


async def test_hq_changes_an_items_base_price_and_season_and_every_outlet_sees_it(
    menu: MenuService,
) -> None:
    item = await menu.new_item(base_price=20000)
    outlet, _ = await menu.new_outlet()
    assert (await menu.menu_item(outlet, item))["price"] == 20000
    window = {
        "starts_at": (NOON_IN_JAKARTA + timedelta(days=1)).isoformat(),
        "ends_at": (NOON_IN_JAKARTA + timedelta(days=2)).isoformat(),
    }
    status, body = await menu.call(
        "PATCH", f"/items/{item}", json={"base_price": 23000, "season": window}, token=menu.hq
    )
    assert status == 200, body
    assert body["data"]["base_price"] == 23000

    async def changed_everywhere() -> bool:
        shown = await menu.menu_item(outlet, item)
        return shown["price"] == 23000 and shown["unavailable_reason"] == "out_of_season"

    await eventually(changed_everywhere)
    status, body = await menu.call("PATCH", f"/items/{item}", json={"season": None}, token=menu.hq)
    assert (status, body["data"]["seasonal"]) == (200, False)
    status, body = await menu.call(
        "PATCH", f"/items/{item}", json={"base_price": 1}, token=menu.token(Role.FRANCHISE_OWNER)
    )
    assert status == 403
