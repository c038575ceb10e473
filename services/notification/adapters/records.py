"""Notification records in the platform database: written once, read by ``_id``.

The ``_id`` is the notification id derived from the cause (``domain/rules.py``), so the
insert itself is the deduplication: a second insert of the same cause fails with a
duplicate key, on every replica and after any crash.
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.db import Databases, IndexSpec, insert_new

COLLECTION = "notifications"
# Read only by _id; no secondary index is needed (or wanted: FerretDB would scan anyway).
INDEXES: tuple[IndexSpec, ...] = ()


class Records:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def insert(self, doc: dict[str, Any]) -> bool:
        """True if this call created it; False if it already existed."""
        return await insert_new(self.databases.platform[COLLECTION], doc)

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.databases.platform[COLLECTION].find_one(
            {"_id": notification_id}
        )
        return doc
