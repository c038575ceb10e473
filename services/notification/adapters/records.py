"""Notification records in the platform database: written once, read by ``_id``.

The ``_id`` is the notification id derived from the cause (``domain/rules.py``), so the
insert itself is the deduplication: a second insert of the same cause fails with a
duplicate key, on every replica and after any crash.

A record never changes once written, so this process keeps the ones it wrote or read last
(an LRU of ``keep``): the three delivery jobs of a notification created here find it in
memory instead of reading MongoDB each; another replica's read it from the database once.
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.db import Databases, IndexSpec, insert_new
from bobaku.kernel.lru import LruMap

COLLECTION = "notifications"
# Read only by _id; no secondary index is needed (or wanted: FerretDB would scan anyway).
INDEXES: tuple[IndexSpec, ...] = ()


class Records:
    def __init__(self, databases: Databases, keep: int = 4096) -> None:
        self.databases = databases
        self._recent: LruMap[str, dict[str, Any]] = LruMap(keep)

    async def insert(self, doc: dict[str, Any]) -> bool:
        """True if this call created it; False if it already existed."""
        if not await insert_new(self.databases.platform[COLLECTION], dict(doc)):
            return False
        self._recent.put(doc["_id"], doc)
        return True

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        kept = self._recent.get(notification_id)
        if kept is not None:
            return kept
        doc: dict[str, Any] | None = await self.databases.platform[COLLECTION].find_one(
            {"_id": notification_id}
        )
        if doc is not None:
            self._recent.put(doc["_id"], doc)
        return doc
