"""The loyalty read models, written only by the projector, in Redis
(:mod:`bobaku.kernel.listings`: each write and each page costs the same however many
customers and ledger events are stored):

- the account (item ``a:<customer>``, versioned by the ledger's stream sequence): the
  balance, what of it lapses when, and the earnings that still count towards the tier (the
  tier itself is computed at read time, since it changes as earnings age out of the rolling
  year even when nothing is appended);
- the history: one entry per ledger event (item = event id) in the customer's list
  ``h:<customer>``, scored by its position, for the history page.

Both can be rebuilt from the ledgers at any time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import parse_utc, utc_iso
from bobaku.kernel.listings import Listings
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


def _account(customer_id: str) -> str:
    return f"a:{customer_id}"


def _history(customer_id: str) -> str:
    return f"h:{customer_id}"


class LoyaltyViews:
    def __init__(self, listings: Listings) -> None:
        self.listings = listings

    # --- reads -------------------------------------------------------------------------

    async def standing(self, customer_id: str, now: datetime) -> Standing:
        doc = await self.listings.get(_account(customer_id))
        if doc is None:
            return standing(0, (), now)
        earnings = ((parse_utc(e["at"]), int(e["points"])) for e in doc.get("recent_earnings", []))
        expiring = (
            (date.fromisoformat(x["lapse"]), int(x["points"])) for x in doc.get("expiring", [])
        )
        return standing(int(doc["points"]), earnings, now, expiring)

    async def history(
        self, customer_id: str, *, limit: int, before: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; returns the page and the position to continue before, if any."""
        cursor = (float(before), "") if before is not None else None
        entries = await self.listings.after(_history(customer_id), cursor, count=limit + 1)
        docs = [e.doc for e in entries]
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["position"] if more else None)

    # --- writes (the projector's) ------------------------------------------------------

    async def record_entry(self, customer_id: str, event: Event, position: int) -> None:
        """Store the history entry of one ledger event (keyed by event id: replay-safe)."""
        if event.type not in BALANCE_SIGN:
            return
        points = int(event.data.get("points", 0))
        entry: dict[str, Any] = {
            "_id": event.id,
            "customer_id": customer_id,
            "position": position,
            "kind": event.type.removeprefix("loyalty."),
            "order_id": event.data.get("order_id"),
            "points": points,
            "balance_change": BALANCE_SIGN[event.type] * points,
            "tier": event.data.get("tier") if event.type == TIER_CHANGED else None,
            "reward_ids": [r["id"] for r in event.data.get("rewards", [])],
            "at": utc_iso(event.timestamp),
        }
        await self.listings.put(event.id, entry, lists={_history(customer_id): position})

    async def account_seq(self, customer_id: str) -> int:
        return await self.listings.version(_account(customer_id))

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
        doc: dict[str, Any] = {
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
                {"order_id": e.order_id, "at": utc_iso(e.at), "points": e.net_points}
                for e in ledger.recent_earnings(now)
            ],
            "last_seq": last_seq,
            "updated_at": utc_iso(now),
        }
        await self.listings.put(_account(customer_id), doc, lists={}, version=last_seq)
