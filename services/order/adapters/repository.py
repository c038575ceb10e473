"""Where orders live: the Order aggregate on JetStream, and a directory in MongoDB that finds
an order's franchise from its id alone."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases
from bobaku.kernel.errors import NotFound
from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.order.domain.model import Order, apply

# The order directory (platform database, ``order_directory``) is written once per order by
# :meth:`OrderRepository.register` and read by ``_id`` only (a customer's orders are the
# ``c:<customer>`` list of the read models), so it needs no index.


class OrderRepository:
    def __init__(self, store: AggregateStore, databases: Databases) -> None:
        self.store = store
        self.databases = databases

    def subject(self, franchise_id: str, order_id: str) -> str:
        return self.store.subject(franchise_id, order_id)

    async def load(self, franchise_id: str, order_id: str) -> Order:
        stream = await self.store.load(self.subject(franchise_id, order_id))
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
        entry = await self.databases.platform.order_directory.find_one({"_id": order_id})
        if entry is None:
            raise NotFound(f"order {order_id} does not exist", details={"order_id": order_id})
        return entry

    async def register(
        self, order_id: str, franchise_id: str, customer_id: str, outlet_id: str
    ) -> None:
        doc = {
            "_id": order_id,
            "franchise_id": franchise_id,
            "customer_id": customer_id,
            "outlet_id": outlet_id,
        }
        # A duplicate means an earlier attempt of the same request registered it already.
        with contextlib.suppress(DuplicateKeyError):
            await self.databases.platform.order_directory.insert_one(doc)

    async def claim_idempotency_key(self, customer_id: str, key: str, order_id: str) -> str:
        """The order this (customer, key) pair stands for: ours, or an earlier attempt's."""
        keys = self.databases.platform.order_idempotency
        try:
            await keys.insert_one({"_id": f"{customer_id}:{key}", "order_id": order_id})
        except DuplicateKeyError:
            existing = await keys.find_one({"_id": f"{customer_id}:{key}"})
            return str(existing["order_id"]) if existing else order_id
        return order_id
