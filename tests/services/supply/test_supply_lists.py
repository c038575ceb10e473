"""Purchase-order and transfer lists: per outlet and per franchise, by status, paged, read by
key (the list documents, not a filter over every order ever placed)."""

from __future__ import annotations

import secrets
from typing import Any

from supply_testing import SupplyHarness
from support import eventually

from bobaku.kernel.web import DATABASES
from bobaku.services.supply.adapters.lists import (
    HEADS,
    PAGES,
    PLACES,
    PURCHASE_ORDERS,
    DocumentLists,
)


async def _draft(harness: SupplyHarness, outlet: str, token: str, packs: int = 1) -> str:
    status, body = await harness.call(
        "POST",
        f"/outlets/{outlet}/purchase-orders",
        json={
            "supplier_id": "sup-boba-nusantara",
            "expected_delivery": "2026-12-09",
            "lines": [{"ingredient_id": "tapioca-pearl", "packs": packs}],
        },
        token=token,
    )
    assert status == 201, body
    return str(body["data"]["id"])


async def _ids(harness: SupplyHarness, path: str, token: str) -> list[str]:
    status, body = await harness.call("GET", path, token=token)
    assert status == 200, body
    return [x["id"] for x in body["data"]["items"]]


async def test_purchase_orders_are_listed_by_outlet_and_status_newest_first(
    harness: SupplyHarness,
) -> None:
    outlet, franchise = await harness.new_outlet()
    other, _ = await harness.new_outlet(franchise)
    manager = harness.manager(franchise, outlet)
    first, second, third = [await _draft(harness, outlet, manager, n) for n in (1, 2, 3)]
    elsewhere = await _draft(harness, other, harness.manager(franchise, other))
    base = f"/outlets/{outlet}/purchase-orders"
    for step in ("submit",):
        status, _ = await harness.call("POST", f"{base}/{second}/{step}", token=manager)
        assert status == 200
    status, _ = await harness.call(
        "POST", f"{base}/{third}/cancel", json={"reason": "duplicate"}, token=manager
    )
    assert status == 200

    # The lists are a projection: they show each order where its latest event put it, a
    # moment after the calls.
    async def projected() -> bool:
        return (
            await _ids(harness, f"{base}?status=cancelled", manager) == [third]
            and await _ids(harness, f"{base}?status=draft", manager) == [first]
            and await _ids(harness, f"{base}?status=submitted", manager) == [second]
        )

    await eventually(projected, timeout=20)
    # Without a status: what is still open there, newest first; not the other outlet's.
    assert await _ids(harness, base, manager) == [second, first]
    status, body = await harness.call("GET", f"{base}?status=submitted", token=manager)
    entry = body["data"]["items"][0]
    assert entry["status"] == "submitted"
    assert entry["outlet_id"] == outlet
    assert entry["total_amount"] == 2 * 90_000
    # The franchise's list has both outlets' orders.
    owner = harness.owner(franchise)

    async def franchise_wide() -> bool:
        found = await _ids(harness, f"/franchises/{franchise}/purchase-orders", owner)
        return set(found) == {first, second, elsewhere}

    await eventually(franchise_wide, timeout=20)

    # Pages: limit and the cursor walk the list without repeating or skipping.
    status, body = await harness.call("GET", f"{base}?limit=1", token=manager)
    assert [x["id"] for x in body["data"]["items"]] == [second]
    cursor = body["data"]["next_cursor"]
    status, body = await harness.call("GET", f"{base}?limit=1&cursor={cursor}", token=manager)
    assert [x["id"] for x in body["data"]["items"]] == [first]
    assert body["data"]["next_cursor"] is None


async def test_transfers_are_listed_at_both_outlets(harness: SupplyHarness) -> None:
    source, franchise = await harness.new_outlet()
    target, _ = await harness.new_outlet(franchise)
    owner = harness.owner(franchise)
    await harness.count(source, franchise, {"cup-500": 100})
    status, body = await harness.call(
        "POST",
        f"/outlets/{source}/transfers",
        json={"to_outlet_id": target, "lines": [{"ingredient_id": "cup-500", "quantity": 10}]},
        token=owner,
    )
    assert status == 201, body
    transfer = body["data"]["id"]
    status, _ = await harness.call(
        "POST", f"/outlets/{source}/transfers/{transfer}/ship", token=owner
    )
    assert status == 200

    async def shipped_at_both() -> bool:
        for o in (source, target):
            if await _ids(harness, f"/outlets/{o}/transfers?status=shipped", owner) != [transfer]:
                return False
        return True

    await eventually(shipped_at_both, timeout=20)
    assert await _ids(harness, f"/outlets/{source}/transfers?status=requested", owner) == []
    target_manager = harness.manager(franchise, target)
    assert await _ids(harness, f"/outlets/{target}/transfers", target_manager) == [transfer]
    assert await _ids(harness, f"/franchises/{franchise}/transfers", owner) == [transfer]


