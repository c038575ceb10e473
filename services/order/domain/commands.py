"""What callers ask the order service to do: one command object per handler (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

KitchenMove = Literal["bump", "recall", "complete"]


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    outlet_id: str
    items: list[dict[str, Any]]
    payment_method: str
    reward_ids: list[str] = field(default_factory=list)
    # The client's Idempotency-Key: a retry with the same key shows the same order.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str = "cancelled"


@dataclass(frozen=True)
class MoveInKitchen:
    order_id: str
    move: KitchenMove


@dataclass(frozen=True)
class RefundOrder:
    order_id: str
    reason: str
    idempotency_key: str
    amount: int | None = None  # None: what is left to refund
