"""Command handlers of the order service, and the saga steps they drive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bobaku.kernel.auth import Principal, Role
from bobaku.kernel.errors import (
    BobakuError,
    ConcurrencyConflict,
    Conflict,
    Forbidden,
    NotFound,
)
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.services.order.adapters.repository import OrderRepository
from bobaku.services.order.adapters.upstreams import (
    CustomerService,
    MenuService,
    PaymentService,
    StockService,
)
from bobaku.services.order.domain.estimate import estimated_completion
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
from bobaku.services.order.service_layer.views import OrderViews

log = logging.getLogger(__name__)

SOURCE = "order-service"
STAFF_ROLES = (Role.STAFF, Role.OUTLET_MANAGER, Role.FRANCHISE_OWNER, Role.HQ_ADMIN)
REFUND_ROLES = (Role.OUTLET_MANAGER, Role.FRANCHISE_OWNER, Role.HQ_ADMIN)
MAX_STEPS = 12


@dataclass
class OrderContext:
    """What the handlers work with; built once in bootstrap."""

    orders: OrderRepository
    views: OrderViews
    menu: MenuService
    # Where the order's stock is held: the supply service (ingredients by recipe), or the
    # menu's whole-item counts (ORDER_STOCK_SERVICE=menu).
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


def order_event(kind: str, order: Order, **data: Any) -> Event:
    """Every order event names its order, outlet and customer, so any consumer can route it."""
    body = {
        "order_id": order.id,
        "outlet_id": order.outlet_id,
        "customer_id": order.customer_id,
        **data,
    }
    return new_event(kind, body, source=SOURCE, tenant=order.franchise_id)


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
    if who.has_role(*STAFF_ROLES):
        who.require_outlet(order.franchise_id, order.outlet_id)
        return
    raise Forbidden("this order belongs to someone else", details={"order_id": order.id})


# ---------------------------------------------------------------- commands


async def place_order(
    ctx: OrderContext,
    who: Principal,
    outlet_id: str,
    items: list[dict[str, Any]],
    payment_method: str,
    reward_ids: list[str],
    idempotency_key: str | None,
) -> Order:
    who.require_role(Role.CUSTOMER)
    order_id = new_order_id()
    if idempotency_key:
        order_id = await ctx.orders.claim_idempotency_key(who.subject, idempotency_key, order_id)
        try:
            entry = await ctx.orders.locate(order_id)
        except BobakuError:
            entry = None
        if entry is not None:
            existing = await ctx.orders.load(entry["franchise_id"], order_id)
            if existing.exists:
                return existing  # a retry of a request that already placed this order
    quote = await ctx.menu.quote(outlet_id, items)
    franchise_id = quote["outlet"]["franchise_id"]
    await ctx.orders.register(order_id, franchise_id, who.subject, outlet_id)
    order = Order(
        id=order_id, franchise_id=franchise_id, outlet_id=outlet_id, customer_id=who.subject
    )
    created = order_event(
        "order.created",
        order,
        user_id=who.subject,
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
        reward_ids=reward_ids,
        payment_method=payment_method,
        status="pending_payment",
    )
    # A conflict means the same idempotent request won the race: show its order.
    with contextlib.suppress(ConcurrencyConflict):
        await ctx.orders.append(order, [created])
    return await drive(ctx, franchise_id, order_id)


async def cancel_order(ctx: OrderContext, who: Principal, order_id: str, reason: str) -> Order:
    order = await find_order(ctx, order_id)
    authorize_view(who, order)
    order.require(Status.PENDING_PAYMENT, action="cancel")
    await _append(
        ctx, order, [order_event("order.cancelled", order, reason=reason, by=who.subject)]
    )
    return await drive(ctx, order.franchise_id, order.id)


@dataclass(frozen=True)
class KitchenStep:
    """A barista's move: allowed from one status, recorded as one event."""

    from_status: Status
    event: str
    action: str


KITCHEN_STEPS = {
    "bump": KitchenStep(Status.BEING_PREPARED, "order.ready", "mark ready"),
    "recall": KitchenStep(Status.READY, "order.recalled", "recall"),
    "complete": KitchenStep(Status.READY, "order.completed", "hand over"),
}


async def kitchen_step(ctx: OrderContext, who: Principal, order_id: str, step: str) -> Order:
    """Bump, recall or hand over an order (staff of its outlet)."""
    move = KITCHEN_STEPS[step]
    order = await _staff_order(ctx, who, order_id)
    order.require(move.from_status, action=move.action)
    return await _append(ctx, order, [order_event(move.event, order, by=who.subject)])


async def refund_order(
    ctx: OrderContext,
    who: Principal,
    token: str,
    order_id: str,
    amount: int | None,
    reason: str,
    key: str,
) -> dict[str, Any]:
    """Ask the payment service to refund; the order records it when the refund event arrives."""
    order = await find_order(ctx, order_id)
    who.require_role(*REFUND_ROLES)
    who.require_outlet(order.franchise_id, order.outlet_id)
    order.require(*PAID_STATUSES, action="refund")
    if order.payment.intent_id is None or order.payment.status != "completed":
        raise Conflict(
            "this order has no captured payment to refund", details={"order_id": order_id}
        )
    remaining = order.payment.amount - order.refunded_amount
    return await ctx.payments.refund(
        order.payment.intent_id, amount if amount is not None else remaining, reason, key, token
    )


PAID_STATUSES = (Status.PAYMENT_COMPLETED, Status.BEING_PREPARED, Status.READY, Status.COMPLETED)


async def _staff_order(ctx: OrderContext, who: Principal, order_id: str) -> Order:
    order = await find_order(ctx, order_id)
    who.require_role(*STAFF_ROLES)
    who.require_outlet(order.franchise_id, order.outlet_id)
    return order


