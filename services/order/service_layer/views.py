"""The order service's read models: per-key lists in Redis (:mod:`bobaku.kernel.listings`).

One projector (:meth:`OrderViews.project`) writes them from the Order aggregate, each write
versioned by the order's stream sequence so a late or repeated event cannot regress it.
Every query reads one list by key, O(page) however many orders are stored:

- ``c:<customer>`` and ``c:<customer>:s:<status>``: a customer's history (all franchises);
- ``f:<fr>:o:<outlet>`` with ``:s:<status>``, ``:d:<day>`` and ``:d:<day>:s:<status>``: an
  outlet's orders, newest first (``day`` is the UTC date of ``created_at``);
- ``f:<fr>:k:<outlet>``: the kitchen board (being prepared or ready), oldest paid first;
  its ``…:s:being_prepared`` list's length is the queue ahead of a new order.

The lists are a projection of ``ES_ORDER``: replaying the stream into them rebuilds them.
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.events.envelope import parse_utc
from bobaku.kernel.listings import Listings
from bobaku.services.order.domain import kitchen
from bobaku.services.order.domain.model import Order, Status, view

KITCHEN_STATUSES = (str(Status.BEING_PREPARED), str(Status.READY))


def read_model(order: Order) -> dict[str, Any]:
    """The document :meth:`OrderViews.project` stores for ``order``."""
    doc = view(order)
    doc.update(
        status=str(order.status),
        status_detail=doc.pop("status"),
        paid_at=order.payment.paid_at,
        stations=sorted({line.get("station") or "" for line in order.lines} - {""}),
        ticket=kitchen.ticket(order),
    )
    return doc


def _at(iso: str | None) -> float:
    return parse_utc(iso).timestamp() if iso else 0.0


def outlet_list(franchise_id: str, outlet_id: str, *, status: str | None, day: str | None) -> str:
    name = f"f:{franchise_id}:o:{outlet_id}"
    if day:
        name += f":d:{day}"
    return f"{name}:s:{status}" if status else name


def customer_list(customer_id: str, status: str | None) -> str:
    return f"c:{customer_id}:s:{status}" if status else f"c:{customer_id}"


def kitchen_list(franchise_id: str, outlet_id: str) -> str:
    return f"f:{franchise_id}:k:{outlet_id}"


def lists_of(order: Order) -> dict[str, float]:
    """Every list the order is in now, with its score there."""
    assert order.franchise_id is not None
    created = _at(order.created_at)
    status = str(order.status)
    day = (order.created_at or "")[:10] or None
    names = [
        customer_list(order.customer_id, None),
        customer_list(order.customer_id, status),
        *(
            outlet_list(order.franchise_id, order.outlet_id, status=s, day=d)
            for s in (None, status)
            for d in ((None, day) if day else (None,))
        ),
    ]
    lists = dict.fromkeys(names, created)
    if status in KITCHEN_STATUSES:
        lists[kitchen_list(order.franchise_id, order.outlet_id)] = (
            _at(order.payment.paid_at) or created
        )
    return lists


class OrderViews:
    def __init__(self, listings: Listings) -> None:
        self.listings = listings

    async def project(self, order: Order) -> bool:
        """Store the order's current state unless the read model is already ahead."""
        if not order.exists or not order.franchise_id:
            return False
        return await self.listings.put(
            order.id, read_model(order), lists=lists_of(order), version=order.version
        )

    async def history(
        self, customer_id: str, status: str | None, *, start: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit + 1`` of a customer's orders from offset ``start``, newest first."""
        entries = await self.listings.page(
            customer_list(customer_id, status), start=start, count=limit + 1
        )
        return [e.doc for e in entries]

    async def outlet_page(
        self,
        franchise_id: str,
        outlet_id: str,
        *,
        status: str | None,
        date: str | None,
        start: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Up to ``limit + 1`` of an outlet's orders from offset ``start``, newest first."""
        name = outlet_list(franchise_id, outlet_id, status=status, day=date)
        return [e.doc for e in await self.listings.page(name, start=start, count=limit + 1)]

    async def kitchen_queue(
        self, franchise_id: str, outlet_id: str, station: str | None = None
    ) -> list[dict[str, Any]]:
        """Tickets being prepared or ready, oldest paid first (the board is bounded by what
        the kitchen has in hand, so it is read whole)."""
        name = kitchen_list(franchise_id, outlet_id)
        count = await self.listings.count(name)
        entries = await self.listings.page(name, start=0, count=count, newest_first=False)
        tickets = [e.doc for e in entries]
        if station:
            tickets = [t for t in tickets if station in t.get("stations", [])]
        return tickets

    async def queue_length(self, franchise_id: str, outlet_id: str) -> int:
        """How many orders of the outlet are being prepared (ahead of a new one)."""
        name = outlet_list(franchise_id, outlet_id, status=str(Status.BEING_PREPARED), day=None)
        return await self.listings.count(name)
