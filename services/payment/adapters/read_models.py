"""Read models of the payment service in Redis (:mod:`bobaku.kernel.listings`), written only
by the payment projector, each write O(1) in the payments stored.

- settlement: counters per business day per outlet (``<fr>|<day>|<outlet>``, grouped by
  ``<fr>|<day>``), each event added once by its id (:class:`~bobaku.kernel.listings.Tallies`).
- payments: the current view of each payment (versioned by its stream sequence) in the
  lists the listing filters read: the franchise's and each outlet's, each also by status,
  by provider, and by both, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bobaku.kernel.listings import Listings, Tallies
from bobaku.services.payment.domain.settlement import FIGURES, SettlementLine, tally_fields


class SettlementCounters:
    def __init__(self, tallies: Tallies) -> None:
        self.tallies = tallies

    async def add(self, franchise_id: str, line: SettlementLine, event_id: str) -> bool:
        """Count ``line`` once per event id."""
        return await self.tallies.add(
            f"{franchise_id}|{line.day}|{line.outlet_id}",
            event_id,
            tally_fields(line),
            group=f"{franchise_id}|{line.day}",
        )

    async def of_day(
        self, franchise_id: str, day: str, outlet_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The day's counters per outlet (``totals`` and ``by_provider``), by outlet id."""
        if outlet_id:
            keys = [f"{franchise_id}|{day}|{outlet_id}"]
        else:
            keys = await self.tallies.group(f"{franchise_id}|{day}")
        docs = []
        for key, fields in (await self.tallies.get_many(keys)).items():
            if not fields:
                continue
            doc: dict[str, Any] = {"outlet_id": key.rsplit("|", 1)[1], "by_provider": {}}
            for field, value in fields.items():
                scope, _, name = field.partition(".")
                if name not in FIGURES:
                    continue
                if scope == "totals":
                    doc.setdefault("totals", {})[name] = value
                else:
                    doc["by_provider"].setdefault(scope, {})[name] = value
            docs.append(doc)
        return sorted(docs, key=lambda d: d["outlet_id"])


def payment_lists(franchise_id: str, view: dict[str, Any], score: float) -> dict[str, float]:
    names = []
    for scope in (f"f:{franchise_id}", f"f:{franchise_id}:o:{view['outlet_id']}"):
        names += [
            scope,
            f"{scope}:s:{view['status']}",
            f"{scope}:p:{view['provider']}",
            f"{scope}:s:{view['status']}:p:{view['provider']}",
        ]
    return dict.fromkeys(names, score)


def listing_of(
    franchise_id: str, outlet_id: str | None, status: str | None, provider: str | None
) -> str:
    name = f"f:{franchise_id}" + (f":o:{outlet_id}" if outlet_id else "")
    if status:
        name += f":s:{status}"
    return name + (f":p:{provider}" if provider else "")


class PaymentViews:
    def __init__(self, listings: Listings) -> None:
        self.listings = listings

    async def save(
        self, franchise_id: str, view: dict[str, Any], created_at: datetime, version: int
    ) -> bool:
        """The payment's view as of stream sequence ``version`` (an older one is ignored)."""
        doc = {**view, "_id": view["intent_id"], "created_at_ts": created_at.isoformat()}
        return await self.listings.put(
            view["intent_id"],
            doc,
            lists=payment_lists(franchise_id, view, created_at.timestamp()),
            version=version,
        )

    async def page(
        self,
        franchise_id: str,
        *,
        outlets: Sequence[str] | None,
        status: str | None,
        provider: str | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``outlets`` None means the whole franchise; ``after`` is the
        (created_at, intent_id) of the previous page's last."""
        cursor = (after[0].timestamp(), after[1]) if after else None
        if outlets is None or len(outlets) == 1:
            one = outlets[0] if outlets else None
            name = listing_of(franchise_id, one, status, provider)
            entries = await self.listings.after(name, cursor, count=limit)
        else:
            names = [listing_of(franchise_id, o, status, provider) for o in outlets]
            entries = await self.listings.merged_after(names, cursor, count=limit)
        return [e.doc for e in entries]
