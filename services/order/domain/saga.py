"""The order saga's decisions: given an order's state, what must happen next.

The saga is orchestrated by the order service and persisted in the order's own events, so
after a crash it resumes from whatever the stream says. Each step is an idempotent call to
another service (keyed by the order id) followed by an expected-sequence append; running a
step twice has the effect of running it once.

    reserve stock → redeem rewards (if any) → request payment → [provider] →
    payment completed → commit stock, send to kitchen (being_prepared) → ready → completed
    failure / timeout / cancel → release stock, restore points, void the payment
"""

from __future__ import annotations

from dataclasses import dataclass

from bobaku.services.order.domain.model import Order, Status


@dataclass(frozen=True)
class ReserveStock:
    pass


@dataclass(frozen=True)
class RedeemRewards:
    pass


@dataclass(frozen=True)
class RequestPayment:
    pass


@dataclass(frozen=True)
class SettleFreeOrder:
    """Rewards covered the whole order: nothing to charge."""


@dataclass(frozen=True)
class SendToKitchen:
    pass


@dataclass(frozen=True)
class Compensate:
    release_stock: bool
    restore_points: bool
    void_payment: bool


Step = ReserveStock | RedeemRewards | RequestPayment | SettleFreeOrder | SendToKitchen | Compensate


def next_step(order: Order) -> Step | None:
    if not order.exists:
        return None
    if order.status == Status.PENDING_PAYMENT:
        if order.stock == "none":
            return ReserveStock()
        if order.reward_ids and order.rewards == "none":
            return RedeemRewards()
        if order.payment.status == "none":
            return SettleFreeOrder() if order.total_amount == 0 else RequestPayment()
        return None  # waiting for the provider
    if order.status == Status.PAYMENT_COMPLETED:
        return SendToKitchen()
    if order.status == Status.CANCELLED and not order.compensated:
        return Compensate(
            release_stock=order.stock == "reserved",
            restore_points=order.rewards == "redeemed",
            void_payment=order.payment.status == "pending",
        )
    return None
