"""The newest set of items each outlet lacks the ingredients for, as the supply service
announced it (``supply.availability_changed``): franchise collection
``menu_supply_unavailable``, one document per outlet, read and written by ``_id``."""

from __future__ import annotations

from bobaku.kernel.db import Databases

UNAVAILABLE = "menu_supply_unavailable"


async def keep_newest(
    databases: Databases, franchise_id: str, outlet_id: str, items: list[str], seq: int
) -> bool:
    """Store ``items`` unless an announcement as new or newer is stored; True if stored."""
    db = await databases.franchise(franchise_id)
    known = await db[UNAVAILABLE].find_one({"_id": outlet_id})
    if known is not None and int(known["seq"]) >= seq:
        return False
    await db[UNAVAILABLE].replace_one(
        {"_id": outlet_id}, {"items": sorted(items), "seq": seq}, upsert=True
    )
    return True


async def unavailable_items(databases: Databases, franchise_id: str, outlet_id: str) -> list[str]:
    """The items supply last said the outlet cannot make (none if it never said)."""
    db = await databases.franchise(franchise_id)
    doc = await db[UNAVAILABLE].find_one({"_id": outlet_id})
    return list(doc["items"]) if doc else []
