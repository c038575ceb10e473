"""Platform-level documents of the payment service.

- ``payment_intents``: where each intent lives (its franchise), so a provider callback or a
  lookup that carries only the intent id finds its aggregate. Written once per intent,
  before the provider is called, with content derived from the order: a repeat writes the
  same document.
- ``payment_outlets``: which franchise each outlet took payments for (``<outlet>|<franchise>``
  ids, written once per pair), so a franchise owner asking for another franchise's outlet
  is refused (403) rather than answered with an empty page.
- ``payment_deadlines``: work due at a time (an intent's expiry, a refund the provider has
  not confirmed yet). The sweeper reads the due ones through the ``due_at`` index; the
  aggregate's expected-sequence append, not this collection, decides who wins a race.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases, IndexSpec, insert_new, insert_or_get
from bobaku.services.payment.domain.errors import IntentConflict

INTENTS = "payment_intents"
OUTLETS = "payment_outlets"
DEADLINES = "payment_deadlines"

INDEXES = (IndexSpec("platform", DEADLINES, (("due_at", 1),), name="due_at_1"),)


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
    def __init__(self, databases: Databases) -> None:
        self.databases = databases
        self._outlets_noted: set[str] = set()

    async def register(self, entry: IntentEntry) -> None:
        """Record where the intent lives; a repeat with the same facts is a no-op, one with
        other facts (another franchise for the same order) is refused."""
        intents = self.databases.platform[INTENTS]
        found = await intents.find_one({"_id": entry.intent_id})
        if found is None:
            found = await insert_or_get(intents, entry.document())
        if IntentEntry.from_document(found) != entry:
            raise IntentConflict(
                f"order {entry.order_id} already has a payment intent with other details",
                details={"intent_id": entry.intent_id},
            )
        await self._note_outlet(entry.outlet_id, entry.franchise_id)

    async def _note_outlet(self, outlet_id: str, franchise_id: str) -> None:
        key = f"{outlet_id}|{franchise_id}"
        if key in self._outlets_noted:
            return
        doc = {"_id": key, "outlet_id": outlet_id, "franchise_id": franchise_id}
        await insert_new(self.databases.platform[OUTLETS], doc)  # or another intent did first
        self._outlets_noted.add(key)

    async def outlet_franchises(self, outlet_id: str) -> set[str]:
        """The franchises this outlet took payments for (none: it took no payment yet)."""
        # An _id range: every id of this outlet starts with "<outlet>|" ('}' follows '|').
        ids = {"$gte": f"{outlet_id}|", "$lt": f"{outlet_id}}}"}
        found = self.databases.platform[OUTLETS].find({"_id": ids}, {"franchise_id": 1})
        return {doc["franchise_id"] async for doc in found}

    async def find(self, intent_id: str) -> IntentEntry | None:
        doc = await self.databases.platform[INTENTS].find_one({"_id": intent_id})
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
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    @property
    def _collection(self) -> Any:
        return self.databases.platform[DEADLINES]

    async def schedule(self, deadline: Deadline) -> None:
        doc = {
            "kind": deadline.kind,
            "franchise_id": deadline.franchise_id,
            "intent_id": deadline.intent_id,
            "refund_id": deadline.refund_id,
            "due_at": deadline.due_at,
            "attempts": deadline.attempts,
        }
        try:
            await self._collection.replace_one({"_id": deadline.key}, doc, upsert=True)
        except DuplicateKeyError:
            # Two upserts of one key raced and the other inserted it: now it matches.
            await self._collection.replace_one({"_id": deadline.key}, doc, upsert=True)

    async def due(self, now: datetime, limit: int = 100) -> list[Deadline]:
        cursor = self._collection.find({"due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        return [
            Deadline(
                key=doc["_id"],
                kind=doc["kind"],
                franchise_id=doc["franchise_id"],
                intent_id=doc["intent_id"],
                due_at=doc["due_at"],
                refund_id=doc.get("refund_id"),
                attempts=int(doc.get("attempts", 0)),
            )
            async for doc in cursor
        ]

    async def reschedule(self, deadline: Deadline, due_at: datetime) -> None:
        await self.schedule(replace(deadline, due_at=due_at, attempts=deadline.attempts + 1))

    async def done(self, key: str) -> None:
        await self._collection.delete_one({"_id": key})


def expiry_key(intent_id: str) -> str:
    return f"expire:{intent_id}"


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"
