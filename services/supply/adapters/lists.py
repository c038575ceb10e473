"""The purchase-order and transfer lists: per outlet and per franchise, by status, read by
key so that a page, and the projection of an order, cost the same however many orders an
outlet ever placed.

Every document is read and written by ``_id``. What is ever updated lives in a collection
whose size does not grow with history (on FerretDB 1.24 an update or replace scans the whole
collection, even by ``_id``); what grows with history is only ever inserted:

- ``supply_list_heads`` (updated; a handful of documents per outlet):

  - an *open* status (a PO ``draft``, ``submitted``, ``partially_received``; a transfer
    ``requested``, ``shipped``): ``<kind>|<scope>|<status>`` with the entries in that status
    now. Entries leave when their document moves on, so it holds only work in progress.
  - a *final* status (``received``, ``cancelled``): the head ``<kind>|<scope>|<status>``
    with the number of full pages archived and the ``tail``, the newest entries (fewer than
    :data:`PAGE_SIZE`) not yet in a page.

- ``supply_list_pages`` (insert-only): the full pages ``<kind>|<scope>|<status>|<n>`` of a
  final status, :data:`PAGE_SIZE` entries each, oldest first. When the tail fills, it is
  inserted as the next page and the head moves on.
- ``supply_list_places`` (insert-only): one marker per entry and final list,
  ``<kind>|<scope>|<status>|#<id>``, written once before the entry is placed, recording its
  position. A later projection of the same entry (the projector re-reads the document's
  current state on each of its events, and a redelivery repeats one) finds the marker and
  places nothing, however many pages were filled since.

``scope`` is ``o:<outlet_id>`` (each outlet a transfer touches) or ``f`` (the franchise).
One projector writes the lists (:meth:`DocumentLists.project`, the durable consumers
``supply-lists-v2-*`` with one message in flight), from the PO and transfer aggregates, so
they can be rebuilt from the streams. A crash at any step leaves state that the redelivered
event completes: a marker whose position is the list's length is an entry not placed yet, a
page already inserted is inserted again as the same document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.db import Databases, insert_new

HEADS = "supply_list_heads"
PAGES = "supply_list_pages"
PLACES = "supply_list_places"
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


@dataclass(frozen=True)
class _Head:
    """A final list's head: ``pages`` full pages archived, then the ``tail``."""

    pages: int
    tail: list[dict[str, Any]]

    @classmethod
    def of(cls, doc: Mapping[str, Any] | None) -> _Head:
        return cls(int((doc or {}).get("pages", 0)), list((doc or {}).get("tail", [])))

    def count(self, page_size: int) -> int:
        return self.pages * page_size + len(self.tail)


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
        db = await self.databases.franchise(franchise_id)
        status = str(entry["status"])
        for scope in scopes:
            for open_status in self.kind.open:
                await self._open(db, scope, open_status, entry, status == open_status)
            if status in self.kind.final:
                await self._append_final(db, scope, status, entry)

    async def _open(
        self, db: Any, scope: str, status: str, entry: Mapping[str, Any], belongs: bool
    ) -> None:
        key = self._key(scope, status)
        doc = await db[HEADS].find_one({"_id": key})
        entries = [e for e in (doc or {}).get("entries", []) if e["id"] != entry["id"]]
        if belongs:
            entries.append(dict(entry))
        if doc is None and not entries:
            return
        if doc is not None and doc.get("entries", []) == entries:
            return
        await db[HEADS].replace_one({"_id": key}, {"entries": entries}, upsert=True)

    async def _append_final(
        self, db: Any, scope: str, status: str, entry: Mapping[str, Any]
    ) -> None:
        head_key = self._key(scope, status)
        head = _Head.of(await db[HEADS].find_one({"_id": head_key}))
        count = head.count(self.page_size)
        marker = f"{head_key}|#{entry['id']}"
        if not await insert_new(db[PLACES], {"_id": marker, "position": count}):
            placed = await db[PLACES].find_one({"_id": marker})
            # A position below the length: it is in the list already. At the length: a
            # crash came after the marker and before the head moved; place it now.
            if placed is None or int(placed["position"]) < count:
                return
        tail = [*head.tail, dict(entry)]
        pages = head.pages
        if len(tail) >= self.page_size:
            # The same document if a crash came after this insert and before the head.
            await insert_new(db[PAGES], {"_id": self._key(scope, status, pages), "entries": tail})
            pages, tail = pages + 1, []
        await db[HEADS].replace_one({"_id": head_key}, {"pages": pages, "tail": tail}, upsert=True)

    # --- reading -------------------------------------------------------------------------

    async def open_entries(
        self, franchise_id: str, scope: str, statuses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Every entry of the given open statuses, newest first."""
        db = await self.databases.franchise(franchise_id)
        found: list[dict[str, Any]] = []
        for status in statuses:
            doc = await db[HEADS].find_one({"_id": self._key(scope, status)})
            found += (doc or {}).get("entries", [])
        return _newest_first(found)

    async def final_count(self, franchise_id: str, scope: str, status: str) -> int:
        db = await self.databases.franchise(franchise_id)
        head = _Head.of(await db[HEADS].find_one({"_id": self._key(scope, status)}))
        return head.count(self.page_size)

    async def final_entries(
        self, franchise_id: str, scope: str, status: str, before: int, n: int
    ) -> list[dict[str, Any]]:
        """Up to ``n`` entries at positions below ``before`` (0 = the first ever), newest
        first: the head, and the one or two archived pages the range covers."""
        db = await self.databases.franchise(franchise_id)
        head = _Head.of(await db[HEADS].find_one({"_id": self._key(scope, status)}))
        before = min(before, head.count(self.page_size))
        low = max(0, before - n)
        out: list[dict[str, Any]] = []
        if before <= 0:
            return out
        for number in range((before - 1) // self.page_size, low // self.page_size - 1, -1):
            if number == head.pages:
                entries = head.tail
            else:
                page = await db[PAGES].find_one({"_id": self._key(scope, status, number)})
                entries = (page or {}).get("entries", [])
            first = number * self.page_size
            chosen = [e for i, e in enumerate(entries) if low <= first + i < before]
            out += reversed(chosen)
        return [dict(e) for e in out]
