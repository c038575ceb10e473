"""A franchise's own suppliers and prices (issue #13, deliverable 1): HQ's catalog with the
franchise's choices applied, for that franchise only; purchase orders and suggestions use
them; another franchise can neither see nor change them; a bad choice writes nothing."""

from __future__ import annotations

import secrets
from typing import Any

from supply_testing import SupplyHarness


def _by_id(body: Any) -> dict[str, Any]:
    return {x["id"]: x for x in body["data"]["items"]}


async def test_a_franchise_buys_an_ingredient_from_its_own_supplier_at_its_price(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    other_outlet, other = await harness.new_outlet()
    owner, manager = harness.owner(franchise), harness.manager(franchise, outlet)
    status, body = await harness.call(
        "PUT",
        f"/franchises/{franchise}/suppliers/sup-pasar-lokal",
        json={"name": "Pasar Lokal Tapioka", "phone": "021-5559999", "lead_time_days": 1},
        token=owner,
    )
    assert status == 201, body
    status, body = await harness.call(
        "PUT",
        f"/franchises/{franchise}/ingredients/tapioca-pearl",
        json={"supplier_id": "sup-pasar-lokal", "unit_cost": 80_000},
        token=owner,
    )
    assert status == 200, body
    assert (body["data"]["supplier_id"], body["data"]["unit_cost"]) == ("sup-pasar-lokal", 80_000)
    # Given free cups by a sponsor: a price of 0 is the franchise's price, not "no price".
    status, body = await harness.call(
        "PUT",
        f"/franchises/{franchise}/ingredients/cup-500",
        json={"unit_cost": 0},
        token=owner,
    )
    assert status == 200, body
    assert (body["data"]["supplier_id"], body["data"]["unit_cost"]) == ("sup-kemasan-jaya", 0)

    status, body = await harness.call("GET", f"/franchises/{franchise}/ingredients", token=manager)
    assert status == 200, body
    mine = _by_id(body)
    assert (mine["tapioca-pearl"]["supplier_id"], mine["tapioca-pearl"]["unit_cost"]) == (
        "sup-pasar-lokal",
        80_000,
    )
    assert mine["cup-500"]["unit_cost"] == 0
    assert mine["fresh-milk"]["unit_cost"] == 22_000  # not overridden: HQ's
    status, body = await harness.call(
        "GET", f"/franchises/{other}/ingredients", token=harness.owner(other)
    )
    theirs = _by_id(body)
    assert (theirs["tapioca-pearl"]["supplier_id"], theirs["tapioca-pearl"]["unit_cost"]) == (
        "sup-boba-nusantara",
        90_000,
    )
    assert theirs["cup-500"]["unit_cost"] == 450_000
    status, body = await harness.call("GET", f"/franchises/{franchise}/suppliers", token=manager)
    owners = {x["id"]: x["owner"] for x in body["data"]["items"]}
    assert owners["sup-pasar-lokal"] == "franchise"
    assert owners["sup-boba-nusantara"] == "hq"
    status, body = await harness.call(
        "GET", f"/franchises/{other}/suppliers", token=harness.owner(other)
    )
    assert "sup-pasar-lokal" not in {x["id"] for x in body["data"]["items"]}

    # A purchase order to the franchise's supplier is priced at the franchise's price.
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/purchase-orders",
        json={
            "supplier_id": "sup-pasar-lokal",
            "expected_delivery": "2026-12-09",
            "lines": [{"ingredient_id": "tapioca-pearl", "packs": 2}],
        },
        token=manager,
    )
    assert status == 201, body
    assert body["data"]["total_amount"] == 2 * 80_000
    # Another franchise's outlet cannot order from it.
    status, body = await harness.call(
        "POST",
        f"/outlets/{other_outlet}/purchase-orders",
        json={
            "supplier_id": "sup-pasar-lokal",
            "expected_delivery": "2026-12-09",
            "lines": [{"ingredient_id": "tapioca-pearl", "packs": 2}],
        },
        token=harness.manager(other, other_outlet),
    )
    assert status == 422, body
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["supplier_id"]

    # The suggestion orders from the franchise's supplier at its price.
    await harness.count(outlet, franchise, {"tapioca-pearl": 1000})
    status, body = await harness.call(
        "PUT",
        f"/outlets/{outlet}/par-levels",
        json={"levels": {"tapioca-pearl": {"par": 9000, "reorder_at": 3000}}},
        token=manager,
    )
    assert status == 200, body
    status, body = await harness.call(
        "GET", f"/outlets/{outlet}/suggested-purchase-orders", token=manager
    )
    assert status == 200, body
    suggested = {p["supplier_id"]: p for p in body["data"]["purchase_orders"]}
    line = suggested["sup-pasar-lokal"]["lines"][0]
    assert (line["ingredient_id"], line["packs"], line["unit_price"]) == (
        "tapioca-pearl",
        3,
        80_000,
    )


