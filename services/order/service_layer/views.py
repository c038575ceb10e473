"""The order service's read model: the per-franchise ``orders`` collection.

One projector (:meth:`OrderViews.project`) writes it from the Order aggregate; the queries
(history, an outlet's page, the kitchen queue, the queue length) read it. Its indexes are
declared here, beside the writer, and the operator creates exactly these in a franchise
database it makes (``bobaku.operator.plan.FRANCHISE_INDEXES``).
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.db import Databases, IndexSpec
from bobaku.services.order.domain import kitchen
from bobaku.services.order.domain.model import Order, Status, view

ORDERS = "orders"

INDEXES = (
    IndexSpec("franchise", ORDERS, [("customer_id", 1), ("created_at", -1)], name="by_customer"),
    IndexSpec(
        "franchise",
        ORDERS,
        [("outlet_id", 1), ("status", 1), ("created_at", 1)],
        name="by_outlet_status",
    ),
)

KITCHEN_STATUSES = (str(Status.BEING_PREPARED), str(Status.READY))


def read_model(order: Order) -> dict[str, Any]:
    """The document :meth:`OrderViews.project` stores for ``order`` (``_id`` = order id)."""
    doc = view(order)
    doc.update(
        status=str(order.status),
        status_detail=doc.pop("status"),
        paid_at=order.payment.paid_at,
        stations=sorted({line.get("station") or "" for line in order.lines} - {""}),
        ticket=kitchen.ticket(order),
    )
    return {"_id": order.id, **doc}


class OrderViews:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def project(self, order: Order) -> bool:
        """Store the order's current state unless the read model is already ahead."""
        if not order.exists or not order.franchise_id:
            return False
        db = await self.databases.franchise(order.franchise_id)
        current = await db[ORDERS].find_one({"_id": order.id}, {"version": 1})
        if current is not None and current.get("version", 0) >= order.version:
            return False  # an older event arriving late: the read model is already ahead
        await db[ORDERS].replace_one({"_id": order.id}, read_model(order), upsert=True)
        return True

    async def history(
        self, franchise_ids: list[str], customer_id: str, status: str | None
    ) -> list[dict[str, Any]]:
        """A customer's orders in the given franchises, newest first."""
        items: list[dict[str, Any]] = []
        for franchise_id in franchise_ids:
            db = await self.databases.franchise(franchise_id)
            query: dict[str, Any] = {"customer_id": customer_id}
            if status:
                query["status"] = status
            items.extend([doc async for doc in db[ORDERS].find(query, {"_id": 0})])
        return sorted(items, key=lambda o: o["created_at"] or "", reverse=True)

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
        db = await self.databases.franchise(franchise_id)
        query: dict[str, Any] = {"outlet_id": outlet_id}
        if status:
            query["status"] = status
        if date:
            # ISO-8601 strings sort as times, so a day is a string range.
            query["created_at"] = {"$gte": date, "$lt": f"{date}T99"}
        cursor = (
            db[ORDERS].find(query, {"_id": 0}).sort("created_at", -1).skip(start).limit(limit + 1)
        )
        return [doc async for doc in cursor]

    async def kitchen_queue(
        self, franchise_id: str, outlet_id: str, station: str | None = None
    ) -> list[dict[str, Any]]:
        """Tickets being prepared or ready, oldest paid first."""
        db = await self.databases.franchise(franchise_id)
        query = {"outlet_id": outlet_id, "status": {"$in": list(KITCHEN_STATUSES)}}
        tickets = [doc async for doc in db[ORDERS].find(query, {"_id": 0})]
        if station:
            tickets = [t for t in tickets if station in t.get("stations", [])]
        tickets.sort(key=lambda t: t.get("paid_at") or t.get("created_at") or "")
        return tickets

    async def queue_length(self, franchise_id: str, outlet_id: str) -> int:
        """How many orders of the outlet are being prepared (ahead of a new one)."""
        db = await self.databases.franchise(franchise_id)
        return await db[ORDERS].count_documents(
            {"outlet_id": outlet_id, "status": str(Status.BEING_PREPARED)}
        )
