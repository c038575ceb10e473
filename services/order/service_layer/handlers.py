"""The order service's command handlers, one per command of ``domain/commands.py``, and
the queries with their access rules. The saga they set going is ``saga.py``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.auth import OUTLET_MANAGERS, OUTLET_STAFF, Principal, Role
from bobaku.kernel.errors import BobakuError, ConcurrencyConflict, Conflict, NotFound
from bobaku.kernel.events import Event
from bobaku.services.order.domain.commands import (
    CancelOrder,
    KitchenMove,
    MoveInKitchen,
    PlaceOrder,
    RefundOrder,
)
from bobaku.services.order.domain.events import (
    Cancelled,
    Completed,
    OrderCreated,
    OrderEvent,
    Ready,
    Recalled,
)
from bobaku.services.order.domain.model import Order, Status
from bobaku.services.order.service_layer.context import OrderContext, new_order_id, record
from bobaku.services.order.service_layer.saga import drive

PAID_STATUSES = (Status.PAYMENT_COMPLETED, Status.BEING_PREPARED, Status.READY, Status.COMPLETED)


# ---------------------------------------------------------------- queries / access


async def find_order(ctx: OrderContext, order_id: str) -> Order:
    entry = await ctx.orders.locate(order_id)
    order = await ctx.orders.load(entry["franchise_id"], order_id)
    if not order.exists:  # registered, but the creating request died before its first event
        raise NotFound(f"order {order_id} does not exist", details={"order_id": order_id})
    return order


def authorize_view(who: Principal, order: Order) -> None:
    """Its customer, staff of its outlet, the franchise's owner, HQ."""
    if who.subject == order.customer_id:
        return
    if who.has_role(*OUTLET_STAFF):
        who.require_outlet(order.franchise_id, order.outlet_id)
        return
    who.require_user(order.customer_id, "this order belongs to someone else", order_id=order.id)


# ---------------------------------------------------------------- commands


async def place_order(ctx: OrderContext, who: Principal, cmd: PlaceOrder) -> Order:
    who.require_role(Role.CUSTOMER)
    order_id = new_order_id()
    if cmd.idempotency_key:
        order_id, fresh = await ctx.orders.claim_idempotency_key(
            cmd.customer_id, cmd.idempotency_key, order_id
        )
        entry = None
        if not fresh:  # a retry: the first attempt may have placed the order already
            with contextlib.suppress(BobakuError):
                entry = await ctx.orders.locate(order_id)
        if entry is not None:
            existing = await ctx.orders.load(entry["franchise_id"], order_id)
            if existing.exists:
                return existing  # a retry of a request that already placed this order
    quote = await ctx.menu.quote(cmd.outlet_id, cmd.items)
    franchise_id = quote["outlet"]["franchise_id"]
    await ctx.orders.register(order_id, franchise_id, cmd.customer_id, cmd.outlet_id)
    order = Order(
        id=order_id, franchise_id=franchise_id, outlet_id=cmd.outlet_id, customer_id=cmd.customer_id
    )
    created = OrderCreated(
        user_id=cmd.customer_id,
        franchise_id=franchise_id,
        outlet={k: quote["outlet"].get(k) for k in ("id", "name", "address", "phone")},
        items=[
            {
                "menu_id": line["menu_id"],
                "quantity": line["quantity"],
                "customizations": {
                    "sugar_level": line["customizations"].get("sugar_level"),
                    "ice_level": line["customizations"].get("ice_level"),
                    "toppings": [t["id"] for t in line["customizations"].get("toppings", [])],
                },
            }
            for line in quote["lines"]
        ],
        lines=quote["lines"],
        subtotal_amount=quote["total"],
        discount_amount=0,
        total_amount=quote["total"],
        reward_ids=cmd.reward_ids,
        payment_method=cmd.payment_method,
    )
    # A conflict means the same idempotent request won the race: show its order.
    placed = record(order, created)
    with contextlib.suppress(ConcurrencyConflict):
        await ctx.orders.append(order, [placed])
    return await drive(ctx, franchise_id, order_id, reaches=(order.version, placed.id))


async def cancel_order(ctx: OrderContext, who: Principal, cmd: CancelOrder) -> Order:
    order = await find_order(ctx, cmd.order_id)
    authorize_view(who, order)
    order.require(Status.PENDING_PAYMENT, action="cancel")
    await _append(ctx, order, [Cancelled(reason=cmd.reason, by=who.subject)])
    return await drive(ctx, order.franchise_id, order.id)


@dataclass(frozen=True)
class KitchenStep:
    """A barista's move: allowed from one status, recorded as one event."""

    from_status: Status
    event: type[Ready | Recalled | Completed]
    action: str


KITCHEN_STEPS: dict[KitchenMove, KitchenStep] = {
    "bump": KitchenStep(Status.BEING_PREPARED, Ready, "mark ready"),
    "recall": KitchenStep(Status.READY, Recalled, "recall"),
    "complete": KitchenStep(Status.READY, Completed, "hand over"),
}


async def kitchen_step(ctx: OrderContext, who: Principal, cmd: MoveInKitchen) -> Order:
    """Bump, recall or hand over an order (staff of its outlet)."""
    move = KITCHEN_STEPS[cmd.move]
    order = await _staff_order(ctx, who, cmd.order_id)
    order.require(move.from_status, action=move.action)
    return await _append(ctx, order, [move.event(by=who.subject)])


async def refund_order(
    ctx: OrderContext, who: Principal, token: str, cmd: RefundOrder
) -> dict[str, Any]:
    """Ask the payment service to refund; the order records it when the refund event arrives."""
    order = await find_order(ctx, cmd.order_id)
    who.require_role(*OUTLET_MANAGERS)
    who.require_outlet(order.franchise_id, order.outlet_id)
    order.require(*PAID_STATUSES, action="refund")
    if order.payment.intent_id is None or order.payment.status != "completed":
        raise Conflict(
            "this order has no captured payment to refund", details={"order_id": cmd.order_id}
        )
    remaining = order.payment.amount - order.refunded_amount
    amount = cmd.amount if cmd.amount is not None else remaining
    return await ctx.payments.refund(
        order.payment.intent_id, amount, cmd.reason, cmd.idempotency_key, token
    )


async def _staff_order(ctx: OrderContext, who: Principal, order_id: str) -> Order:
    order = await find_order(ctx, order_id)
    who.require_role(*OUTLET_STAFF)
    who.require_outlet(order.franchise_id, order.outlet_id)
    return order


async def _append(ctx: OrderContext, order: Order, events: Sequence[OrderEvent]) -> Order:
    recorded: list[Event] = [record(order, e) for e in events]
    try:
        return await ctx.orders.append(order, recorded)
    except ConcurrencyConflict as exc:
        raise Conflict(
            "the order changed while you were acting on it; reload and try again",
            details={"order_id": order.id},
        ) from exc
