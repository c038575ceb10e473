"""What the order service's handlers work with (``OrderContext``, built once in
``bootstrap.py``), and how a typed event is recorded on an order."""

from __future__ import annotations

import asyncio
import secrets
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bobaku.kernel.events import Event, new_event
from bobaku.services.order.adapters.repository import OrderRepository
from bobaku.services.order.adapters.upstreams import (
    CustomerService,
    MenuService,
    PaymentService,
    StockService,
)
from bobaku.services.order.domain.events import OrderEvent
from bobaku.services.order.domain.model import Order
from bobaku.services.order.service_layer.views import OrderViews

SOURCE = "order-service"


@dataclass
class OrderContext:
    orders: OrderRepository
    views: OrderViews
    menu: MenuService
    # Where the order's stock is held: the supply service (ingredients by recipe); nothing
    # only in the ordering benchmark's baseline (ORDER_STOCK_SERVICE=none).
    stock: StockService
    customers: CustomerService
    payments: PaymentService
    # One saga driver per order at a time in this process (the request that placed it and
    # the consumer would otherwise both call the same upstream at once). Across processes
    # the idempotent calls and expected-sequence appends keep it correct.
    _driving: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def lock_for(self, order_id: str) -> asyncio.Lock:
        lock = self._driving.get(order_id)
        if lock is None:
            lock = asyncio.Lock()
            self._driving[order_id] = lock
        return lock


def new_order_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"ord-{now:%Y%m%d}-{secrets.token_hex(4)}"


def record(order: Order, event: OrderEvent) -> Event:
    """The envelope of ``event`` about ``order``: every order event names its order, outlet
    and customer, so any consumer can route it."""
    body = {
        "order_id": order.id,
        "outlet_id": order.outlet_id,
        "customer_id": order.customer_id,
        **event.data(),
    }
    return new_event(
        event.TYPE, body, source=SOURCE, tenant=order.franchise_id, version=event.VERSION
    )
