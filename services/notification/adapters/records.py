"""Notification records in the platform database: written once, read by ``_id``.

The ``_id`` is the notification id derived from the cause (``domain/rules.py``), so the
insert itself is the deduplication: a second insert of the same cause fails with a
duplicate key, on every replica and after any crash.

A record never changes once written, so this process keeps the ones it wrote or read last
(an LRU of ``keep``): the three delivery jobs of a notification created here find it in
memory instead of reading MongoDB each; another replica's read it from the database once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from bobaku.kernel.db import Databases, IndexSpec, insert_new

COLLECTION = "notifications"
# Read only by _id; no secondary index is needed (or wanted: FerretDB would scan anyway).
INDEXES: tuple[IndexSpec, ...] = ()


class Records:
    def __init__(self, databases: Databases, keep: int = 4096) -> None:
        self.databases = databases
        self.keep = keep
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def insert(self, doc: dict[str, Any]) -> bool:
        """True if this call created it; False if it already existed."""
        if not await insert_new(self.databases.platform[COLLECTION], dict(doc)):
            return False
        self._remember(doc)
        return True

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        kept = self._recent.get(notification_id)
        if kept is not None:
            self._recent.move_to_end(notification_id)
            return kept
        doc: dict[str, Any] | None = await self.databases.platform[COLLECTION].find_one(
            {"_id": notification_id}
        )
        if doc is not None:
            self._remember(doc)
        return doc

    def _remember(self, doc: dict[str, Any]) -> None:
        self._recent[doc["_id"]] = doc
        self._recent.move_to_end(doc["_id"])
        while len(self._recent) > self.keep:
            self._recent.popitem(last=False)