async def _append(ctx: OrderContext, order: Order, events: Sequence[Event]) -> Order:
    try:
        return await ctx.orders.append(order, events)
    except ConcurrencyConflict as exc:
        raise Conflict(
            "the order changed while you were acting on it; reload and try again",
            details={"order_id": order.id},
        ) from exc


# ---------------------------------------------------------------- the saga


async def drive(ctx: OrderContext, franchise_id: str, order_id: str) -> Order:
    """Take every saga step the order is ready for. Safe to run concurrently and repeatedly."""
    async with ctx.lock_for(order_id):
        order = await ctx.orders.load(franchise_id, order_id)
        for _ in range(MAX_STEPS):
            step = next_step(order)
            if step is None:
                return order
            try:
                order = await run_step(ctx, order, step)
            except ConcurrencyConflict:
                order = await ctx.orders.load(franchise_id, order_id)
        return order


async def run_step(ctx: OrderContext, order: Order, step: Step) -> Order:
    log.info("saga step", extra={"order_id": order.id, "step": type(step).__name__})
    if isinstance(step, ReserveStock):
        return await _reserve_stock(ctx, order)
    if isinstance(step, RedeemRewards):
        return await _redeem_rewards(ctx, order)
    if isinstance(step, RequestPayment):
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
        event = order_event(
            "order.payment_requested",
            order,
            intent_id=intent["intent_id"],
            provider=intent["provider"],
            amount=intent["amount"],
            action=intent.get("action"),
            expires_at=intent.get("expires_at"),
            transaction_id=intent.get("transaction_id"),
        )
        return await ctx.orders.append(order, [event])
    if isinstance(step, SettleFreeOrder):
        paid = order_event(
            "order.payment_completed",
            order,
            intent_id="free",
            transaction_id=f"free-{order.id}",
            amount=0,
            paid_at=utc_iso(datetime.now(UTC)),
        )
        return await ctx.orders.append(order, [paid])
    if isinstance(step, SendToKitchen):
        return await _send_to_kitchen(ctx, order)
    return await _compensate(ctx, order, step)


async def _reserve_stock(ctx: OrderContext, order: Order) -> Order:
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
    except BobakuError as err:
        if err.status != 409:
            raise
        rejected = order_event(
            "order.stock_rejected", order, reason=err.code, items=_items_of(err.details)
        )
        cancelled = order_event("order.cancelled", order, reason=err.code, by="saga")
        return await ctx.orders.append(order, [rejected, cancelled])
    return await ctx.orders.append(order, [order_event("order.stock_reserved", order)])


def _items_of(details: Any) -> list[Any]:
    if isinstance(details, dict) and isinstance(details.get("items"), list):
        return list(details["items"])
    return []


async def _redeem_rewards(ctx: OrderContext, order: Order) -> Order:
    try:
        redeemed = await ctx.customers.redeem(order.customer_id, order.id, order.reward_ids)
    except BobakuError as err:
        if err.status not in (404, 409, 422):
            raise
        cancelled = order_event("order.cancelled", order, reason=err.code, by="saga")
        return await ctx.orders.append(order, [cancelled])
    event = order_event(
        "order.rewards_redeemed",
        order,
        points=redeemed["points"],
        discount_amount=min(redeemed["discount_amount"], order.subtotal_amount),
        rewards=redeemed.get("rewards", []),
    )
    return await ctx.orders.append(order, [event])


async def _send_to_kitchen(ctx: OrderContext, order: Order) -> Order:
    if order.stock == "reserved":
        await ctx.stock.commit(order.id)
    ahead = await ctx.views.queue_length(order.franchise_id, order.outlet_id)
    paid_at = _parse(order.payment.paid_at) or datetime.now(UTC)
    drinks = sum(int(line["quantity"]) for line in order.lines)
    eta = estimated_completion(max(paid_at, datetime.now(UTC)), drinks, ahead)
    event = order_event("order.being_prepared", order, estimated_completion=utc_iso(eta))
    return await ctx.orders.append(order, [event])


async def _compensate(ctx: OrderContext, order: Order, step: Compensate) -> Order:
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
    event = order_event(
        "order.compensated",
        order,
        stock_released=step.release_stock,
        points_restored=step.restore_points,
        payment_voided=voided,
    )
    return await ctx.orders.append(order, [event])


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


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
        follow_up = [
            order_event(
                "order.payment_completed",
                order,
                intent_id=data["intent_id"],
                transaction_id=data.get("transaction_id"),
                amount=data.get("amount", order.total_amount),
                paid_at=data.get("paid_at") or utc_iso(event.timestamp),
            )
        ]
    elif (
        kind in ("payment.failed", "payment.expired")
        and same_intent
        and order.status == Status.PENDING_PAYMENT
    ):
        reason = "payment_expired" if kind == "payment.expired" else "payment_failed"
        follow_up = [
            order_event("order.payment_failed", order, reason=reason),
            order_event("order.cancelled", order, reason=reason, by="saga"),
        ]
    elif kind == "payment.refunded" and data.get("refund_id") not in order.refund_ids:
        total = int(data.get("total_refunded", order.refunded_amount + int(data.get("amount", 0))))
        follow_up = [
            order_event(
                "order.refunded",
                order,
                refund_id=data["refund_id"],
                amount=int(data.get("amount", 0)),
                total_refunded=total,
                full=order.payment.amount > 0 and total >= order.payment.amount,
            )
        ]
    if follow_up:
        # A conflict propagates: the event is redelivered and decided again on fresh state.
        await ctx.orders.append(order, follow_up)
    await drive(ctx, franchise_id, order_id)
