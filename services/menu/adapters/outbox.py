"""A transactional outbox inside each changed document.

A catalog, price, availability or hours change and the event announcing it must not be two
independent writes that can diverge (a crash between them would leave every replica's
cache stale until it expires). So the event is written *into the changed document itself*
(field ``_outbox``, one JSON string per event) in the same single-document update as the
change. Right after the write the event is published and removed from the document; if
that fails (NATS down, process killed) the sweeper publishes it later. Publishing twice is
harmless: the bus publishes with ``Nats-Msg-Id`` = event id, and the consumers only drop
cache generations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases, Document
from bobaku.kernel.events import Event

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


class Outbox:
    def __init__(
        self,
        bus: EventBus,
        databases: Databases,
        *,
        platform_collections: tuple[str, ...],
        franchise_collections: tuple[str, ...],
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
        return sent

    async def run_sweeper(self, interval_s: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                sent = await self.sweep()
            except Exception as exc:
                log.warning("outbox sweep failed: %s", exc)
            else:
                if sent:
                    log.info("outbox sweep published %d late events", sent)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