async def test_bad_list_queries_are_422_naming_the_parameter(harness: SupplyHarness) -> None:
    outlet, franchise = await harness.new_outlet()
    manager = harness.manager(franchise, outlet)
    for query, field in (
        ("status=shipped", "status"),  # a transfer status, not a purchase order's
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("stauts=draft", "stauts"),
    ):
        status, body = await harness.call(
            "GET", f"/outlets/{outlet}/purchase-orders?{query}", token=manager
        )
        assert status == 422, (query, body)
        assert body["error"]["details"]["fields"][0]["field"] == field, query
    status, body = await harness.call(
        "GET", f"/franchises/{franchise}/transfers?status=draft", token=harness.owner(franchise)
    )
    assert status == 422
    assert body["error"]["details"]["fields"][0]["field"] == "status"


async def test_another_franchise_cannot_list_them(harness: SupplyHarness) -> None:
    outlet, franchise = await harness.new_outlet()
    await _draft(harness, outlet, harness.manager(franchise, outlet))
    stranger = harness.manager("fr-elsewhere", outlet)
    for path in (f"/outlets/{outlet}/purchase-orders", f"/outlets/{outlet}/transfers"):
        status, body = await harness.call("GET", path, token=stranger)
        assert status == 403, path
        assert body["error"]["code"] == "tenant_forbidden"
    for path in (f"/franchises/{franchise}/purchase-orders", f"/franchises/{franchise}/transfers"):
        status, body = await harness.call("GET", path, token=harness.owner("fr-elsewhere"))
        assert status == 403, path
        assert body["error"]["code"] == "tenant_forbidden"
    # An outlet manager of the franchise is not its owner.
    status, body = await harness.call(
        "GET", f"/franchises/{franchise}/purchase-orders", token=harness.manager(franchise, outlet)
    )
    assert status == 403


def _entry(n: int, status: str) -> dict[str, Any]:
    return {"id": f"po-{n:04d}", "status": status, "created_at": f"2026-12-01T00:00:{n:02d}Z"}


async def test_final_lists_page_by_key_and_a_repeated_projection_adds_nothing(
    harness: SupplyHarness,
) -> None:
    """On small pages: a page read touches the head and the pages it covers, entries move
    out of open lists, and projecting the same state again (a redelivery) changes nothing."""
    databases = harness.supply.app[DATABASES]
    franchise = f"fr-t{secrets.token_hex(4)}"
    lists = DocumentLists(databases, PURCHASE_ORDERS, page_size=3)
    scopes = ["o:outlet-x", "f"]
    for n in range(8):
        await lists.project(franchise, _entry(n, "draft"), scopes)
        await lists.project(franchise, _entry(n, "received"), scopes)
        await lists.project(franchise, _entry(n, "received"), scopes)  # redelivered
    assert await lists.open_entries(franchise, "f", ("draft",)) == []
    assert await lists.final_count(franchise, "o:outlet-x", "received") == 8
    newest = await lists.final_entries(franchise, "o:outlet-x", "received", 8, 4)
    assert [e["id"] for e in newest] == ["po-0007", "po-0006", "po-0005", "po-0004"]
    rest = await lists.final_entries(franchise, "o:outlet-x", "received", 4, 10)
    assert [e["id"] for e in rest] == ["po-0003", "po-0002", "po-0001", "po-0000"]
    db = await databases.franchise(franchise)
    # Two full pages of three archived per scope, the head holding the newest two.
    pages = sorted([d["_id"] async for d in db[PAGES].find({})])
    assert [k for k in pages if k.startswith("po|f|")] == ["po|f|received|0", "po|f|received|1"]
    head = await db[HEADS].find_one({"_id": "po|f|received"})
    assert head is not None
    assert [e["id"] for e in head["tail"]] == ["po-0006", "po-0007"]
    await databases.drop_franchise(franchise)


