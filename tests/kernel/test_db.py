"""The per-franchise database resolver and indexes declared in code."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import (
    Databases,
    IndexCatalog,
    IndexSpec,
    franchise_db_name,
    index_names,
    insert_new,
    insert_or_get,
)
from bobaku.kernel.errors import BadRequest

ORDER_INDEXES = (
    IndexSpec("franchise", "orders", [("outlet_id", 1), ("created_at", -1)], name="by_outlet"),
    IndexSpec("franchise", "orders", [("order_id", 1)], unique=True, name="order_id_unique"),
    IndexSpec("platform", "customers", [("email", 1)], unique=True, name="email_unique"),
)


async def test_two_franchises_never_see_each_others_documents(databases: Databases) -> None:
    databases.catalog.declare(*ORDER_INDEXES)
    jakarta = await databases.franchise("fr-jakarta")
    bandung = await databases.franchise("fr-bandung")
    await jakarta.orders.insert_one({"order_id": "ord-j1", "outlet_id": "outlet-1"})
    await bandung.orders.insert_many(
        [{"order_id": "ord-b1", "outlet_id": "outlet-9"}, {"order_id": "ord-b2", "outlet_id": "x"}]
    )

    assert jakarta.name != bandung.name
    assert [d["order_id"] async for d in jakarta.orders.find({})] == ["ord-j1"]
    assert sorted([d["order_id"] async for d in bandung.orders.find({})]) == ["ord-b1", "ord-b2"]
    assert await jakarta.orders.count_documents({"order_id": "ord-b1"}) == 0
    # Resolving again gives the same database, not a fresh one.
    again = await databases.franchise("fr-jakarta")
    assert await again.orders.count_documents({}) == 1


async def test_declared_indexes_exist_on_every_franchise_database(databases: Databases) -> None:
    databases.catalog.declare(*ORDER_INDEXES)
    await databases.start()
    for franchise in ("fr-surabaya", "fr-medan"):
        db = await databases.franchise(franchise)
        assert {"by_outlet", "order_id_unique"} <= set(await index_names(db, "orders"))
    assert "email_unique" in set(await index_names(databases.platform, "customers"))


async def test_a_unique_index_declared_in_code_is_enforced(databases: Databases) -> None:
    databases.catalog.declare(*ORDER_INDEXES)
    db = await databases.franchise("fr-bali")
    await db.orders.insert_one({"order_id": "ord-1", "outlet_id": "o"})
    with pytest.raises(DuplicateKeyError):
        await db.orders.insert_one({"order_id": "ord-1", "outlet_id": "o"})


async def test_dropping_a_franchise_removes_only_its_database(databases: Databases) -> None:
    keep = await databases.franchise("fr-keep")
    gone = await databases.franchise("fr-gone")
    await keep.outlets.insert_one({"_id": "o1"})
    await gone.outlets.insert_one({"_id": "o2"})
    await databases.drop_franchise("fr-gone")
    names = await databases.client.list_database_names()
    assert keep.name in names
    assert gone.name not in names


@pytest.mark.parametrize("bad", ["", "FR-UPPER", "fr_jkt", "../admin", "a" * 60, "fr.jkt"])
def test_a_franchise_id_that_could_name_another_database_is_refused(bad: str) -> None:
    with pytest.raises(BadRequest) as caught:
        franchise_db_name("bobaku", bad)
    assert caught.value.details["field"] == "franchise_id"


def test_catalog_groups_indexes_by_scope() -> None:
    catalog = IndexCatalog()
    catalog.declare(*ORDER_INDEXES)
    assert set(catalog.for_scope("franchise")) == {"orders"}
    assert set(catalog.for_scope("platform")) == {"customers"}


async def test_creating_the_declared_indexes_again_at_restart_is_harmless(
    databases: Databases,
) -> None:
    databases.catalog.declare(*ORDER_INDEXES)
    first = await databases.franchise("fr-restart")
    await first.orders.insert_one({"order_id": "ord-1", "outlet_id": "o"})
    restarted = Databases(databases.client, databases.prefix, databases.catalog)
    again = await restarted.franchise("fr-restart")
    assert {"by_outlet", "order_id_unique"} <= set(await index_names(again, "orders"))
    assert await again.orders.count_documents({}) == 1


async def test_insert_new_says_who_wrote_first_and_keeps_the_first_write(
    databases: Databases,
) -> None:
    claims = databases.platform.test_claims
    assert await insert_new(claims, {"_id": "k1", "by": "first"}) is True
    assert await insert_new(claims, {"_id": "k1", "by": "second"}) is False
    assert await claims.find_one({"_id": "k1"}) == {"_id": "k1", "by": "first"}


async def test_racing_claims_of_one_key_all_learn_the_single_winner(databases: Databases) -> None:
    claims = databases.platform.test_racing_claims
    answers = await asyncio.gather(
        *(insert_or_get(claims, {"_id": "cust-1:key-1", "order_id": f"ord-{n}"}) for n in range(8))
    )
    winners = {a["order_id"] for a in answers}
    assert len(winners) == 1
    stored = await claims.find_one({"_id": "cust-1:key-1"})
    assert stored is not None
    assert {stored["order_id"]} == winners
    assert await claims.count_documents({}) == 1
