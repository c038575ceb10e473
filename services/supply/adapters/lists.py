"""The purchase-order and transfer lists: per outlet and per franchise, by status, read by
key so that a page costs the same however many orders an outlet ever placed.

Franchise collection ``supply_lists``, every document read and written by ``_id``:

- an *open* status (a PO ``draft``, ``submitted``, ``partially_received``; a transfer
  ``requested``, ``shipped``): one document ``<kind>|<scope>|<status>`` with the entries in
  that status now. Entries leave when their document moves on, so it holds only the
  franchise's work in progress (bounded by what is open, not by history).
- a *final* status (``received``, ``cancelled``): entries never leave, so they are kept as
  pages ``<kind>|<scope>|<status>|<n>`` of :data:`PAGE_SIZE` entries, oldest first, and a
  head ``<kind>|<scope>|<status>`` with their count. A list page reads the head and the one
  or two pages it covers.

``scope`` is ``o:<outlet_id>`` (each outlet a transfer touches) or ``f`` (the franchise).
One projector writes it (:meth:`DocumentLists.project`, the durable consumers
``supply-lists-*`` with one message in flight), from the PO and transfer aggregates, so the
lists can be rebuilt from the streams. Each event re-reads its document's current state, so a
late or a repeated event converges on the same lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.db import Databases

LISTS = "supply_lists"
PAGE_SIZE = 100


@dataclass(frozen=True)
class ListKind:
    name: str  # "po" or "transfer"
    open: tuple[str, ...]
    final: tuple[str, ...]

    @property
    def statuses(self) -> tuple[str, ...]:
        return (*self.open, *self.final)


PURCHASE_ORDERS = ListKind(
    "po", ("draft", "submitted", "partially_received"), ("received", "cancelled")
)
TRANSFERS = ListKind("transfer", ("requested", "shipped"), ("received", "cancelled"))


def _newest_first(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (dict(e) for e in entries),
        key=lambda e: (e.get("created_at") or "", e["id"]),
        reverse=True,
    )


class DocumentLists:
    def __init__(self, databases: Databases, kind: ListKind, page_size: int = PAGE_SIZE) -> None:
        self.databases = databases
        self.kind = kind
        self.page_size = page_size

    def _key(self, scope: str, status: str, page: int | None = None) -> str:
        base = f"{self.kind.name}|{scope}|{status}"
        return base if page is None else f"{base}|{page}"

    # --- writing (the projector) ---------------------------------------------------------

    async def project(
        self, franchise_id: str, entry: Mapping[str, Any], scopes: Sequence[str]
    ) -> None:
        """Put ``entry`` (with its current ``status``) where it belongs in every scope and
        nowhere else. Idempotent, so a redelivered or an older event changes nothing."""
        db = (await self.databases.franchise(franchise_id))[LISTS]
        status = str(entry["status"])
        for scope in scopes:
            for open_status in self.kind.open:
                key = self._key(scope, open_status)
                doc = await db.find_one({"_id": key})
                entries = [e for e in (doc or {}).get("entries", []) if e["id"] != entry["id"]]
                if open_status == status:
                    entries.append(dict(entry))
                if doc is None and not entries:
                    continue
                if doc is not None and doc.get("entries", []) == entries:
                    continue
                await db.replace_one({"_id": key}, {"entries": entries}, upsert=True)
            if status in self.kind.final:
                await self._append_final(db, scope, status, entry)

    async def _append_final(
        self, db: Any, scope: str, status: str, entry: Mapping[str, Any]
    ) -> None:
        head_key = self._key(scope, status)
        head = await db.find_one({"_id": head_key})
        count = int((head or {}).get("count", 0))
        # The page the next entry goes to; a crash after writing it but before the head
        # leaves the entry there, which the check below finds.
        number = count // self.page_size
        page = await db.find_one({"_id": self._key(scope, status, number)})
        entries = list((page or {}).get("entries", []))
        if number > 0 and count % self.page_size == 0 and page is None:
            previous = await db.find_one({"_id": self._key(scope, status, number - 1)})
            if any(e["id"] == entry["id"] for e in (previous or {}).get("entries", [])):
                return
        if not any(e["id"] == entry["id"] for e in entries):
            entries.append(dict(entry))
            await db.replace_one(
                {"_id": self._key(scope, status, number)}, {"entries": entries}, upsert=True
            )
        await db.replace_one(
            {"_id": head_key}, {"count": number * self.page_size + len(entries)}, upsert=True
        )

    # --- reading -------------------------------------------------------------------------

    async def open_entries(
        self, franchise_id: str, scope: str, statuses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every entry of the given open statuses, newest first."""
        db = (await self.databases.franchise(franchise_id))[LISTS]
        found: list[dict[str, Any]] = []
        for status in statuses:
            doc = await db.find_one({"_id": self._key(scope, status)})
            found += (doc or {}).get("entries", [])
        return _newest_first(found)

    async def final_count(self, franchise_id: str, scope: str, status: str) -> int:
        db = (await self.databases.franchise(franchise_id))[LISTS]
        head = await db.find_one({"_id": self._key(scope, status)})
        return int((head or {}).get("count", 0))

    async def final_entries(
        self, franchise_id: str, scope: str, status: str, before: int, n: int
    ) -> list[dict[str, Any]]:
        """Up to ``n`` entries at positions below ``before`` (0 = the first ever), newest
        first."""
        db = (await self.databases.franchise(franchise_id))[LISTS]
        low = max(0, before - n)
        out: list[dict[str, Any]] = []
        for number in range((before - 1) // self.page_size, low // self.page_size - 1, -1):
            if before <= 0:
                break
            page = await db.find_one({"_id": self._key(scope, status, number)})
            entries = (page or {}).get("entries", [])
            first = number * self.page_size
            chosen = [e for i, e in enumerate(entries) if low <= first + i < before]
            out += reversed(chosen)
        return [dict(e) for e in out]
