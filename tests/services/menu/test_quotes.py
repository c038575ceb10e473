"""``POST /internal/quotes``: the order service's price of an order, and every refusal."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from menu_testing import NOON_IN_JAKARTA, MenuService
from support import eventually

from bobaku.kernel.auth import Role
from bobaku.kernel.events import new_event
from bobaku.kernel.web import DATABASES
from bobaku.services.menu.adapters.supply_availability import keep_newest, unavailable_items
from bobaku.services.menu.entrypoints.supply_availability import supply_availability_spec

BRIEF_LINE = {
    "menu_id": "m001",
    "quantity": 2,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
}


async def quote(menu: MenuService, body: dict[str, Any]) -> tuple[int, Any]:
    return await menu.call("POST", "/internal/quotes", json=body, token=menu.service)


async def test_the_briefs_order_is_priced_by_the_documented_rule(menu: MenuService) -> None:
    status, body = await quote(menu, {"outlet_id": "outlet-01", "items": [BRIEF_LINE]})
    assert status == 200, body
    assert body["data"] == {
        "outlet": {
            "id": "outlet-01",
            "franchise_id": "fr-jakarta",
            "name": "BobaKu Gandaria City",
            "address": "Gandaria City Mall Lt. 2, Jl. Sultan Iskandar Muda, Kebayoran Lama, "
            "Jakarta Selatan",
            "phone": "021-55678923",
        },
        "lines": [
            {
                "menu_id": "m001",
                "name": "Brown Sugar Boba Milk Tea",
                "unit_price": 41000,
                "base_price": 28000,
                "quantity": 2,
                "customizations": {
                    "sugar_level": 50,
                    "ice_level": 30,
                    "toppings": [
                        {"id": "t001", "name": "Pearl", "price": 5000},
                        {"id": "t003", "name": "Cheese Foam", "price": 8000},
                    ],
                },
                "subtotal": 82000,
                "station": "toppings",
                "prep_seconds": 300,
            }
        ],
        "total": 82000,
    }
    assert body["data"]["total"] == 2 * (28000 + 5000 + 8000)


async def test_a_bandung_outlet_charges_its_franchise_price(menu: MenuService) -> None:
    lines = [BRIEF_LINE, {"menu_id": "m019", "quantity": 1}]
    status, body = await quote(menu, {"outlet_id": "outlet-05", "items": lines})
    assert status == 200, body
    first, second = body["data"]["lines"]
    assert (first["base_price"], first["subtotal"]) == (26000, 2 * (26000 + 5000 + 8000))
    assert second["customizations"] == {"sugar_level": 50, "ice_level": 100, "toppings": []}
    assert body["data"]["total"] == 78000 + 18000


def line(**changes: Any) -> dict[str, Any]:
    base = {"menu_id": "m001", "quantity": 1, "customizations": {"toppings": ["t001"]}}
    return {**base, **changes}


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([line(menu_id="m999")], "items.0.menu_id"),
        ([line(menu_id="boba")], "items.0.menu_id"),
        ([line(customizations={"sugar_level": 40})], "items.0.customizations.sugar_level"),
        ([line(customizations={"ice_level": 25})], "items.0.customizations.ice_level"),
        ([line(customizations={"sugar_level": 150})], "items.0.customizations.sugar_level"),
        ([line(customizations={"toppings": ["t005"]})], "items.0.customizations.toppings.0"),
        ([line(), line(customizations={"toppings": ["t001", "t999"]})],
         "items.1.customizations.toppings.1"),
        ([line(quantity=0)], "items.0.quantity"),
        ([line(quantity=21)], "items.0.quantity"),
        ([line(quantity="2")], "items.0.quantity"),
        ([line(size="large")], "items.0.size"),
        ([], "items"),
    ],
)  # fmt: skip
async def test_an_invalid_line_is_refused_naming_its_field(
    menu: MenuService, items: list[dict[str, Any]], field: str
) -> None:
    status, body = await quote(menu, {"outlet_id": "outlet-01", "items": items})
    assert status == 422, body
    assert body["status"] == "error"
    assert field in [f["field"] for f in body["error"]["details"]["fields"]]


async def test_a_topping_not_offered_with_the_drink_is_named(menu: MenuService) -> None:
    status, body = await quote(
        menu,
        {"outlet_id": "outlet-01", "items": [line(customizations={"toppings": ["t005"]})]},
    )
    assert status == 422
    (problem,) = body["error"]["details"]["fields"]
    assert problem["value"] == "t005"
    assert "t005" in problem["problem"]


async def test_an_unknown_outlet_is_a_field_error(menu: MenuService) -> None:
    status, body = await quote(menu, {"outlet_id": "outlet-999999999", "items": [line()]})
    assert (status, body["error"]["details"]["fields"][0]["field"]) == (422, "outlet_id")


async def test_a_closed_outlet_quotes_nothing(menu: MenuService) -> None:
    menu.clock.now = NOON_IN_JAKARTA - timedelta(hours=3)  # 09:00 in Jakarta
    status, body = await quote(menu, {"outlet_id": "outlet-01", "items": [line()]})
    assert (status, body["error"]["code"]) == (409, "outlet_closed")


async def test_an_unavailable_item_is_refused_naming_the_item(menu: MenuService) -> None:
    item = await menu.new_item()
    outlet, franchise = await menu.new_outlet()
    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[outlet])
    await menu.call("PUT", f"/outlets/{outlet}/availability", json={item: False}, token=manager)

    async def refused() -> Any:
        status, body = await quote(
            menu, {"outlet_id": outlet, "items": [line(), line(menu_id=item)]}
        )
        return body if status == 409 else None

    body = await eventually(refused)
    assert body["error"]["code"] == "item_unavailable"
    assert body["error"]["details"]["items"] == [
        {"index": 1, "menu_id": item, "name": f"Test Tea {item}", "reason": "unavailable_at_outlet"}
    ]


def availability_changed(franchise: str, outlet: str, unavailable: list[str], seq: int) -> Any:
    """What the supply service announces when an outlet can no longer (or again) make items."""
    return new_event(
        "supply.availability_changed",
        {
            "franchise_id": franchise,
            "outlet_id": outlet,
            "unavailable": unavailable,
            "became_unavailable": unavailable,
            "became_available": [],
            "seq": seq,
        },
        source="supply-service",
        tenant=franchise,
    )


async def test_an_item_supply_cannot_make_is_sold_out_until_supply_says_otherwise(
    menu: MenuService,
) -> None:
    item = await menu.new_item()
    outlet, franchise = await menu.new_outlet()
    await menu.bus.publish(availability_changed(franchise, outlet, [item], seq=7))

    async def sold_out() -> Any:
        status, body = await quote(menu, {"outlet_id": outlet, "items": [line(menu_id=item)]})
        return body if status == 409 else None

    body = await eventually(sold_out)
    assert body["error"]["details"]["items"][0]["reason"] == "sold_out"
    # An older announcement arriving late changes nothing; a newer one brings it back.
    await menu.bus.publish(availability_changed(franchise, outlet, [], seq=3))
    await menu.bus.publish(availability_changed(franchise, outlet, [item], seq=8))
    await menu.bus.publish(availability_changed(franchise, outlet, [], seq=9))

    async def back() -> bool:
        status, _ = await quote(menu, {"outlet_id": outlet, "items": [line(menu_id=item)]})
        return status == 200

    await eventually(back)


async def test_announcements_arriving_in_any_order_keep_the_newest(menu: MenuService) -> None:
    """The consumer is the outlet documents' one writer (one message in flight across the
    replicas): whatever order the announcements come in, the newest stays."""
    assert supply_availability_spec(5).max_ack_pending == 1
    databases = menu.app[DATABASES]
    outlet, franchise = await menu.new_outlet()
    seqs = list(range(1, 31))
    random.Random(13).shuffle(seqs)
    stored = {n: await keep_newest(databases, franchise, outlet, [f"m{n:03d}"], n) for n in seqs}
    assert stored[30]
    # Stored: each one newer than every one before it; every other one changed nothing.
    records = [n for i, n in enumerate(seqs) if n > max(seqs[:i], default=0)]
    assert [n for n in seqs if stored[n]] == records
    assert await unavailable_items(databases, franchise, outlet) == ["m030"]
    assert not await keep_newest(databases, franchise, outlet, ["m001"], 30)  # a redelivery
    assert await keep_newest(databases, franchise, outlet, [], 31)
    assert await unavailable_items(databases, franchise, outlet) == []


async def test_only_platform_services_may_ask_for_quotes(menu: MenuService) -> None:
    body = {"outlet_id": "outlet-01", "items": [BRIEF_LINE]}
    status, _ = await menu.call("POST", "/internal/quotes", json=body)
    assert status == 401
    customer = menu.token(Role.CUSTOMER)
    status, answer = await menu.call("POST", "/internal/quotes", json=body, token=customer)
    assert (status, answer["error"]["code"]) == (403, "forbidden")
