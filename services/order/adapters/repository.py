"""Where orders live: the Order aggregate on JetStream, and a directory that finds an
order's franchise from its id alone.

The directory (``order_directory``) and the idempotency keys (``order_idempotency``) are
platform collections written once per order and read by ``_id`` through
:class:`~bobaku.kernel.listings.WriteOnceDocuments` (MongoDB keeps them, Redis answers the
reads: FerretDB scans even for an ``_id``), so they need no index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bobaku.kernel.errors import NotFound
from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.listings import WriteOnceDocuments
from bobaku.services.order.domain.model import Order, apply

DIRECTORY = "order_directory"
IDEMPOTENCY = "order_idempotency"


class OrderRepository:
    def __init__(
        self, store: AggregateStore, directory: WriteOnceDocuments, keys: WriteOnceDocuments
    ) -> None:
        self.store = store
        self.directory = directory
        self.keys = keys

    def subject(self, franchise_id: str, order_id: str) -> str:
        return self.store.subject(franchise_id, order_id)

    async def load(
        self, franchise_id: str, order_id: str, *, reaches: tuple[int, str] | None = None
    ) -> Order:
        """The order as stored; with ``reaches`` (a message's sequence and one of its event
        ids), the remembered one when it holds that message (``AggregateStore.load``: what a
        consumer handed that message needs)."""
        stream = await self.store.load(self.subject(franchise_id, order_id), reaches=reaches)
        order = Order(id=order_id)
        for event in stream.events:
            apply(order, event)
        order.version = stream.last_seq
        return order

    async def append(self, order: Order, events: Sequence[Event]) -> Order:
        """Store events if nobody else moved the order meanwhile; returns the new state."""
        seq = await self.store.append(
            self.subject(order.franchise_id or events[0].tenant or "", order.id),
            events,
            expected_seq=order.version,
        )
        for event in events:
            apply(order, event)
        order.version = seq
        return order

    async def locate(self, order_id: str) -> dict[str, Any]:
        entry = await self.directory.get(order_id)
        if entry is None:
            raise NotFound(f"order {order_id} does not exist", details={"order_id": order_id})
        return entry

    async def register(
        self, order_id: str, franchise_id: str, customer_id: str, outlet_id: str
    ) -> None:
        # Already there means an earlier attempt of the same request registered it.
        await self.directory.insert(
            {
                "_id": order_id,
                "franchise_id": franchise_id,
                "customer_id": customer_id,
                "outlet_id": outlet_id,
            }
        )

    async def claim_idempotency_key(
        self, customer_id: str, key: str, order_id: str
    ) -> tuple[str, bool]:
        """The order this (customer, key) pair stands for, and whether the claim is new
        (ours) rather than an earlier attempt's."""
        key_id = f"{customer_id}:{key}"
        if await self.keys.insert({"_id": key_id, "order_id": order_id}):
            return order_id, True
        existing = await self.keys.get(key_id)
        return (str(existing["order_id"]), False) if existing else (order_id, True)