async def test_a_finished_order_projected_again_after_its_page_filled_is_listed_once(
    harness: SupplyHarness,
) -> None:
    """The projector re-reads a document's current state on each of its events, so a PO that
    finished before its earlier events were projected is projected as finished several
    times, and a redelivery repeats one again, possibly after other orders filled the page
    it went to. It must still be listed once."""
    databases = harness.supply.app[DATABASES]
    franchise = f"fr-t{secrets.token_hex(4)}"
    lists = DocumentLists(databases, PURCHASE_ORDERS, page_size=3)
    scopes = ["o:outlet-x", "f"]
    # po-0000's drafted event is projected once it is already received (its current state).
    await lists.project(franchise, _entry(0, "received"), scopes)
    for n in range(1, 5):  # four more finish: page 0 fills, page 1 starts
        await lists.project(franchise, _entry(n, "received"), scopes)
    # po-0000's own received event, then a redelivery of it, and an open-to-final move of
    # another order projected twice.
    await lists.project(franchise, _entry(0, "received"), scopes)
    await lists.project(franchise, _entry(0, "received"), scopes)
    await lists.project(franchise, _entry(5, "submitted"), scopes)
    await lists.project(franchise, _entry(5, "received"), scopes)
    await lists.project(franchise, _entry(5, "received"), scopes)
    for scope in scopes:
        count = await lists.final_count(franchise, scope, "received")
        found = await lists.final_entries(franchise, scope, "received", count, 99)
        listed = [e["id"] for e in found]
        assert listed == [f"po-{n:04d}" for n in (5, 4, 3, 2, 1, 0)], scope
        assert count == 6, scope
        assert await lists.open_entries(franchise, scope, PURCHASE_ORDERS.open) == []
    await databases.drop_franchise(franchise)


class _Recorded:
    """The real databases, with every collection call written down (collection, method and
    its first argument), to see what the projector and the list pages ask of storage."""

    def __init__(self, databases: Any) -> None:
        self.databases = databases
        self.calls: list[tuple[str, str, Any]] = []

    async def franchise(self, franchise_id: str) -> Any:
        return _RecordedDb(await self.databases.franchise(franchise_id), self.calls)


class _RecordedDb:
    def __init__(self, db: Any, calls: list[tuple[str, str, Any]]) -> None:
        self.db, self.calls = db, calls

    def __getitem__(self, name: str) -> Any:
        collection, calls = self.db[name], self.calls

        class Recorded:
            def __getattr__(self, method: str) -> Any:
                real = getattr(collection, method)

                def call(*args: Any, **kwargs: Any) -> Any:
                    calls.append((name, method, args[0] if args else None))
                    return real(*args, **kwargs)

                return call

        return Recorded()


async def test_projecting_and_paging_touch_storage_by_key_and_never_update_history(
    harness: SupplyHarness,
) -> None:
    """On FerretDB an update scans its whole collection and so does any filter but `_id`:
    every call is by `_id`, the only collection ever updated keeps the same few documents
    however many orders finish, the archive and the markers are only inserted, and
    projecting an order costs the same calls after many orders as after one."""
    databases = harness.supply.app[DATABASES]
    franchise = f"fr-t{secrets.token_hex(4)}"
    recorded = _Recorded(databases)
    lists = DocumentLists(recorded, PURCHASE_ORDERS, page_size=3)  # type: ignore[arg-type]
    scopes = ["o:outlet-x", "f"]
    db = await databases.franchise(franchise)
    calls_to_finish: dict[int, int] = {}
    heads: dict[int, int] = {}
    for n in range(11):
        for status in ("draft", "submitted", "received"):
            await lists.project(franchise, _entry(n, status), scopes)
        before = len(recorded.calls)
        await lists.project(franchise, _entry(n, "received"), scopes)  # a redelivery
        calls_to_finish[n] = len(recorded.calls) - before
        heads[n] = await db[HEADS].count_documents({})
    for n in range(0, 11, 3):  # a page
        await lists.final_entries(franchise, "f", "received", 11 - n, 3)
    for collection, method, first in recorded.calls:
        key = first.get("_id") if isinstance(first, dict) else None
        assert isinstance(key, str), (collection, method, first)
        assert set(first) <= {"_id", "entries", "position"}, (collection, method, first)
        if method not in ("find_one", "insert_one"):
            assert (collection, method) == (HEADS, "replace_one")
    assert {c for c, m, _ in recorded.calls if m == "insert_one"} == {PAGES, PLACES}
    # Two open lists (draft, submitted) and one final head per scope, first order to last.
    assert set(heads.values()) == {2 * 3}
    assert len(set(calls_to_finish.values())) == 1, calls_to_finish
    count = await lists.final_count(franchise, "f", "received")
    found = await lists.final_entries(franchise, "f", "received", count, 20)
    assert [e["id"] for e in found] == [f"po-{n:04d}" for n in range(10, -1, -1)]
    assert await db[PAGES].count_documents({}) == 2 * 3
    await databases.drop_franchise(franchise)
