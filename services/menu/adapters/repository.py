"""Where the menu's documents live in MongoDB.

Platform database (brand-wide): ``menu_categories``, ``menu_items``, ``menu_toppings``,
and ``outlets`` (each with its franchise; opening hours as ``{day, open, close}`` rows; a
retired outlet keeps its document with ``retired_at`` set). Stock is the supply service's.
Franchise databases: ``franchise_prices`` (one document per overridden item) and
``outlet_availability`` (one document per outlet: ``items.<item_id>: bool``).

Every write that others must hear about carries its event in the same document update
(see :mod:`bobaku.kernel.outbox`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bobaku.kernel.db import Databases, Document, IndexCatalog, IndexSpec, insert_new
from bobaku.kernel.events import Event
from bobaku.kernel.outbox import OUTBOX, Outbox, Pending, outbox_entry, push_entry
from bobaku.services.menu.domain.model import Category, MenuItem, Outlet, Topping, WeeklyHours

CATEGORIES = "menu_categories"
ITEMS = "menu_items"
TOPPINGS = "menu_toppings"
OUTLETS = "outlets"
FRANCHISE_PRICES = "franchise_prices"
OUTLET_AVAILABILITY = "outlet_availability"
# Set on a retired outlet's document (DELETE /internal/outlets/{id}); null while it serves.
RETIRED = "retired_at"

# Collections whose documents may carry unpublished events.
PLATFORM_OUTBOXES = (ITEMS, OUTLETS)
FRANCHISE_OUTBOXES = (FRANCHISE_PRICES, OUTLET_AVAILABILITY)

INDEXES = IndexCatalog(
    [
        # GET /outlets?franchise_id=… and ?city=…, paged by id.
        IndexSpec("platform", OUTLETS, [("franchise_id", 1), ("_id", 1)]),
        IndexSpec("platform", OUTLETS, [("city", 1), ("_id", 1)]),
        # The active catalog, read to build every outlet's menu.
        IndexSpec("platform", ITEMS, [("active", 1), ("_id", 1)]),
    ]
)


def _record(doc: Document) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("_id", OUTBOX)}
    out["id"] = doc["_id"]
    return out


def _document(record: Mapping[str, Any]) -> Document:
    doc = {k: v for k, v in record.items() if k != "id"}
    doc["_id"] = record["id"]
    return doc


def outlet_document(outlet: Outlet) -> Document:
    """An outlet as stored: its opening hours as rows (:meth:`WeeklyHours.rows`)."""
    doc = _document(outlet.as_record())
    doc["opening_hours"] = outlet.hours.rows()
    return doc


class MenuRepository:
    def __init__(self, databases: Databases, outbox: Outbox) -> None:
        self.databases = databases
        self.outbox = outbox

    @property
    def platform(self) -> AsyncDatabase[Document]:
        return self.databases.platform

    async def _write(
        self,
        db: AsyncDatabase[Document],
        collection: str,
        doc_id: str,
        update: dict[str, Any],
        event: Event,
        *,
        upsert: bool = False,
    ) -> None:
        """One document update that carries its event, then the event's delivery."""
        entry = outbox_entry(event)
        update = push_entry(update, entry)
        await db[collection].update_one({"_id": doc_id}, update, upsert=upsert)
        await self.outbox.deliver(Pending(db, collection, doc_id, entry))

    # --- the brand catalog -------------------------------------------------------------

    async def categories(self) -> list[Category]:
        return [Category.from_record(_record(d)) async for d in self.platform[CATEGORIES].find()]

    async def toppings(self) -> list[Topping]:
        cursor = self.platform[TOPPINGS].find().sort("_id", 1)
        return [Topping.from_record(_record(d)) async for d in cursor]

    async def items(self, *, active_only: bool = True) -> list[MenuItem]:
        query = {"active": True} if active_only else {}
        cursor = self.platform[ITEMS].find(query).sort("_id", 1)
        return [MenuItem.from_record(_record(d)) async for d in cursor]

    async def item(self, item_id: str) -> MenuItem | None:
        doc = await self.platform[ITEMS].find_one({"_id": item_id})
        return MenuItem.from_record(_record(doc)) if doc else None

    async def add_item(self, item: MenuItem, event: Event) -> bool:
        """Insert a new item; False if its id is taken."""
        entry = outbox_entry(event)
        doc = {**_document(item.as_record()), OUTBOX: [entry]}
        if not await insert_new(self.platform[ITEMS], doc):
            return False
        await self.outbox.deliver(Pending(self.platform, ITEMS, item.id, entry))
        return True

    async def save_item(self, item: MenuItem, event: Event) -> None:
        fields = {k: v for k, v in _document(item.as_record()).items() if k != "_id"}
        await self._write(self.platform, ITEMS, item.id, {"$set": fields}, event)

    # --- outlets -----------------------------------------------------------------------

    async def outlet(self, outlet_id: str) -> Outlet | None:
        """The outlet, or ``None`` when there is none or it was retired (a tombstone)."""
        doc = await self.platform[OUTLETS].find_one({"_id": outlet_id})
        return Outlet.from_record(_record(doc)) if doc and not doc.get(RETIRED) else None

    async def outlets(
        self, *, franchise_id: str | None, city: str | None, after: str | None, limit: int
    ) -> list[Outlet]:
        query: dict[str, Any] = {RETIRED: None}
        if franchise_id:
            query["franchise_id"] = franchise_id
        if city:
            query["city"] = city
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.platform[OUTLETS].find(query).sort("_id", 1).limit(limit)
        return [Outlet.from_record(_record(d)) async for d in cursor]

    async def save_outlet(self, outlet: Outlet, event: Event) -> None:
        """Register or update the outlet; a retired one is registered again."""
        fields = {k: v for k, v in outlet_document(outlet).items() if k != "_id"}
        update = {"$set": {**fields, RETIRED: None}}
        await self._write(self.platform, OUTLETS, outlet.id, update, event, upsert=True)

    async def retire_outlet(self, outlet_id: str, event: Event) -> None:
        """Leave a tombstone: the document stays (it carries the event), reads skip it."""
        update = {"$set": {RETIRED: datetime.now(UTC)}}
        await self._write(self.platform, OUTLETS, outlet_id, update, event)

    async def set_hours(
        self, outlet_id: str, timezone: str, hours: Mapping[str, Any], event: Event
    ) -> None:
        rows = WeeklyHours.from_record(hours).rows()
        update = {"$set": {"timezone": timezone, "opening_hours": rows}}
        await self._write(self.platform, OUTLETS, outlet_id, update, event)

    # --- franchise overrides -----------------------------------------------------------

    async def franchise_prices(self, franchise_id: str) -> dict[str, int]:
        db = await self.databases.franchise(franchise_id)
        return {
            d["_id"]: int(d["price"])
            async for d in db[FRANCHISE_PRICES].find({"price": {"$ne": None}})
        }

    async def franchise_price(self, franchise_id: str, item_id: str) -> int | None:
        db = await self.databases.franchise(franchise_id)
        doc = await db[FRANCHISE_PRICES].find_one({"_id": item_id})
        return None if doc is None or doc.get("price") is None else int(doc["price"])

    async def set_franchise_price(
        self, franchise_id: str, item_id: str, price: int | None, event: Event
    ) -> None:
        """Set the override; ``None`` removes it (the document stays to carry its event)."""
        db = await self.databases.franchise(franchise_id)
        update = {"$set": {"price": price, "updated_at": datetime.now(UTC)}}
        await self._write(db, FRANCHISE_PRICES, item_id, update, event, upsert=True)

    async def unavailable_items(self, franchise_id: str, outlet_id: str) -> set[str]:
        db = await self.databases.franchise(franchise_id)
        doc = await db[OUTLET_AVAILABILITY].find_one({"_id": outlet_id})
        items: Mapping[str, bool] = (doc or {}).get("items", {})
        return {item for item, available in items.items() if not available}

    async def set_availability(
        self, franchise_id: str, outlet_id: str, items: Mapping[str, bool], event: Event
    ) -> None:
        db = await self.databases.franchise(franchise_id)
        update = {"$set": {f"items.{item}": bool(v) for item, v in items.items()}}
        await self._write(db, OUTLET_AVAILABILITY, outlet_id, update, event, upsert=True)
