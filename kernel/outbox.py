"""The transactional outbox: an event written into the document whose change it announces.

A state change and its event must not be two independent writes that can diverge, so the
event goes *into the changed document itself* (field :data:`OUTBOX`, one JSON string per
event) in the same single-document write as the change (:func:`outbox_entry`,
:func:`push_entry`). Right after the write it is published and pulled from the document
(:meth:`Outbox.deliver`); if that fails (NATS away, the process killed in between) the
sweeper (:meth:`Outbox.sweeper`) publishes it later. Publishing twice is harmless: the bus
publishes with ``Nats-Msg-Id`` = event id, and consumers are idempotent by event id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases, Document
from bobaku.kernel.events import Event
from bobaku.kernel.tasks import BackgroundTask

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
PENDING = {OUTBOX: {"$exists": True, "$ne": []}}


@dataclass(frozen=True)
class Pending:
    """An event written into a document and not yet known to be published."""

    database: AsyncDatabase[Document]
    collection: str
    document_id: str
    entry: str


def outbox_entry(event: Event) -> str:
    return event.to_json().decode()


def push_entry(update: dict[str, Any], entry: str) -> dict[str, Any]:
    """``update`` (a MongoDB update document) that also puts ``entry`` into the outbox."""
    return {**update, "$push": {OUTBOX: entry}}


class Outbox:
    def __init__(
        self,
        bus: EventBus,
        databases: Databases,
        *,
        platform_collections: tuple[str, ...] = (),
        franchise_collections: tuple[str, ...] = (),
    ) -> None:
        self.bus = bus
        self.databases = databases
        self.platform_collections = platform_collections
        self.franchise_collections = franchise_collections

    async def deliver(self, pending: Pending) -> bool:
        """Publish one pending event and take it out of its document; False if it stays."""
        try:
            await self.bus.publish(Event.from_json(pending.entry))
        except Exception as exc:  # NATS away: the sweeper tries again later
            log.warning("event stays in the outbox: %s", exc)
            return False
        await pending.database[pending.collection].update_one(
            {"_id": pending.document_id}, {"$pull": {OUTBOX: pending.entry}}
        )
        return True

    async def sweep(self) -> int:
        """Publish every event still waiting in a document; returns how many went out."""
        sent = 0
        targets: list[tuple[AsyncDatabase[Document], str]] = [
            (self.databases.platform, c) for c in self.platform_collections
        ]
        if self.franchise_collections:
            franchise_prefix = f"{self.databases.prefix}_fr_"
            for name in await self.databases.client.list_database_names():
                if name.startswith(franchise_prefix):
                    db = self.databases.client[name]
                    targets.extend((db, c) for c in self.franchise_collections)
        for db, collection in targets:
            async for doc in db[collection].find(PENDING, {OUTBOX: 1}):
                for entry in doc.get(OUTBOX, []):
                    if await self.deliver(Pending(db, collection, doc["_id"], entry)):
                        sent += 1
        if sent:
            log.info("outbox sweep published %d late events", sent)
        return sent

    def sweeper(self, name: str, interval_s: float) -> BackgroundTask:
        """The background task that runs :meth:`sweep` every ``interval_s``."""

        async def step() -> bool:
            await self.sweep()
            return False

        return BackgroundTask(name, step, interval_s=interval_s)
