"""Platform-level documents of the payment service.

- ``payment_intents``: where each intent lives (its franchise), so a provider callback or a
  lookup that carries only the intent id finds its aggregate (read by ``_id`` through
  Redis, :class:`~bobaku.kernel.listings.WriteOnceDocuments`). Written once per intent,
  before the provider is called, with content derived from the order: a repeat writes the
  same document.
- ``payment_franchises``: the franchises that took a payment (``_id`` = franchise id, written
  once each), so HQ asking for a franchise without payments or database gets a 404.
- ``payment_outlets``: which franchise each outlet took payments for (``<outlet>|<franchise>``
  ids, written once per pair), so a franchise owner asking for another franchise's outlet
  is refused (403) rather than answered with an empty page.

Work due at a time (an intent's expiry, a refund the provider has not confirmed yet) is not
here but in Redis (:class:`Deadlines`, a :class:`~bobaku.kernel.listings.Listings` scored by
the due time, one list per franchise): it is rewritten on every retry and read by time,
which FerretDB would answer with a scan of every deadline ever set. The aggregate's
expected-sequence append, not the schedule, decides who wins a race. Deadlines are derived
state: after Redis lost them, the read-model rebuild (``entrypoints/projector.py``) sets
them again from the payments in the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from bobaku.kernel.db import Databases, insert_new
from bobaku.kernel.events.envelope import parse_utc
from bobaku.kernel.listings import Listings, WriteOnceDocuments
from bobaku.services.payment.domain.errors import IntentConflict

INTENTS = "payment_intents"
OUTLETS = "payment_outlets"
FRANCHISES = "payment_franchises"


@dataclass(frozen=True)
class IntentEntry:
    intent_id: str
    franchise_id: str
    order_id: str
    outlet_id: str
    customer_id: str

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.intent_id,
            "franchise_id": self.franchise_id,
            "order_id": self.order_id,
            "outlet_id": self.outlet_id,
            "customer_id": self.customer_id,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> IntentEntry:
        return cls(
            doc["_id"], doc["franchise_id"], doc["order_id"], doc["outlet_id"], doc["customer_id"]
        )


class IntentDirectory:
    def __init__(self, databases: Databases, intents: WriteOnceDocuments) -> None:
        self.databases = databases
        # payment_intents, read by _id through Redis (FerretDB scans even for an _id).
        self.intents = intents
        self._outlets_noted: set[str] = set()

    async def register(self, entry: IntentEntry) -> None:
        """Record where the intent lives; a repeat with the same facts is a no-op, one with
        other facts (another franchise for the same order) is refused."""
        if await self.intents.insert(entry.document()):
            await self._note_outlet(entry.outlet_id, entry.franchise_id)
            return
        found = await self.intents.get(entry.intent_id)
        if found is not None and IntentEntry.from_document(found) != entry:
            raise IntentConflict(
                f"order {entry.order_id} already has a payment intent with other details",
                details={"intent_id": entry.intent_id},
            )

    async def _note_outlet(self, outlet_id: str, franchise_id: str) -> None:
        key = f"{outlet_id}|{franchise_id}"
        if key in self._outlets_noted:
            return
        doc = {"_id": key, "outlet_id": outlet_id, "franchise_id": franchise_id}
        # False when another intent noted it first: either way it is noted.
        await insert_new(self.databases.platform[FRANCHISES], {"_id": franchise_id})
        await insert_new(self.databases.platform[OUTLETS], doc)
        self._outlets_noted.add(key)

    async def knows_franchise(self, franchise_id: str) -> bool:
        """Whether the franchise took a payment here."""
        found = await self.databases.platform[FRANCHISES].find_one({"_id": franchise_id})
        return found is not None

    async def outlet_franchises(self, outlet_id: str) -> set[str]:
        """The franchises this outlet took payments for (none: it took no payment yet)."""
        # An _id range: every id of this outlet starts with "<outlet>|" ('}' follows '|').
        ids = {"$gte": f"{outlet_id}|", "$lt": f"{outlet_id}}}"}
        found = self.databases.platform[OUTLETS].find({"_id": ids}, {"franchise_id": 1})
        return {doc["franchise_id"] async for doc in found}

    async def find(self, intent_id: str) -> IntentEntry | None:
        doc = await self.intents.get(intent_id)
        return IntentEntry.from_document(doc) if doc else None


@dataclass(frozen=True)
class Deadline:
    key: str
    kind: str  # "expire" | "refund"
    franchise_id: str
    intent_id: str
    due_at: datetime
    refund_id: str | None = None
    attempts: int = 0


class Deadlines:
    """Due work per franchise (the list ``due:<franchise>``, scored by the due time), so an
    instance sweeps only the franchises it serves: ``serves`` is asked per franchise at each
    sweep (a silo its own; the pooled instance every one the routing table does not put in
    a silo, kernel.web.franchise_scope). A set beside the lists names the franchises that
    have had deadlines."""

    def __init__(self, listings: Listings, serves: Callable[[str], bool] | None = None) -> None:
        self.listings = listings
        self.serves = serves
        self._franchises = f"{listings.namespace}:franchises"

    async def schedule(self, deadline: Deadline) -> None:
        doc = {
            "kind": deadline.kind,
            "franchise_id": deadline.franchise_id,
            "intent_id": deadline.intent_id,
            "refund_id": deadline.refund_id,
            "due_at": deadline.due_at.isoformat(),
            "attempts": deadline.attempts,
        }
        await cast(Any, self.listings.redis.sadd(self._franchises, deadline.franchise_id))
        await self.listings.put(
            deadline.key, doc, lists={due_list(deadline.franchise_id): deadline.due_at.timestamp()}
        )

    async def franchises(self) -> list[str]:
        """The franchises with deadlines that this instance serves, sorted."""
        raw = await cast(Any, self.listings.redis.smembers(self._franchises))
        names = sorted(r.decode() if isinstance(r, bytes) else str(r) for r in raw)
        return [f for f in names if self.serves is None or self.serves(f)]

    async def due(self, now: datetime, limit: int = 100) -> list[Deadline]:
        """Up to ``limit`` deadlines due by ``now`` of the franchises served, earliest first
        (every franchise's list read in one round trip)."""
        lists = [due_list(franchise_id) for franchise_id in await self.franchises()]
        entries = await self.listings.upto_many(lists, now.timestamp(), count=limit)
        return [
            Deadline(
                key=entry.id,
                kind=entry.doc["kind"],
                franchise_id=entry.doc["franchise_id"],
                intent_id=entry.doc["intent_id"],
                due_at=parse_utc(entry.doc["due_at"]),
                refund_id=entry.doc.get("refund_id"),
                attempts=int(entry.doc.get("attempts", 0)),
            )
            for entry in entries
        ]

    async def reschedule(self, deadline: Deadline, due_at: datetime) -> None:
        await self.schedule(replace(deadline, due_at=due_at, attempts=deadline.attempts + 1))

    async def done(self, key: str) -> None:
        await self.listings.remove(key)


def due_list(franchise_id: str) -> str:
    return f"due:{franchise_id}"


def expiry_key(intent_id: str) -> str:
    return f"expire:{intent_id}"


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"
