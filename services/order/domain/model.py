"""The Order aggregate: its state is the fold of its events.

Statuses: pending_payment → payment_completed → being_prepared → ready → completed, plus
cancelled and refunded. Besides the status the order remembers where its saga stands:
whether stock is reserved, whether rewards were redeemed, the payment intent, and whether a
cancelled order's reservations have been given back (``compensated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bobaku.kernel.errors import Conflict
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import utc_iso


class Status(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAYMENT_COMPLETED = "payment_completed"
    BEING_PREPARED = "being_prepared"
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


TERMINAL = frozenset({Status.COMPLETED, Status.CANCELLED, Status.REFUNDED})
PAID = frozenset({Status.PAYMENT_COMPLETED, Status.BEING_PREPARED, Status.READY, Status.COMPLETED})


class InvalidTransition(Conflict):
    code = "invalid_transition"


@dataclass
class Payment:
    intent_id: str | None = None
    provider: str | None = None
    amount: int = 0
    action: dict[str, Any] | None = None
    expires_at: str | None = None
    transaction_id: str | None = None
    paid_at: str | None = None
    status: str = "none"  # none | pending | completed | failed
    failure_reason: str | None = None


@dataclass
class Order:
    id: str
    franchise_id: str = ""
    outlet_id: str = ""
    customer_id: str = ""
    outlet: dict[str, Any] = field(default_factory=dict)
    payment_method: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    subtotal_amount: int = 0
    discount_amount: int = 0
    total_amount: int = 0
    reward_ids: list[str] = field(default_factory=list)
    applied_rewards: list[dict[str, Any]] = field(default_factory=list)
    created_at: str | None = None
    status: Status | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    stock: str = "none"  # none | reserved | rejected | released | committed
    rewards: str = "none"  # none | redeemed | restored
    points_redeemed: int = 0
    payment: Payment = field(default_factory=Payment)
    estimated_completion: str | None = None
    refunded_amount: int = 0
    refund_ids: list[str] = field(default_factory=list)
    cancel_reason: str | None = None
    compensated: bool = False
    version: int = 0

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def points_earned(self) -> int:
        """1 point per full Rp1,000 paid, less what refunds took back."""
        if self.payment.status != "completed":
            return 0
        return max(self.total_amount - self.refunded_amount, 0) // 1000

    def require(self, *allowed: Status, action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"cannot {action} an order that is {self.status}",
                details={
                    "order_id": self.id,
                    "status": str(self.status),
                    "allowed": [str(s) for s in allowed],
                },
            )


def _moved(order: Order, status: Status, event: Event) -> None:
    order.status = status
    order.history.append({"status": str(status), "timestamp": _iso(event.timestamp)})


def _iso(ts: datetime) -> str:
    return utc_iso(ts)


def apply(order: Order, event: Event) -> Order:
    """Fold one event into the order. Unknown event types are ignored (forward compatible)."""
    d = event.data
    kind = event.type
    if kind == "order.created":
        order.franchise_id = d["franchise_id"]
        order.outlet_id = d["outlet_id"]
        order.customer_id = d["user_id"]
        order.outlet = d.get("outlet", {})
        order.payment_method = d["payment_method"]
        order.lines = d.get("lines", [])
        order.subtotal_amount = d.get("subtotal_amount", d["total_amount"])
        order.discount_amount = d.get("discount_amount", 0)
        order.total_amount = d["total_amount"]
        order.reward_ids = d.get("reward_ids", [])
        order.created_at = _iso(event.timestamp)
        _moved(order, Status.PENDING_PAYMENT, event)
    elif kind == "order.stock_reserved":
        order.stock = "reserved"
    elif kind == "order.stock_rejected":
        order.stock = "rejected"
    elif kind == "order.rewards_redeemed":
        order.rewards = "redeemed"
        order.points_redeemed = d["points"]
        order.discount_amount = d["discount_amount"]
        order.applied_rewards = d.get("rewards", [])
        order.total_amount = max(order.subtotal_amount - order.discount_amount, 0)
    elif kind == "order.payment_requested":
        order.payment = Payment(
            intent_id=d["intent_id"],
            provider=d["provider"],
            amount=d["amount"],
            action=d.get("action"),
            expires_at=d.get("expires_at"),
            transaction_id=d.get("transaction_id"),
            status="pending",
        )
    elif kind == "order.payment_completed":
        order.payment.status = "completed"
        order.payment.transaction_id = d.get("transaction_id")
        order.payment.paid_at = d.get("paid_at")
        order.payment.intent_id = d.get("intent_id") or order.payment.intent_id
        order.payment.amount = d["amount"]
        _moved(order, Status.PAYMENT_COMPLETED, event)
    elif kind == "order.payment_failed":
        order.payment.status = "failed"
        order.payment.failure_reason = d.get("reason")
    elif kind == "order.being_prepared":
        order.stock = "committed" if order.stock == "reserved" else order.stock
        order.estimated_completion = d.get("estimated_completion")
        _moved(order, Status.BEING_PREPARED, event)
    elif kind == "order.ready":
        _moved(order, Status.READY, event)
    elif kind == "order.recalled":
        _moved(order, Status.BEING_PREPARED, event)
    elif kind == "order.completed":
        _moved(order, Status.COMPLETED, event)
    elif kind == "order.cancelled":
        order.cancel_reason = d.get("reason")
        _moved(order, Status.CANCELLED, event)
    elif kind == "order.compensated":
        order.compensated = True
        if d.get("stock_released"):
            order.stock = "released"
        if d.get("points_restored"):
            order.rewards = "restored"
    elif kind == "order.refunded":
        order.refund_ids.append(d["refund_id"])
        order.refunded_amount = d["total_refunded"]
        if d.get("full"):
            _moved(order, Status.REFUNDED, event)
    return order


def fold(order_id: str, events: list[Event]) -> Order:
    order = Order(id=order_id)
    for event in events:
        apply(order, event)
    return order


def view(order: Order) -> dict[str, Any]:
    """The order as the order service shows it (the gateway adds the customer)."""
    return {
        "id": order.id,
        "franchise_id": order.franchise_id,
        "outlet_id": order.outlet_id,
        "customer_id": order.customer_id,
        "created_at": order.created_at,
        "outlet": order.outlet,
        "items": [
            {
                "menu_id": line["menu_id"],
                "name": line["name"],
                "price": line["unit_price"],
                "base_price": line.get("base_price", line["unit_price"]),
                "quantity": line["quantity"],
                "customizations": line["customizations"],
                "subtotal": line["subtotal"],
                "station": line.get("station"),
            }
            for line in order.lines
        ],
        "subtotal_amount": order.subtotal_amount,
        "discount_amount": order.discount_amount,
        "total_amount": order.total_amount,
        "payment": {
            "method": order.payment_method,
            "status": order.payment.status if order.payment.status != "none" else "pending",
            "intent_id": order.payment.intent_id,
            "transaction_id": order.payment.transaction_id,
            "paid_at": order.payment.paid_at,
            "action": order.payment.action if order.status == Status.PENDING_PAYMENT else None,
            "expires_at": order.payment.expires_at,
            "refunded_amount": order.refunded_amount,
        },
        "status": {
            "current": str(order.status),
            "history": order.history,
            "estimated_completion": order.estimated_completion,
            "cancel_reason": order.cancel_reason,
        },
        "loyalty": {
            "points_earned": order.points_earned,
            "points_redeemed": order.points_redeemed,
            "applied_rewards": order.applied_rewards,
        },
        "version": order.version,
    }
