"""The newest set of items each outlet lacks the ingredients for, as the supply service
announced it (``supply.availability_changed``): franchise collection
``menu_supply_unavailable``, one document per outlet, read by ``_id`` and written by
``_id`` with the newer ``seq``."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases

UNAVAILABLE = "menu_supply_unavailable"


async def keep_newest(
    databases: Databases, franchise_id: str, outlet_id: str, items: list[str], seq: int
) -> bool:
    """Store ``items`` unless an announcement as new or newer is stored; True if stored.
    One conditional write (its one writer is the consumer, one message in flight; on a real
    MongoDB the write is atomic too). The collection has a document per outlet, so the
    update's scan on FerretDB stays small."""
    db = await databases.franchise(franchise_id)
    newer = {"_id": outlet_id, "seq": {"$lt": seq}}
    change = {"$set": {"items": sorted(items), "seq": seq}}
    try:
        result = await db[UNAVAILABLE].update_one(newer, change, upsert=True)
    except DuplicateKeyError:
        # The outlet's document exists (holding this announcement or a newer one, or an
        # older one another consumer inserted a moment ago): update it only if older.
        result = await db[UNAVAILABLE].update_one(newer, change)
    return result.upserted_id is not None or result.matched_count > 0


async def unavailable_items(databases: Databases, franchise_id: str, outlet_id: str) -> list[str]:
    """The items supply last said the outlet cannot make (none if it never said)."""
    db = await databases.franchise(franchise_id)
    doc = await db[UNAVAILABLE].find_one({"_id": outlet_id})
    return list(doc["items"]) if doc else []
