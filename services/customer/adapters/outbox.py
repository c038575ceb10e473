"""The transactional outbox of the ``users`` collection.

A registration writes the user and its ``customer.registered`` event in one document (no
dual write). The event is then published and the outbox emptied; if the process dies in
between, :meth:`UserOutbox.relay_pending` publishes it later. Publishing twice is harmless:
the bus drops a repeated event id inside its duplicate window and consumers are idempotent
by event id beyond it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.events import Event
from bobaku.services.customer.adapters.users import USERS

log = logging.getLogger(__name__)


class UserOutbox:
    def __init__(self, databases: Databases, bus: EventBus) -> None:
        self.databases = databases
        self.bus = bus

    async def flush(self, user_id: str, events: Sequence[Event]) -> None:
        """Publish the events just committed with the user, then empty its outbox. Only the
        user's creation fills the outbox, so emptying it cannot drop a later event."""
        for event in events:
            await self.bus.publish(event)
        await self.databases.platform[USERS].update_one(
            {"_id": user_id}, {"$set": {"outbox": []}, "$unset": {"outbox_pending": ""}}
        )

    async def relay_pending(self, limit: int = 100) -> int:
        """Publish what a crash left behind; returns how many users it found."""
        users = self.databases.platform[USERS]
        found = 0
        async for doc in users.find({"outbox_pending": True}, {"outbox": 1}).limit(limit):
            events = [Event.model_validate(e) for e in doc.get("outbox", [])]
            await self.flush(doc["_id"], events)
            found += 1
        if found:
            log.info("relayed outbox events", extra={"users": found})
        return found
