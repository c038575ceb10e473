"""In-memory fakes of the order service's own repositories and upstream adapters, so the
handlers and the saga run without servers (the integration tests stay the proof)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bobaku.kernel.errors import ConcurrencyConflict, NotFound
from bobaku.kernel.events import Event
from bobaku.services.order.domain.errors import StockUnavailable, UpstreamRefusal
from bobaku.services.order.domain.model import Order, Status, apply
from bobaku.services.order.service_layer.context import OrderContext
from bobaku.services.order.service_layer.views import read_model

FRANCHISE = "fr-jakarta"
OUTLET = "outlet-01"


class InMemoryOrders:
    """OrderRepository's contract: streams with expected-sequence appends, a directory."""

    def __init__(self) -> None:
        self.streams: dict[str, list[Event]] = {}
        self.directory: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}

    def subject(self, franchise_id: str, order_id: str) -> str:
        return f"es.order.{franchise_id}.{order_id}"

    async def load(
        self, franchise_id: str, order_id: str, *, reaches: tuple[int, str] | None = None
    ) -> Order:
        # Always the stored state: ``reaches`` asks for at least that message, never less.
        order = Order(id=order_id)
        events = self.streams.get(self.subject(franchise_id, order_id), [])
        for event in events:
            apply(order, event)
        order.version = len(events)
        return order

    async def append(self, order: Order, events: list[Event]) -> Order:
        subject = self.subject(order.franchise_id or events[0].tenant or "", order.id)
        stream = self.streams.setdefault(subject, [])
        if len(stream) != order.version:
            raise ConcurrencyConflict(subject, order.version, len(stream))
        stream.extend(events)
        for event in events:
            apply(order, event)
        order.version = len(stream)
        return order

    async def locate(self, order_id: str) -> dict[str, Any]:
        if order_id not in self.directory:
            raise NotFound(f"order {order_id} does not exist", details={"order_id": order_id})
        return self.directory[order_id]

    async def register(
        self, order_id: str, franchise_id: str, customer_id: str, outlet_id: str
    ) -> None:
        self.directory.setdefault(
            order_id,
            {"franchise_id": franchise_id, "customer_id": customer_id, "outlet_id": outlet_id},
        )

    async def claim_idempotency_key(
        self, customer_id: str, key: str, order_id: str
    ) -> tuple[str, bool]:
        claimed = self.keys.setdefault(f"{customer_id}:{key}", order_id)
        return claimed, claimed == order_id

    def types(self, order_id: str) -> list[str]:
        return [e.type for e in self.streams.get(self.subject(FRANCHISE, order_id), [])]


class InMemoryViews:
    """OrderViews' contract: the read model kept per order."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def project(self, order: Order) -> bool:
        self.docs[order.id] = read_model(order)
        return True

    async def queue_length(self, franchise_id: str, outlet_id: str) -> int:
        return sum(
            1
            for d in self.docs.values()
            if d["outlet_id"] == outlet_id and d["status"] == str(Status.BEING_PREPARED)
        )


def quote_line(menu_id: str = "m001", quantity: int = 2, price: int = 41000) -> dict[str, Any]:
    return {
        "menu_id": menu_id,
        "name": "Brown Sugar Boba Milk Tea",
        "unit_price": price,
        "base_price": 28000,
        "quantity": quantity,
        "customizations": {
            "sugar_level": 50,
            "ice_level": 30,
            "toppings": [{"id": "t001", "name": "Pearl", "price": 6000}],
        },
        "subtotal": price * quantity,
        "station": "tea_bar",
    }


@dataclass
class FakeMenu:
    lines: list[dict[str, Any]] = field(default_factory=lambda: [quote_line()])
    refuse_stock: StockUnavailable | None = None
    quotes: int = 0
    reserved: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    async def franchise_of(self, outlet_id: str) -> str:
        return FRANCHISE

    async def quote(self, outlet_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        self.quotes += 1
        outlet = {"id": outlet_id, "franchise_id": FRANCHISE, "name": "BobaKu 01"}
        return {
            "outlet": outlet,
            "lines": self.lines,
            "total": sum(int(line["subtotal"]) for line in self.lines),
        }

    async def reserve(self, order_id: str, outlet_id: str, items: list[dict[str, Any]]) -> None:
        if self.refuse_stock is not None:
            raise self.refuse_stock
        self.reserved.append(order_id)

    async def commit(self, order_id: str) -> None:
        self.committed.append(order_id)

    async def release(self, order_id: str) -> None:
        self.released.append(order_id)


@dataclass
class FakeCustomers:
    refuse: UpstreamRefusal | None = None
    discount: int = 0
    restored: list[str] = field(default_factory=list)

    async def redeem(
        self, customer_id: str, order_id: str, reward_ids: list[str]
    ) -> dict[str, Any]:
        if self.refuse is not None:
            raise self.refuse
        return {"points": 100, "discount_amount": self.discount, "rewards": reward_ids}

    async def release(self, customer_id: str, order_id: str) -> None:
        self.restored.append(order_id)


@dataclass
class FakePayments:
    intents: list[dict[str, Any]] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    refunds: list[tuple[str, int, str]] = field(default_factory=list)

    async def create_intent(self, body: dict[str, Any]) -> dict[str, Any]:
        self.intents.append(body)
        return {
            "intent_id": f"pi-{body['order_id']}",
            "provider": body["provider"],
            "amount": body["amount"],
            "action": {"type": "deeplink", "url": "gojek://pay"},
            "expires_at": "2026-12-01T00:15:00Z",
        }

    async def void(self, intent_id: str) -> str:
        self.voided.append(intent_id)
        return "voided"

    async def refund(
        self, intent_id: str, amount: int, reason: str, key: str, token: str | None = None
    ) -> dict[str, Any]:
        self.refunds.append((intent_id, amount, key))
        return {"refund_id": f"rf-{key}", "amount": amount, "status": "pending"}


@dataclass
class World:
    ctx: OrderContext
    orders: InMemoryOrders
    views: InMemoryViews
    menu: FakeMenu
    customers: FakeCustomers
    payments: FakePayments


def world(**menu: Any) -> World:
    orders, views = InMemoryOrders(), InMemoryViews()
    fake_menu, customers, payments = FakeMenu(**menu), FakeCustomers(), FakePayments()
    ctx = OrderContext(
        orders=orders,  # type: ignore[arg-type]
        views=views,  # type: ignore[arg-type]
        menu=fake_menu,  # type: ignore[arg-type]
        # The fake menu also holds the stock (the real saga holds it in supply).
        stock=fake_menu,  # type: ignore[arg-type]
        customers=customers,  # type: ignore[arg-type]
        payments=payments,  # type: ignore[arg-type]
    )
    return World(ctx, orders, views, fake_menu, customers, payments)
