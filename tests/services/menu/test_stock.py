"""Stock per outlet, event-sourced: reservations keyed by order id, all or nothing, never
oversold under concurrency, and sold-out items off the menu."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from menu_testing import MenuService
from support import eventually

from bobaku.kernel.auth import Role
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.menu.adapters.stock_ledgers import StockLedgers
from bobaku.services.menu.bootstrap import build_app
from bobaku.services.menu.domain.stock import InsufficientStock, StockLedger


def order_id() -> str:
    return f"ord-20261124-{secrets.token_hex(4)}"


async def stocked_outlet(menu: MenuService, counts: dict[str, int | None]) -> tuple[str, str]:
    outlet, franchise = await menu.new_outlet()
    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[outlet])
    status, body = await menu.call(
        "PUT", f"/outlets/{outlet}/stock", json={"items": counts}, token=manager
    )
    assert status == 200, body
    return outlet, franchise


async def reserve(
    menu: MenuService, order: str, outlet: str, items: dict[str, int]
) -> tuple[int, Any]:
    body = {
        "order_id": order,
        "outlet_id": outlet,
        "items": [{"menu_id": k, "quantity": v} for k, v in items.items()],
    }
    return await menu.call("POST", "/internal/stock/reservations", json=body, token=menu.service)


async def settle(menu: MenuService, order: str, how: str) -> tuple[int, Any]:
    return await menu.call(
        "POST", f"/internal/stock/reservations/{order}/{how}", token=menu.service
    )


async def stock_of(menu: MenuService, outlet: str, franchise: str) -> dict[str, dict[str, int]]:
    owner = menu.token(Role.FRANCHISE_OWNER, franchise_id=franchise)
    status, body = await menu.call("GET", f"/outlets/{outlet}/stock", token=owner)
    assert status == 200, body
    return {line["menu_id"]: line for line in body["data"]["items"]}


async def test_reserving_the_same_order_twice_holds_its_units_once(menu: MenuService) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 5})
    order = order_id()
    first = await reserve(menu, order, outlet, {"m021": 2, "m001": 1})
    again = await reserve(menu, order, outlet, {"m021": 2, "m001": 1})
    assert first == again
    assert first[0] == 201
    assert first[1]["data"] == {
        "order_id": order,
        "outlet_id": outlet,
        "status": "reserved",
        "items": [{"menu_id": "m021", "quantity": 2}],  # m001 is not counted: unlimited
    }
    assert (await stock_of(menu, outlet, franchise))["m021"] == {
        "menu_id": "m021",
        "on_hand": 5,
        "reserved": 2,
        "available": 3,
    }


async def test_release_and_commit_are_idempotent_and_exclusive(menu: MenuService) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 5})
    cancelled, paid = order_id(), order_id()
    await reserve(menu, cancelled, outlet, {"m021": 2})
    await reserve(menu, paid, outlet, {"m021": 1})

    for _ in range(2):
        status, body = await settle(menu, cancelled, "release")
        assert (status, body["data"]["status"]) == (200, "released")
        status, body = await settle(menu, paid, "commit")
        assert (status, body["data"]["status"]) == (200, "committed")
    assert (await stock_of(menu, outlet, franchise))["m021"] == {
        "menu_id": "m021",
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
    }
    status, body = await settle(menu, cancelled, "commit")
    assert (status, body["error"]["code"]) == (409, "reservation_released")
    status, body = await settle(menu, paid, "release")
    assert (status, body["error"]["code"]) == (409, "reservation_committed")
    status, body = await settle(menu, order_id(), "release")
    assert (status, body["error"]["code"]) == (404, "reservation_not_found")
    history = await menu.events_on(f"es.stock.{franchise}.{outlet}", stream="ES_STOCK")
    assert history == 5  # restocked, 2 reserved, released, committed: nothing twice


async def test_an_order_is_reserved_all_or_nothing(menu: MenuService) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 1, "m011": 10})
    history = await menu.events_on(f"es.stock.{franchise}.{outlet}", stream="ES_STOCK")
    status, body = await reserve(menu, order_id(), outlet, {"m011": 3, "m021": 2})
    assert status == 409
    assert body["error"]["code"] == "insufficient_stock"
    assert body["error"]["details"]["items"] == [
        {"menu_id": "m021", "requested": 2, "available": 1}
    ]
    stock = await stock_of(menu, outlet, franchise)
    assert (stock["m011"]["available"], stock["m021"]["available"]) == (10, 1)
    assert await menu.events_on(f"es.stock.{franchise}.{outlet}", stream="ES_STOCK") == history


async def test_lines_of_the_same_item_count_together(menu: MenuService) -> None:
    outlet, _ = await stocked_outlet(menu, {"m021": 3})
    body = {
        "order_id": order_id(),
        "outlet_id": outlet,
        "items": [{"menu_id": "m021", "quantity": 2}, {"menu_id": "m021", "quantity": 2}],
    }
    status, answer = await menu.call(
        "POST", "/internal/stock/reservations", json=body, token=menu.service
    )
    assert status == 409
    assert answer["error"]["details"]["items"][0]["requested"] == 4


async def test_concurrent_reservations_of_the_last_units_never_oversell(
    menu: MenuService,
) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 10})
    replica_settings = menu.settings.model_copy(update={"service_name": "menu"})
    replicas = [TestClient(TestServer(build_app(replica_settings))) for _ in range(2)]
    for replica in replicas:
        await replica.start_server()
    clients = [menu.client, *replicas]
    try:

        async def one_cup(i: int) -> int:
            body = {
                "order_id": order_id(),
                "outlet_id": outlet,
                "items": [{"menu_id": "m021", "quantity": 1}],
            }
            headers = {"Authorization": f"Bearer {menu.service}"}
            client = clients[i % len(clients)]
            async with client.post(
                "/internal/stock/reservations", json=body, headers=headers
            ) as response:
                return response.status

        statuses = await asyncio.gather(*(one_cup(i) for i in range(30)))
    finally:
        for replica in replicas:
            await replica.close()
    assert sorted(statuses) == [201] * 10 + [409] * 20
    assert (await stock_of(menu, outlet, franchise))["m021"] == {
        "menu_id": "m021",
        "on_hand": 10,
        "reserved": 10,
        "available": 0,
    }


async def test_a_reservation_that_loses_the_race_is_decided_again_on_the_newer_stock(
    menu: MenuService,
) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 1})
    ours = StockLedgers(AggregateStore(menu.bus, "stock"), source="test", memory=timedelta(7))
    rival = StockLedgers(AggregateStore(menu.bus, "stock"), source="test", memory=timedelta(7))
    append = ours.store.append
    raced = False

    async def append_after_the_rival(subject: str, events: Any, expected_seq: int) -> int:
        """Let a rival replica take the last cup between our decision and our append."""
        nonlocal raced
        if not raced:
            raced = True
            await rival.change(
                franchise, outlet, lambda s: s.reserve("ord-rival", {"m021": 1}), lambda s: None
            )
        return await append(subject, events, expected_seq)

    ours.store.append = append_after_the_rival  # type: ignore[method-assign]

    def take_the_last_cup(ledger: StockLedger) -> Any:
        return ledger.reserve("ord-ours", {"m021": 1})

    with pytest.raises(InsufficientStock) as refused:
        await ours.change(franchise, outlet, take_the_last_cup, lambda s: None)
    assert [s.available for s in refused.value.shortages] == [0]
    assert ours.conflicts == 1


async def test_a_sold_out_item_shows_unavailable_until_units_come_back(
    menu: MenuService,
) -> None:
    outlet, _ = await stocked_outlet(menu, {"m011": 1})
    assert (await menu.menu_item(outlet, "m011"))["available"] is True
    order = order_id()
    assert (await reserve(menu, order, outlet, {"m011": 1}))[0] == 201

    async def reason() -> Any:
        return (await menu.menu_item(outlet, "m011"))["unavailable_reason"]

    async def sold_out() -> bool:
        return await reason() == "sold_out"

    async def back() -> bool:
        return await reason() is None

    await eventually(sold_out)
    await settle(menu, order, "release")
    await eventually(back)


async def test_an_item_no_longer_counted_is_unlimited(menu: MenuService) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m011": 0, "m024": 4})
    manager = menu.token(Role.OUTLET_MANAGER, franchise_id=franchise, outlet_ids=[outlet])
    status, body = await menu.call(
        "PUT", f"/outlets/{outlet}/stock", json={"items": {"m011": None}}, token=manager
    )
    assert status == 200
    assert [line["menu_id"] for line in body["data"]["items"]] == ["m024"]
    assert (await reserve(menu, order_id(), outlet, {"m011": 20}))[0] == 201


async def test_only_the_outlets_staff_see_its_stock(menu: MenuService) -> None:
    outlet, franchise = await stocked_outlet(menu, {"m021": 3})
    barista = menu.token(Role.STAFF, franchise_id=franchise, outlet_ids=[outlet])
    elsewhere = menu.token(Role.STAFF, franchise_id=franchise, outlet_ids=["outlet-1"])
    assert (await menu.call("GET", f"/outlets/{outlet}/stock", token=barista))[0] == 200
    status, body = await menu.call("GET", f"/outlets/{outlet}/stock", token=elsewhere)
    assert (status, body["error"]["code"]) == (403, "tenant_forbidden")
    customer = menu.token(Role.CUSTOMER)
    assert (await menu.call("GET", f"/outlets/{outlet}/stock", token=customer))[0] == 403
    status, body = await menu.call(
        "PUT", f"/outlets/{outlet}/stock", json={"items": {"m021": 9}}, token=barista
    )
    assert status == 403


async def test_a_reservation_must_name_a_real_outlet_item_and_one_outlet_per_order(
    menu: MenuService,
) -> None:
    outlet, _ = await stocked_outlet(menu, {"m021": 3})
    other, _ = await stocked_outlet(menu, {"m021": 3})
    status, body = await reserve(menu, order_id(), "outlet-999999999", {"m021": 1})
    assert (status, body["error"]["details"]["fields"][0]["field"]) == (422, "outlet_id")
    status, body = await reserve(menu, order_id(), outlet, {"m021": 1, "m999": 1})
    assert (status, body["error"]["details"]["fields"][0]["field"]) == (422, "items.1.menu_id")
    order = order_id()
    assert (await reserve(menu, order, outlet, {"m021": 1}))[0] == 201
    status, body = await reserve(menu, order, other, {"m021": 1})
    assert (status, body["error"]["code"]) == (409, "reservation_elsewhere")
