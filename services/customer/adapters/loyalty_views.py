"""The loyalty read models in the platform database, written only by the projector.

- ``loyalty_accounts``: one document per customer, the balance, what of it lapses when, and
  the earnings that still count towards the tier (the tier itself is computed at read
  time, since it changes as earnings age out of the rolling year even when nothing is
  appended);
- ``loyalty_history``: one document per ledger event, for the customer's history page.

Both can be rebuilt from the ledgers at any time.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases, Document, IndexSpec
from bobaku.kernel.events import Event
from bobaku.services.customer.domain.events import (
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_REDEEMED,
    POINTS_REVERSED,
    REDEMPTION_RELEASED,
    TIER_CHANGED,
)
from bobaku.services.customer.domain.loyalty import (
    DEFAULT_VALID_DAYS,
    Ledger,
    Standing,
    lapses,
    standing,
)

ACCOUNTS = "loyalty_accounts"
HISTORY = "loyalty_history"

INDEXES = (
    IndexSpec("platform", HISTORY, [("customer_id", 1), ("position", -1)], name="history_page"),
)

# How each fact moves the balance.
BALANCE_SIGN = {
    POINTS_EARNED: 1,
    POINTS_REDEEMED: -1,
    REDEMPTION_RELEASED: 1,
    POINTS_REVERSED: -1,
    POINTS_EXPIRED: -1,
    TIER_CHANGED: 0,
}
# Positions order history entries: the stream sequence, then the place within a batch.
BATCH_SLOTS = 1000


def position_of(stream_seq: int, index_in_batch: int) -> int:
    return stream_seq * BATCH_SLOTS + index_in_batch


class LoyaltyViews:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    # --- reads -------------------------------------------------------------------------

    async def standing(self, customer_id: str, now: datetime) -> Standing:
        doc = await self.databases.platform[ACCOUNTS].find_one({"_id": customer_id})
        if doc is None:
            return standing(0, (), now)
        earnings = ((e["at"], int(e["points"])) for e in doc.get("recent_earnings", []))
        expiring = (
            (date.fromisoformat(x["lapse"]), int(x["points"])) for x in doc.get("expiring", [])
        )
        return standing(int(doc["points"]), earnings, now, expiring)

    async def history(
        self, customer_id: str, *, limit: int, before: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; returns the page and the position to continue before, if any."""
        query: dict[str, Any] = {"customer_id": customer_id}
        if before is not None:
            query["position"] = {"$lt": before}
        cursor = self.databases.platform[HISTORY].find(query).sort("position", -1).limit(limit + 1)
        docs = [doc async for doc in cursor]
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["position"] if more else None)

    # --- writes (the projector's) ------------------------------------------------------

    async def record_entry(self, customer_id: str, event: Event, position: int) -> None:
        """Upsert the history entry of one ledger event (keyed by event id: replay-safe)."""
        if event.type not in BALANCE_SIGN:
            return
        points = int(event.data.get("points", 0))
        entry: Document = {
            "customer_id": customer_id,
            "position": position,
            "kind": event.type.removeprefix("loyalty."),
            "order_id": event.data.get("order_id"),
            "points": points,
            "balance_change": BALANCE_SIGN[event.type] * points,
            "tier": event.data.get("tier") if event.type == TIER_CHANGED else None,
            "reward_ids": [r["id"] for r in event.data.get("rewards", [])],
            "at": event.timestamp,
        }
        await self.databases.platform[HISTORY].replace_one({"_id": event.id}, entry, upsert=True)

    async def account_seq(self, customer_id: str) -> int:
        doc = await self.databases.platform[ACCOUNTS].find_one(
            {"_id": customer_id}, {"last_seq": 1}
        )
        return int(doc["last_seq"]) if doc else 0

    async def save_account(
        self,
        customer_id: str,
        ledger: Ledger,
        last_seq: int,
        now: datetime,
        *,
        valid_days: int = DEFAULT_VALID_DAYS,
    ) -> None:
        """Store the account as of ``last_seq``, unless a newer one is stored already."""
        doc: Document = {
            "points": ledger.points,
            "earned": ledger.earned,
            "redeemed": ledger.redeemed,
            "released": ledger.released,
            "reversed": ledger.reversed,
            "expired": ledger.expired,
            # The balance by the day it lapses: it only changes with the ledger.
            "expiring": [
                {"lapse": day.isoformat(), "points": points}
                for day, points in lapses(ledger, valid_days)
            ],
            "recorded_tier": str(ledger.recorded_tier),
            "recent_earnings": [
                {"order_id": e.order_id, "at": e.at, "points": e.net_points}
                for e in ledger.recent_earnings(now)
            ],
            "last_seq": last_seq,
            "updated_at": now,
        }
        # When a newer state is stored already, the filter misses and the upsert's insert
        # meets the existing _id: nothing to do.
        with contextlib.suppress(DuplicateKeyError):
            await self.databases.platform[ACCOUNTS].replace_one(
                {"_id": customer_id, "last_seq": {"$lt": last_seq}}, doc, upsert=True
            )
