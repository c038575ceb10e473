"""Read models in each franchise's database, written only by the payment projector.

- ``settlement_daily``: one counters document per business day per outlet
  (``_id = "<day>|<outlet_id>"``), with the ids of the events already counted in it, so a
  redelivered event is counted once. FerretDB cannot ``$group`` these figures on request
  (nor update them atomically), so they are kept per event by a single writer.
- ``payments``: the current view of each payment, for listings and filters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bobaku.kernel.db import Databases, IndexSpec
from bobaku.services.payment.domain.settlement import SettlementLine, add_line

SETTLEMENT = "settlement_daily"
PAYMENTS = "payments"

INDEXES = (
    IndexSpec("franchise", SETTLEMENT, (("day", 1), ("outlet_id", 1))),
    # Listings are newest first: a franchise's, or one outlet's (staff, owners filtering).
    IndexSpec("franchise", PAYMENTS, (("created_at_ts", -1), ("_id", -1))),
    IndexSpec("franchise", PAYMENTS, (("outlet_id", 1), ("created_at_ts", -1), ("_id", -1))),
)


class SettlementCounters:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def add(self, franchise_id: str, line: SettlementLine, event_id: str) -> bool:
        """Count ``line`` once; the single projector is the only writer of these documents."""
        db = await self.databases.franchise(franchise_id)
        key = f"{line.day}|{line.outlet_id}"
        doc = await db[SETTLEMENT].find_one({"_id": key}) or {
            "_id": key,
            "day": line.day,
            "outlet_id": line.outlet_id,
            "franchise_id": franchise_id,
        }
        if not add_line(doc, line, event_id):
            return False
        await db[SETTLEMENT].replace_one({"_id": key}, doc, upsert=True)
        return True

    async def of_day(
        self, franchise_id: str, day: str, outlet_id: str | None = None
    ) -> list[dict[str, Any]]:
        db = await self.databases.franchise(franchise_id)
        query: dict[str, Any] = {"day": day}
        if outlet_id:
            query["outlet_id"] = outlet_id
        cursor = db[SETTLEMENT].find(query, {"applied": 0}).sort("outlet_id", 1)
        return [doc async for doc in cursor]


class PaymentViews:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def save(self, franchise_id: str, view: dict[str, Any], created_at: datetime) -> None:
        db = await self.databases.franchise(franchise_id)
        doc = {**view, "_id": view["intent_id"], "created_at_ts": created_at}
        await db[PAYMENTS].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def page(
        self,
        franchise_id: str,
        filters: dict[str, Any],
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``after`` is the (created_at, intent_id) of the previous page's last."""
        db = await self.databases.franchise(franchise_id)
        query = dict(filters)
        if after is not None:
            at, intent_id = after
            query["$or"] = [
                {"created_at_ts": {"$lt": at}},
                {"created_at_ts": at, "_id": {"$lt": intent_id}},
            ]
        cursor = db[PAYMENTS].find(query).sort([("created_at_ts", -1), ("_id", -1)]).limit(limit)
        return [doc async for doc in cursor]
