"""The supply service over HTTP against real NATS JetStream and FerretDB."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.js.errors import NotFoundError
from supply_testing import SupplyHarness
from support import eventually

from bobaku.kernel.bus import EVENTS_STREAM
from bobaku.kernel.events import Event
from bobaku.services.supply.domain.purchasing import PurchaseOrder
from bobaku.services.supply.entrypoints.http import CONTEXT

# The ingredients one m001 (Brown Sugar Boba Milk Tea) with pearls (t001) and cheese foam
# (t003) takes, from the demo recipes in services/supply/seed.py.
M001_INGREDIENTS = (
    "assam-tea", "fresh-milk", "tapioca-pearl", "brown-sugar-syrup", "ice", "cup-500",
    "dome-lid", "boba-straw", "cheese-foam-mix",
)  # fmt: skip


def reservation(order_id: str, outlet_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": order_id, "outlet_id": outlet_id, "items": list(items)}


def drink(menu_id: str, quantity: int = 1, **customizations: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"menu_id": menu_id, "quantity": quantity}
    if customizations:
        out["customizations"] = customizations
    return out


async def test_a_drink_with_50_sugar_30_ice_and_two_toppings_takes_the_hand_calculated_amounts(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    await harness.count(outlet, franchise, {i: 10_000 for i in M001_INGREDIENTS})
    order = reservation(
        "ord-20261201-hand0001",
        outlet,
        drink("m001", 2, sugar_level=50, ice_level=30, toppings=["t001", "t003"]),
    )
    status, body = await harness.call(
        "POST", "/internal/stock/reservations", json=order, token=harness.service
    )
    assert status == 201, body
    # Per drink: assam 8 g, milk 150 ml + 20 ml (cheese foam), pearls 60 g + 50 g (t001),
    # brown sugar syrup ceil(45 x 50%) = 23 ml, ice ceil(180 x 30%) = 54 g, cheese foam mix
    # 30 g, one cup, dome lid and straw. Two drinks: twice that.
    expected = {
        "assam-tea": 16, "fresh-milk": 340, "tapioca-pearl": 220, "brown-sugar-syrup": 46,
        "ice": 108, "cheese-foam-mix": 60, "cup-500": 2, "dome-lid": 2, "boba-straw": 2,
    }  # fmt: skip
    held = {x["ingredient_id"]: x["quantity"] for x in body["data"]["ingredients"]}
    assert held == expected
    assert body["data"]["status"] == "reserved"
    stock = await harness.stock(outlet, franchise)
    for ingredient_id, quantity in expected.items():
        assert stock[ingredient_id]["reserved"] == quantity
        assert stock[ingredient_id]["available"] == 10_000 - quantity
        assert stock[ingredient_id]["on_hand"] == 10_000

    # A repeat of the same order's reservation holds nothing more.
    status, again = await harness.call(
        "POST", "/internal/stock/reservations", json=order, token=harness.service, replica=1
    )
    assert status == 201
    assert again["data"]["ingredients"] == body["data"]["ingredients"]
    # Committed (the order is being prepared): the units leave the shelf, once.
    for replica in (0, 1, 0):
        status, done = await harness.call(
            "POST",
            "/internal/stock/reservations/ord-20261201-hand0001/commit",
            token=harness.service,
            replica=replica,
        )
        assert status == 200, done
        assert done["data"]["status"] == "committed"
    stock = await harness.stock(outlet, franchise)
    for ingredient_id, quantity in expected.items():
        assert stock[ingredient_id] == {
            "ingredient_id": ingredient_id,
            "on_hand": 10_000 - quantity,
            "reserved": 0,
            "available": 10_000 - quantity,
        }
    # Released after being used: refused, and nothing comes back.
    status, refused = await harness.call(
        "POST",
        "/internal/stock/reservations/ord-20261201-hand0001/release",
        token=harness.service,
    )
    assert status == 409
    assert refused["error"]["code"] == "reservation_closed"
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["on_hand"] == 9_780


async def test_orders_racing_for_the_last_pearls_on_two_replicas_never_oversell(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    # m002 without toppings takes 50 g of pearls; 170 g is enough for three drinks.
    await harness.count(outlet, franchise, {"tapioca-pearl": 170, "cup-500": 100})

    async def order(n: int) -> int:
        body = reservation(f"ord-20261201-race{n:04d}", outlet, drink("m002"))
        status, _ = await harness.call(
            "POST", "/internal/stock/reservations", json=body, token=harness.service, replica=n % 2
        )
        return status

    statuses = await asyncio.gather(*(order(n) for n in range(12)))
    assert sorted(statuses) == [201] * 3 + [409] * 9
    stock = await harness.stock(outlet, franchise)
    assert stock["tapioca-pearl"] == {
        "ingredient_id": "tapioca-pearl", "on_hand": 170, "reserved": 150, "available": 20,
    }  # fmt: skip
    assert stock["cup-500"]["reserved"] == 3
    # The refusal names the item and the ingredient that ran short.
    status, body = await harness.call(
        "POST",
        "/internal/stock/reservations",
        json=reservation("ord-20261201-race9999", outlet, drink("m002")),
        token=harness.service,
    )
    assert status == 409
    assert body["error"]["code"] == "insufficient_stock"
    assert body["error"]["details"]["items"] == [
        {"menu_id": "m002", "reason": "out_of_ingredients"}
    ]
    assert body["error"]["details"]["ingredients"] == [
        {"ingredient_id": "tapioca-pearl", "requested": 50, "available": 20}
    ]
    # Releasing one gives its pearls back to the next order.
    status, _ = await harness.call(
        "POST",
        f"/internal/stock/reservations/{_winner(statuses)}/release",
        token=harness.service,
    )
    assert status == 200
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["available"] == 70
    # Replica 1 still remembers the ledger from before that release on replica 0 (20 g
    # left): a refusal there is believed only of the stored ledger, which has them back.
    status, _ = await harness.call(
        "POST",
        "/internal/stock/reservations",
        json=reservation("ord-20261201-race9998", outlet, drink("m002")),
        token=harness.service,
        replica=1,
    )
    assert status == 201


def _winner(statuses: list[int]) -> str:
    n = statuses.index(201)
    return f"ord-20261201-race{n:04d}"


async def test_a_purchase_order_received_in_two_parts(harness: SupplyHarness) -> None:
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    await harness.count(outlet, franchise, {"tapioca-pearl": 500, "fresh-milk": 0})
    status, po = await harness.call(
        "POST",
        f"/outlets/{outlet}/purchase-orders",
        json={
            "supplier_id": "sup-boba-nusantara",
            "expected_delivery": "2026-12-03",
            "lines": [
                {"ingredient_id": "tapioca-pearl", "packs": 4},
                {"ingredient_id": "fresh-milk", "packs": 10, "unit_price": 21000},
            ],
        },
        token=manager,
    )
    assert status == 201, po
    po_id = po["data"]["id"]
    assert po["data"]["status"] == "draft"
    # 4 packs of pearls at HQ's 90,000 + 10 litres of milk at the agreed 21,000.
    assert po["data"]["total_amount"] == 4 * 90_000 + 10 * 21_000
    base = f"/outlets/{outlet}/purchase-orders/{po_id}"
    # Nothing is received before the supplier has the order.
    status, body = await harness.call(
        "POST", f"{base}/receipts", json={"lines": [{"ingredient_id": "fresh-milk", "packs": 1}]},
        token=manager,
    )  # fmt: skip
    assert status == 409
    assert body["error"]["code"] == "invalid_transition"
    status, body = await harness.call("POST", f"{base}/submit", token=manager)
    assert status == 200
    assert body["data"]["status"] == "submitted"

    first = {"lines": [{"ingredient_id": "tapioca-pearl", "packs": 1},
                       {"ingredient_id": "fresh-milk", "packs": 6}]}  # fmt: skip
    status, body = await harness.call("POST", f"{base}/receipts", json=first, token=manager)
    assert status == 200, body
    assert body["data"]["status"] == "partially_received"
    stock = await harness.stock(outlet, franchise)
    assert stock["tapioca-pearl"]["on_hand"] == 500 + 3000
    assert stock["fresh-milk"]["on_hand"] == 6000
    # More than is outstanding is refused, naming the line, and books nothing.
    status, body = await harness.call(
        "POST", f"{base}/receipts", json={"lines": [{"ingredient_id": "fresh-milk", "packs": 5}]},
        token=manager,
    )  # fmt: skip
    assert status == 422
    assert body["error"]["details"]["fields"][0]["field"] == "lines.fresh-milk"
    assert (await harness.stock(outlet, franchise))["fresh-milk"]["on_hand"] == 6000

    rest = {"lines": [{"ingredient_id": "tapioca-pearl", "packs": 3},
                      {"ingredient_id": "fresh-milk", "packs": 4}]}  # fmt: skip
    status, body = await harness.call("POST", f"{base}/receipts", json=rest, token=manager)
    assert status == 200, body
    assert body["data"]["status"] == "received"
    assert body["data"]["receipts"] == 2
    assert {x["ingredient_id"]: x["received_packs"] for x in body["data"]["lines"]} == {
        "fresh-milk": 10, "tapioca-pearl": 4,
    }  # fmt: skip
    stock = await harness.stock(outlet, franchise)
    assert stock["tapioca-pearl"]["on_hand"] == 500 + 4 * 3000
    assert stock["fresh-milk"]["on_hand"] == 10_000
    # A received order can no longer be cancelled.
    status, body = await harness.call(
        "POST", f"{base}/cancel", json={"reason": "late"}, token=manager
    )
    assert status == 409


async def test_a_transfer_between_outlets_records_the_loss(harness: SupplyHarness) -> None:
    source, franchise = await harness.new_outlet()
    target, _ = await harness.new_outlet(franchise)
    owner = harness.owner(franchise)
    await harness.count(source, franchise, {"tapioca-pearl": 6000, "cup-500": 500})
    await harness.count(target, franchise, {"tapioca-pearl": 100})
    status, body = await harness.call(
        "POST",
        f"/outlets/{source}/transfers",
        json={
            "to_outlet_id": target,
            "lines": [
                {"ingredient_id": "tapioca-pearl", "quantity": 3000},
                {"ingredient_id": "cup-500", "quantity": 200},
            ],
        },
        token=owner,
    )
    assert status == 201, body
    transfer = body["data"]["id"]
    assert body["data"]["status"] == "requested"
    # Requested: nothing has moved yet.
    assert (await harness.stock(source, franchise))["tapioca-pearl"]["on_hand"] == 6000
    status, body = await harness.call(
        "POST", f"/outlets/{source}/transfers/{transfer}/ship", token=owner
    )
    assert status == 200, body
    assert body["data"]["status"] == "shipped"
    # Shipping twice moves the stock once.
    status, _ = await harness.call(
        "POST", f"/outlets/{source}/transfers/{transfer}/ship", token=owner, replica=1
    )
    assert status == 200
    source_stock = await harness.stock(source, franchise)
    assert source_stock["tapioca-pearl"]["on_hand"] == 3000
    assert source_stock["cup-500"]["on_hand"] == 300

    # A bag of pearls split on the way: 2,750 g arrive; all 200 cups do.
    target_manager = harness.manager(franchise, target)
    status, body = await harness.call(
        "POST",
        f"/outlets/{target}/transfers/{transfer}/receive",
        json={
            "lines": [
                {"ingredient_id": "tapioca-pearl", "counted": 2750},
                {"ingredient_id": "cup-500", "counted": 200},
            ]
        },
        token=target_manager,
    )
    assert status == 200, body
    assert body["data"]["status"] == "received"
    assert body["data"]["loss"] == [{"ingredient_id": "tapioca-pearl", "quantity": 250}]
    target_stock = await harness.stock(target, franchise)
    assert target_stock["tapioca-pearl"]["on_hand"] == 100 + 2750
    assert target_stock["cup-500"]["on_hand"] == 200
    # The sending outlet's manager cannot receive it; the transfer is settled anyway.
    status, _ = await harness.call(
        "POST",
        f"/outlets/{source}/transfers/{transfer}/receive",
        json={"lines": []},
        token=owner,
    )
    assert status == 409


async def test_a_transfer_to_another_franchise_is_refused_and_nothing_moves(
    harness: SupplyHarness,
) -> None:
    source, franchise = await harness.new_outlet()
    foreign, _ = await harness.new_outlet()
    await harness.count(source, franchise, {"tapioca-pearl": 6000})
    status, body = await harness.call(
        "POST",
        f"/outlets/{source}/transfers",
        json={
            "to_outlet_id": foreign,
            "lines": [{"ingredient_id": "tapioca-pearl", "quantity": 1}],
        },
        token=harness.owner(franchise),
    )
    assert status == 403
    assert body["error"]["code"] == "tenant_forbidden"
    # HQ is told the rule instead.
    status, body = await harness.call(
        "POST",
        f"/outlets/{source}/transfers",
        json={
            "to_outlet_id": foreign,
            "lines": [{"ingredient_id": "tapioca-pearl", "quantity": 1}],
        },
        token=harness.hq,
    )
    assert status == 409
    assert body["error"]["details"]["reason"] == "other_franchise"
    assert (await harness.stock(source, franchise))["tapioca-pearl"]["on_hand"] == 6000
    # Another franchise's manager cannot even read the stock.
    status, body = await harness.call(
        "GET",
        f"/outlets/{source}/ingredient-stock",
        token=harness.manager("fr-elsewhere", source),
    )
    assert status == 403
    assert body["error"]["code"] == "tenant_forbidden"


async def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    await harness.count(outlet, franchise, {"tapioca-pearl": 1000})

    # A negative quantity.
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/receipts",
        json={"lines": [{"ingredient_id": "tapioca-pearl", "quantity": -500}]},
        token=manager,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["lines.0.quantity"]
    # An ingredient nobody defined.
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/waste",
        json={
            "reason": "spilled",
            "lines": [
                {"ingredient_id": "tapioca-pearl", "quantity": 10},
                {"ingredient_id": "unicorn-tears", "quantity": 10},
            ],
        },
        token=manager,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["lines.1.ingredient_id"]
    # Waste without a known reason.
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/waste",
        json={"reason": "ate it", "lines": [{"ingredient_id": "tapioca-pearl", "quantity": 1}]},
        token=manager,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["reason"]
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["on_hand"] == 1000

    # An ingredient in an unknown unit.
    status, body = await harness.call(
        "PUT",
        "/ingredients/jelly-test",
        json={"name": "Jelly", "unit": "cups", "pack_size": 10, "unit_cost": 1000},
        token=harness.hq,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["unit"]
    status, body = await harness.call("GET", "/ingredients", token=harness.hq)
    assert "jelly-test" not in {x["id"] for x in body["data"]["items"]}

    # A recipe naming an ingredient that does not exist.
    status, body = await harness.call(
        "PUT",
        "/recipes/m999/regular",
        json={
            "lines": [
                {"ingredient_id": "assam-tea", "quantity": 8},
                {"ingredient_id": "dragon-fruit", "quantity": 40},
            ]
        },
        token=harness.hq,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["lines.1.ingredient_id"]
    status, _ = await harness.call("GET", "/recipes/m999/regular", token=harness.hq)
    assert status == 404
    # Malformed JSON and wrong types.
    status, body = await harness.call(
        "PUT", "/recipes/m999/regular", data="{not json", token=harness.hq
    )
    assert status == 400
    assert body["error"]["code"] == "malformed_json"
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/stock-takes",
        json={"lines": [{"ingredient_id": "tapioca-pearl", "counted": "5"}]},
        token=manager,
    )
    assert status == 422
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["lines.0.counted"]
    # Only HQ defines recipes.
    status, body = await harness.call(
        "PUT",
        "/recipes/m999/regular",
        json={"lines": [{"ingredient_id": "assam-tea", "quantity": 8}]},
        token=harness.owner(franchise),
    )
    assert status == 403
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["on_hand"] == 1000


async def test_ids_and_names_with_control_characters_are_refused_and_nothing_is_stored(
    harness: SupplyHarness,
) -> None:
    """Schemathesis stored a supplier ``T\u00e0…\u000f`` named with U+0085 (a 201)."""
    supplier = {"name": "Teh Segar", "email": "teh@example.com"}
    for path, body, field in (
        ("/suppliers/sup-nul%00", supplier, "supplier_id"),
        ("/suppliers/Sup%C3%A0%0F", supplier, "supplier_id"),
        ("/suppliers/sup-bidi", {**supplier, "name": "Teh\u202eSegar"}, "name"),
        ("/suppliers/sup-nel", {**supplier, "name": "Teh\u0085Segar"}, "name"),
        (
            "/ingredients/jelly%0Abad",
            {"name": "Jelly", "unit": "g", "pack_size": 10, "unit_cost": 1000},
            "ingredient_id",
        ),
        (
            "/ingredients/jelly-zw",
            {"name": "Jel\u200bly", "unit": "g", "pack_size": 10, "unit_cost": 1000},
            "name",
        ),
        (
            "/recipes/m%20999/regular",
            {"lines": [{"ingredient_id": "assam-tea", "quantity": 8}]},
            "menu_id",
        ),
    ):
        status, reply = await harness.call("PUT", path, json=body, token=harness.hq)
        assert status == 422, (path, reply)
        assert field in {f["field"] for f in reply["error"]["details"]["fields"]}, (path, reply)
    status, reply = await harness.call("GET", "/ingredients", token=harness.hq)
    assert not {x["id"] for x in reply["data"]["items"]} & {"jelly-zw", "jelly\nbad"}


async def _last_event(harness: SupplyHarness, subject: str) -> Event | None:
    try:
        raw = await harness.bus.js.get_last_msg(EVENTS_STREAM, subject)
    except NotFoundError:
        return None
    return Event.model_validate(json.loads(raw.data or b"{}"))


async def test_falling_below_the_reorder_point_announces_low_stock_and_suggests_an_order(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    await harness.count(outlet, franchise, {"tapioca-pearl": 5000})
    status, body = await harness.call(
        "PUT",
        f"/outlets/{outlet}/par-levels",
        json={"levels": {"tapioca-pearl": {"par": 9000, "reorder_at": 4000}}},
        token=manager,
    )
    assert status == 200, body
    status, body = await harness.call(
        "GET", f"/outlets/{outlet}/suggested-purchase-orders", token=manager
    )
    assert body["data"]["purchase_orders"] == []  # 5,000 g is above the reorder point
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/waste",
        json={"reason": "expired", "lines": [{"ingredient_id": "tapioca-pearl", "quantity": 1500}]},
        token=manager,
    )
    assert status == 201, body

    async def low() -> Event | None:
        return await _last_event(harness, f"events.{franchise}.supply.stock_low")

    event = await eventually(low)
    assert event.data["outlet_id"] == outlet
    assert event.data["ingredient_id"] == "tapioca-pearl"
    assert event.data["available"] == 3500
    assert event.data["reorder_at"] == 4000
    # Back to par: 5,500 g short, in 3 kg bags = 2 bags.
    assert event.data["suggested_packs"] == 2
    status, body = await harness.call(
        "GET", f"/outlets/{outlet}/suggested-purchase-orders", token=manager
    )
    # No analytics answers here: par levels alone, and the answer says so.
    assert body["data"]["basis"] == "par_levels"
    assert "analytics" in body["data"]["forecast_unavailable"]
    [suggestion] = body["data"]["purchase_orders"]
    assert suggestion["lines"][0]["forecast_use"] == 0
    assert suggestion["supplier_id"] == "sup-boba-nusantara"
    assert suggestion["lines"][0]["packs"] == 2
    assert suggestion["total_amount"] == 2 * 90_000


async def test_running_out_of_an_ingredient_announces_the_items_that_cannot_be_made(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    # Popping boba for exactly one Strawberry Popping Yakult (m011) and one Blueberry
    # Popping Boba Lemonade (m024): 40 g each.
    await harness.count(outlet, franchise, {"popping-boba": 80, "yakult": 10, "lemon": 10})
    status, _ = await harness.call(
        "POST",
        "/internal/stock/reservations",
        json=reservation("ord-20261201-pop00001", outlet, drink("m011", 1)),
        token=harness.service,
    )
    assert status == 201

    # 40 g left still makes one more of either; reserve it too.
    status, _ = await harness.call(
        "POST",
        "/internal/stock/reservations",
        json=reservation("ord-20261201-pop00002", outlet, drink("m024", 1)),
        token=harness.service,
    )
    assert status == 201

    async def both_out() -> Event | None:
        event = await _last_event(harness, f"events.{franchise}.supply.availability_changed")
        return event if event and {"m011", "m024"} <= set(event.data["unavailable"]) else None

    event = await eventually(both_out)
    assert event.data["outlet_id"] == outlet
    # The menu learns it from the event: both items show as sold out there, and only there.
    await eventually(lambda: _menu_says(harness, outlet, {"m011": False, "m024": False}))
    assert await _menu_says(harness, outlet, {"m012": True, "m001": True})
    # A receipt of popping boba brings them back.
    status, _ = await harness.call(
        "POST",
        f"/outlets/{outlet}/receipts",
        json={"lines": [{"ingredient_id": "popping-boba", "quantity": 3200}]},
        token=harness.manager(franchise, outlet),
    )
    assert status == 201

    async def back() -> Event | None:
        event = await _last_event(harness, f"events.{franchise}.supply.availability_changed")
        return event if event and not {"m011", "m024"} & set(event.data["unavailable"]) else None

    event = await eventually(back)
    assert {"m011", "m024"} <= set(event.data["became_available"])
    await eventually(lambda: _menu_says(harness, outlet, {"m011": True, "m024": True}))


async def _menu_says(harness: SupplyHarness, outlet: str, expected: dict[str, bool]) -> bool:
    async with harness.menu.get(f"/outlets/{outlet}/menu") as resp:
        assert resp.status == 200
        body = await resp.json()
    items = {i["id"]: i for c in body["data"]["categories"] for i in c["items"]}
    for menu_id, available in expected.items():
        if items[menu_id]["available"] != available:
            return False
        if not available:
            assert items[menu_id]["unavailable_reason"] == "sold_out"
    return True


async def test_the_openapi_document_describes_the_routes_and_their_bodies(
    harness: SupplyHarness,
) -> None:
    async with harness.supply.get("/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    reserve = doc["paths"]["/internal/stock/reservations"]["post"]
    assert reserve["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReservationBody"
    }
    assert {"201", "409", "422"} <= set(reserve["responses"])
    unit = doc["components"]["schemas"]["IngredientBody"]["properties"]["unit"]
    assert unit["enum"] == ["g", "ml", "pcs"]
    assert "/outlets/{outlet_id}/purchase-orders/{po_id}/receipts" in doc["paths"]


async def test_a_delivery_recorded_just_before_a_crash_is_still_booked_once(
    harness: SupplyHarness,
) -> None:
    """The PO's receipt is recorded first and booked after; if the process dies between the
    two, the relay books it. Simulated here by recording a receipt the way the handler
    does and not booking it."""
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    await harness.count(outlet, franchise, {"tapioca-pearl": 0})
    status, po = await harness.call(
        "POST",
        f"/outlets/{outlet}/purchase-orders",
        json={
            "supplier_id": "sup-boba-nusantara",
            "expected_delivery": "2026-12-03",
            "lines": [{"ingredient_id": "tapioca-pearl", "packs": 3}],
        },
        token=manager,
    )
    assert status == 201, po
    po_id = po["data"]["id"]
    status, _ = await harness.call(
        "POST", f"/outlets/{outlet}/purchase-orders/{po_id}/submit", token=manager
    )
    assert status == 200
    documents = harness.supply.app[CONTEXT].purchase_orders
    order, seq = await documents.load(franchise, po_id, lambda: PurchaseOrder(po_id))
    await documents.append(franchise, po_id, [order.receive({"tapioca-pearl": 1})], seq)

    async def booked() -> bool:
        return (await harness.stock(outlet, franchise))["tapioca-pearl"]["on_hand"] == 3000

    await eventually(booked)
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/purchase-orders/{po_id}/receipts",
        json={"lines": [{"ingredient_id": "tapioca-pearl", "packs": 2}]},
        token=manager,
    )
    assert status == 200, body
    assert body["data"]["status"] == "received"
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["on_hand"] == 9000


async def test_a_bad_reservation_is_refused_naming_the_field_and_holds_nothing(
    harness: SupplyHarness,
) -> None:
    """The saga's reservation call (moved here with the menu's whole-item counts)."""
    outlet, franchise = await harness.new_outlet()
    await harness.count(outlet, franchise, {"tapioca-pearl": 1000})
    good = {"order_id": "ord-20261124-0badbad0", "outlet_id": outlet, "items": [drink("m001")]}
    for changes, field in (
        ({"order_id": "order 1"}, "order_id"),
        ({"items": []}, "items"),
        ({"items": [{"menu_id": "m001", "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"menu_id": "m001"}]}, "items.0.quantity"),
        ({"outlet_id": "outlet-999999999"}, "outlet_id"),
    ):
        status, body = await harness.call(
            "POST", "/internal/stock/reservations", json={**good, **changes}, token=harness.service
        )
        assert status == 422, (changes, body)
        assert body["error"]["details"]["fields"][0]["field"] == field, changes
    # Only the saga (a service token) reserves; a manager of the outlet may not.
    status, body = await harness.call(
        "POST",
        "/internal/stock/reservations",
        json=good,
        token=harness.manager(franchise, outlet),
    )
    assert status == 403
    assert (await harness.stock(outlet, franchise))["tapioca-pearl"]["reserved"] == 0
