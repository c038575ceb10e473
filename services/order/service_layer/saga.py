"""The saga driver: take every step :func:`~bobaku.services.order.domain.saga.next_step`
decides, each an idempotent upstream call plus an expected-sequence append, dispatched from
:data:`STEPS`. Refusals arrive as domain errors (``StockUnavailable``,
``RedemptionRefused``…) from the adapters, never as HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import parse_utc, utc_iso
from bobaku.kernel.telemetry import saga_step
from bobaku.services.order.domain.errors import RedemptionRefused, StockUnavailable
from bobaku.services.order.domain.estimate import estimated_completion
from bobaku.services.order.domain.events import (
    BeingPrepared,
    Cancelled,
    Compensated,
    PaymentCompleted,
    PaymentFailed,
    PaymentRequested,
    Refunded,
    RewardsRedeemed,
    StockRejected,
    StockReserved,
)
from bobaku.services.order.domain.kitchen import ticket_lines
from bobaku.services.order.domain.model import Order, Status
from bobaku.services.order.domain.saga import (
    Compensate,
    RedeemRewards,
    RequestPayment,
    ReserveStock,
    SendToKitchen,
    SettleFreeOrder,
    Step,
    next_step,
)
from bobaku.services.order.service_layer.context import OrderContext, record

log = logging.getLogger(__name__)

MAX_STEPS = 12


async def drive(
    ctx: OrderContext, franchise_id: str, order_id: str, *, reaches: tuple[int, str] | None = None
) -> Order:
    """Take every saga step the order is ready for. Safe to run concurrently and repeatedly.

    ``reaches``: the sequence and an event id of the message that calls for it (the
    consumer's delivery, or the caller's own append). The order as remembered is enough
    when it holds that message: a
    step decided on a state someone has moved on from fails its expected-sequence append
    and is decided again on a fresh load, and a newer event drives the saga by itself.
    """
    async with ctx.lock_for(order_id):
        order = await ctx.orders.load(franchise_id, order_id, reaches=reaches)
        for _ in range(MAX_STEPS):
            step = next_step(order)
            if step is None:
                return order
            try:
                with saga_step("order", type(step).__name__, ConcurrencyConflict):
                    order = await run_step(ctx, order, step)
            except ConcurrencyConflict:
                order = await ctx.orders.load(franchise_id, order_id)
        return order


async def run_step(ctx: OrderContext, order: Order, step: Step) -> Order:
    log.info("saga step", extra={"order_id": order.id, "step": type(step).__name__})
    return await STEPS[type(step)](ctx, order, step)


async def reserve_stock(ctx: OrderContext, order: Order, _: Step) -> Order:
    items = [
        {
            "menu_id": line["menu_id"],
            "quantity": line["quantity"],
            "customizations": {
                "sugar_level": line["customizations"].get("sugar_level"),
                "ice_level": line["customizations"].get("ice_level"),
                "toppings": [t["id"] for t in line["customizations"].get("toppings", [])],
            },
        }
        for line in order.lines
    ]
    try:
        await ctx.stock.reserve(order.id, order.outlet_id, items)
    except StockUnavailable as refused:
        rejected = record(order, StockRejected(reason=refused.reason, items=refused.items))
        cancelled = record(order, Cancelled(reason=refused.reason, by="saga"))
        return await ctx.orders.append(order, [rejected, cancelled])
    return await ctx.orders.append(order, [record(order, StockReserved())])


async def redeem_rewards(ctx: OrderContext, order: Order, _: Step) -> Order:
    try:
        redeemed = await ctx.customers.redeem(order.customer_id, order.id, order.reward_ids)
    except RedemptionRefused as refused:
        cancelled = record(order, Cancelled(reason=refused.reason, by="saga"))
        return await ctx.orders.append(order, [cancelled])
    event = RewardsRedeemed(
        points=redeemed["points"],
        discount_amount=min(redeemed["discount_amount"], order.subtotal_amount),
        rewards=redeemed.get("rewards", []),
    )
    return await ctx.orders.append(order, [record(order, event)])


async def request_payment(ctx: OrderContext, order: Order, _: Step) -> Order:
    intent = await ctx.payments.create_intent(
        {
            "order_id": order.id,
            "franchise_id": order.franchise_id,
            "outlet_id": order.outlet_id,
            "customer_id": order.customer_id,
            "provider": order.payment_method,
            "amount": order.total_amount,
        }
    )
    event = PaymentRequested(
        intent_id=intent["intent_id"],
        provider=intent["provider"],
        amount=intent["amount"],
        action=intent.get("action"),
        expires_at=intent.get("expires_at"),
        transaction_id=intent.get("transaction_id"),
    )
    return await ctx.orders.append(order, [record(order, event)])


async def settle_free_order(ctx: OrderContext, order: Order, _: Step) -> Order:
    paid = PaymentCompleted(
        intent_id="free",
        transaction_id=f"free-{order.id}",
        amount=0,
        paid_at=utc_iso(datetime.now(UTC)),
    )
    return await ctx.orders.append(order, [record(order, paid)])


async def send_to_kitchen(ctx: OrderContext, order: Order, _: Step) -> Order:
    if order.stock == "reserved":
        await ctx.stock.commit(order.id)
    ahead = await ctx.views.queue_length(order.franchise_id, order.outlet_id)
    paid_at = parse_utc(order.payment.paid_at) if order.payment.paid_at else datetime.now(UTC)
    drinks = sum(int(line["quantity"]) for line in order.lines)
    eta = estimated_completion(max(paid_at, datetime.now(UTC)), drinks, ahead)
    event = BeingPrepared(estimated_completion=utc_iso(eta), lines=ticket_lines(order))
    return await ctx.orders.append(order, [record(order, event)])


async def compensate(ctx: OrderContext, order: Order, step: Step) -> Order:
    assert isinstance(step, Compensate)
    voided = False
    if step.release_stock:
        await ctx.stock.release(order.id)
    if step.restore_points:
        await ctx.customers.release(order.customer_id, order.id)
    if step.void_payment and order.payment.intent_id:
        outcome = await ctx.payments.void(order.payment.intent_id)
        voided = outcome == "voided"
        if outcome == "already_captured":
            # The customer paid just as the order was cancelled: give the money back.
            await ctx.payments.refund(
                order.payment.intent_id,
                order.payment.amount,
                "order cancelled",
                f"cancel-{order.id}",
            )
    event = Compensated(
        stock_released=step.release_stock,
        points_restored=step.restore_points,
        payment_voided=voided,
    )
    return await ctx.orders.append(order, [record(order, event)])


StepHandler = Callable[[OrderContext, Order, Any], Awaitable[Order]]

# What runs each step the domain decides; a new step is one row here.
STEPS: dict[type[Step], StepHandler] = {
    ReserveStock: reserve_stock,
    RedeemRewards: redeem_rewards,
    RequestPayment: request_payment,
    SettleFreeOrder: settle_free_order,
    SendToKitchen: send_to_kitchen,
    Compensate: compensate,
}


# ---------------------------------------------------------------- payment outcomes


async def on_payment_event(ctx: OrderContext, event: Event) -> None:
    """Turn the payment service's facts into the order's, then let the saga move on."""
    data = event.data
    order_id = data.get("order_id")
    franchise_id = event.tenant
    if not order_id or not franchise_id:
        return
    order = await ctx.orders.load(franchise_id, order_id)
    if not order.exists:
        return
    follow_up: list[Event] = []
    kind = event.type
    # The provider may call back before the request that created the intent has recorded
    # it on the order; the intent is the order's either way (one intent per order).
    same_intent = order.payment.intent_id in (None, data.get("intent_id"))
    if data.get("late"):
        return  # captured after expiry or void: the payment service refunds it by itself
    if kind == "payment.captured" and same_intent and order.status == Status.PENDING_PAYMENT:
        paid = PaymentCompleted(
            intent_id=data["intent_id"],
            transaction_id=data.get("transaction_id"),
            amount=data.get("amount", order.total_amount),
            paid_at=data.get("paid_at") or utc_iso(event.timestamp),
        )
        follow_up = [record(order, paid)]
    elif (
        kind in ("payment.failed", "payment.expired")
        and same_intent
        and order.status == Status.PENDING_PAYMENT
    ):
        reason = "payment_expired" if kind == "payment.expired" else "payment_failed"
        follow_up = [
            record(order, PaymentFailed(reason=reason)),
            record(order, Cancelled(reason=reason, by="saga")),
        ]
    elif kind == "payment.refunded" and data.get("refund_id") not in order.refund_ids:
        total = int(data.get("total_refunded", order.refunded_amount + int(data.get("amount", 0))))
        refunded = Refunded(
            refund_id=data["refund_id"],
            amount=int(data.get("amount", 0)),
            total_refunded=total,
            full=order.payment.amount > 0 and total >= order.payment.amount,
        )
        follow_up = [record(order, refunded)]
    if not follow_up:
        await drive(ctx, franchise_id, order_id)
        return
    # A conflict propagates: the event is redelivered and decided again on fresh state.
    await ctx.orders.append(order, follow_up)
    await drive(ctx, franchise_id, order_id, reaches=(order.version, follow_up[0].id))
