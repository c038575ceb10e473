"""The Order aggregate's events, typed: what each one says beyond the order it is about.

Each class is one event type (``TYPE``) of ``kernel/events/schemas/order.*``; its fields are
the event's ``data`` besides the ids every order event carries (order, outlet, customer),
which the service layer adds when it records the event on an order
(``service_layer.context.record``). No I/O here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class OrderEvent:
    TYPE: ClassVar[str]
    # The schema version the event is published under (``kernel/events/schemas/<TYPE>/``):
    # a field added to a class bumps its minor version.
    VERSION: ClassVar[str] = "1.0"

    def data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderCreated(OrderEvent):
    TYPE = "order.created"
    user_id: str
    franchise_id: str
    outlet: dict[str, Any]
    items: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    subtotal_amount: int
    discount_amount: int
    total_amount: int
    reward_ids: list[str]
    payment_method: str
    status: str = "pending_payment"


@dataclass(frozen=True)
class StockReserved(OrderEvent):
    TYPE = "order.stock_reserved"


@dataclass(frozen=True)
class StockRejected(OrderEvent):
    TYPE = "order.stock_rejected"
    reason: str
    items: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class RewardsRedeemed(OrderEvent):
    TYPE = "order.rewards_redeemed"
    points: int
    discount_amount: int
    rewards: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class PaymentRequested(OrderEvent):
    TYPE = "order.payment_requested"
    intent_id: str
    provider: str
    amount: int
    action: dict[str, Any] | None = None
    expires_at: str | None = None
    transaction_id: str | None = None


@dataclass(frozen=True)
class PaymentCompleted(OrderEvent):
    TYPE = "order.payment_completed"
    intent_id: str
    transaction_id: str | None
    amount: int
    paid_at: str


@dataclass(frozen=True)
class PaymentFailed(OrderEvent):
    TYPE = "order.payment_failed"
    reason: str


@dataclass(frozen=True)
class BeingPrepared(OrderEvent):
    TYPE = "order.being_prepared"
    VERSION = "1.1"
    estimated_completion: str
    # What the kitchen makes: ``domain.kitchen.ticket_line`` of every line (v1.1).
    lines: list[dict[str, Any]]


@dataclass(frozen=True)
class Ready(OrderEvent):
    TYPE = "order.ready"
    by: str


@dataclass(frozen=True)
class Recalled(OrderEvent):
    TYPE = "order.recalled"
    by: str


@dataclass(frozen=True)
class Completed(OrderEvent):
    TYPE = "order.completed"
    by: str


@dataclass(frozen=True)
class Cancelled(OrderEvent):
    TYPE = "order.cancelled"
    reason: str
    by: str


@dataclass(frozen=True)
class Compensated(OrderEvent):
    TYPE = "order.compensated"
    stock_released: bool
    points_restored: bool
    payment_voided: bool


@dataclass(frozen=True)
class Refunded(OrderEvent):
    TYPE = "order.refunded"
    refund_id: str
    amount: int
    total_refunded: int
    full: bool