async def test_another_franchise_cannot_set_them_and_a_bad_choice_writes_nothing(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    _, other = await harness.new_outlet()
    owner = harness.owner(franchise)
    for path, body in (
        (f"/franchises/{franchise}/suppliers/sup-x", {"name": "X", "lead_time_days": 1}),
        (f"/franchises/{franchise}/ingredients/tapioca-pearl", {"unit_cost": 1}),
    ):
        status, answer = await harness.call("PUT", path, json=body, token=harness.owner(other))
        assert status == 403, path
        assert answer["error"]["code"] == "tenant_forbidden"
        # An outlet manager of the franchise is not its owner.
        status, _ = await harness.call(
            "PUT", path, json=body, token=harness.manager(franchise, outlet)
        )
        assert status == 403, path
    status, answer = await harness.call(
        "GET", f"/franchises/{franchise}/ingredients", token=harness.owner(other)
    )
    assert status == 403
    for body, field in (
        ({"supplier_id": "sup-nobody"}, "supplier_id"),
        ({"unit_cost": -5}, "unit_cost"),
    ):
        status, answer = await harness.call(
            "PUT", f"/franchises/{franchise}/ingredients/tapioca-pearl", json=body, token=owner
        )
        assert status == 422, answer
        assert [f["field"] for f in answer["error"]["details"]["fields"]] == [field]
    status, answer = await harness.call(
        "PUT", f"/franchises/{franchise}/ingredients/unicorn-tears", json={}, token=owner
    )
    assert status == 404, answer
    status, answer = await harness.call("GET", f"/franchises/{franchise}/ingredients", token=owner)
    pearl = _by_id(answer)["tapioca-pearl"]
    assert (pearl["supplier_id"], pearl["unit_cost"]) == ("sup-boba-nusantara", 90_000)
    status, answer = await harness.call("GET", f"/franchises/{franchise}/suppliers", token=owner)
    assert "sup-x" not in {x["id"] for x in answer["data"]["items"]}


async def test_hq_reading_an_unknown_franchise_gets_a_404_and_creates_no_database(
    harness: SupplyHarness,
) -> None:
    from bobaku.kernel.db import franchise_db_name
    from bobaku.kernel.web import DATABASES

    databases = harness.supply.app[DATABASES]
    nowhere = f"fr-t{secrets.token_hex(4)}"
    harness.franchises.add(nowhere)  # dropped afterwards if the check below ever fails
    for noun in ("suppliers", "ingredients"):
        status, answer = await harness.call(
            "GET", f"/franchises/{nowhere}/{noun}", token=harness.hq
        )
        assert (status, answer["error"]["code"]) == (404, "franchise_not_found"), answer
        assert answer["error"]["details"]["franchise_id"] == nowhere
    names = await databases.client.list_database_names()
    assert franchise_db_name(databases.prefix, nowhere) not in names
    # A franchise with an outlet in the menu and no supply data yet is a franchise: HQ's lists.
    _, franchise = await harness.new_outlet()
    for noun in ("suppliers", "ingredients"):
        status, answer = await harness.call(
            "GET", f"/franchises/{franchise}/{noun}", token=harness.hq
        )
        assert status == 200, answer
        assert answer["data"]["items"], noun
