"""The order service's handlers and saga on in-memory fakes of its own repositories and
adapters: decisions, refusals as domain errors, access rules. No servers."""

from __future__ import annotations

import pytest
from order_testing import FRANCHISE, OUTLET, World, world

from bobaku.kernel.auth import Principal, Role
from bobaku.kernel.errors import Forbidden, TenantForbidden
from bobaku.kernel.events import new_event
from bobaku.services.order.domain import saga as decisions
from bobaku.services.order.domain.commands import CancelOrder, MoveInKitchen, PlaceOrder
from bobaku.services.order.domain.errors import InsufficientPoints, StockUnavailable
from bobaku.services.order.domain.model import InvalidTransition, Status
from bobaku.services.order.service_layer import handlers, saga

CUSTOMER = Principal("u-1", frozenset({Role.CUSTOMER}))
STAFF = Principal("u-staff", frozenset({Role.STAFF}), FRANCHISE, frozenset({OUTLET}))
OTHER_STAFF = Principal("u-x", frozenset({Role.STAFF}), "fr-bandung", frozenset({"outlet-04"}))


def place(rewards: list[str] | None = None, key: str | None = None) -> PlaceOrder:
    return PlaceOrder(
        customer_id=CUSTOMER.subject,
        outlet_id=OUTLET,
        items=[{"menu_id": "m001", "quantity": 2}],
        payment_method="gopay",
        reward_ids=rewards or [],
        idempotency_key=key,
    )


async def paid(w: World, order_id: str) -> None:
    captured = new_event(
        "payment.captured",
        {
            "intent_id": f"pi-{order_id}",
            "order_id": order_id,
            "franchise_id": FRANCHISE,
            "outlet_id": OUTLET,
            "customer_id": CUSTOMER.subject,
            "provider": "gopay",
            "amount": 82000,
            "transaction_id": "gpy-1",
            "paid_at": "2026-12-01T10:00:00Z",
        },
        source="payment-service",
        tenant=FRANCHISE,
    )
    await saga.on_payment_event(w.ctx, captured)


def test_every_step_the_domain_decides_has_a_handler() -> None:
    assert set(saga.STEPS) == set(decisions.Step.__args__)  # type: ignore[attr-defined]


async def test_an_order_reserves_stock_then_asks_for_payment() -> None:
    w = world()
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    assert order.status == Status.PENDING_PAYMENT
    assert w.menu.reserved == [order.id]
    assert w.payments.intents[0]["amount"] == 82000
    assert order.payment.intent_id == f"pi-{order.id}"
    assert w.orders.types(order.id) == [
        "order.created",
        "order.stock_reserved",
        "order.payment_requested",
    ]


async def test_sold_out_stock_cancels_the_order_with_the_menus_reason() -> None:
    refused = StockUnavailable("insufficient_stock", {"items": [{"menu_id": "m001"}]})
    w = world(refuse_stock=refused)
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    assert order.status == Status.CANCELLED
    assert order.stock == "rejected"
    assert order.cancel_reason == "insufficient_stock"
    assert order.compensated
    assert w.menu.released == []  # nothing was reserved
    assert w.payments.intents == []
    stock_rejected = w.orders.streams[w.orders.subject(FRANCHISE, order.id)][1]
    assert stock_rejected.data["items"] == [{"menu_id": "m001"}]


async def test_too_few_points_cancels_and_gives_the_stock_back() -> None:
    w = world()
    w.customers.refuse = InsufficientPoints("insufficient_points")
    order = await handlers.place_order(w.ctx, CUSTOMER, place(rewards=["r-free-drink"]))
    assert order.status == Status.CANCELLED
    assert order.cancel_reason == "insufficient_points"
    assert w.menu.released == [order.id]  # compensation released the reservation
    assert w.customers.restored == []  # nothing was redeemed
    assert w.payments.intents == []


async def test_rewards_that_cover_everything_settle_without_a_payment() -> None:
    w = world()
    w.customers.discount = 10**6
    order = await handlers.place_order(w.ctx, CUSTOMER, place(rewards=["r-free"]))
    assert order.status == Status.BEING_PREPARED
    assert order.total_amount == 0
    assert w.payments.intents == []
    assert w.menu.committed == [order.id]


async def test_a_capture_sends_the_order_to_the_kitchen_and_staff_move_it() -> None:
    w = world()
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    await paid(w, order.id)
    order = await handlers.find_order(w.ctx, order.id)
    assert order.status == Status.BEING_PREPARED
    assert w.menu.committed == [order.id]
    assert order.estimated_completion is not None

    with pytest.raises(TenantForbidden):
        await handlers.kitchen_step(w.ctx, OTHER_STAFF, MoveInKitchen(order.id, "bump"))
    with pytest.raises(Forbidden):
        await handlers.kitchen_step(w.ctx, CUSTOMER, MoveInKitchen(order.id, "bump"))
    with pytest.raises(InvalidTransition):
        await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "complete"))
    ready = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "bump"))
    assert ready.status == Status.READY
    back = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "recall"))
    assert back.status == Status.BEING_PREPARED
    assert w.orders.types(order.id)[-2:] == ["order.ready", "order.recalled"]


async def test_a_retry_with_the_same_key_shows_the_same_order() -> None:
    w = world()
    first = await handlers.place_order(w.ctx, CUSTOMER, place(key="k-1"))
    again = await handlers.place_order(w.ctx, CUSTOMER, place(key="k-1"))
    assert again.id == first.id
    assert w.menu.quotes == 1
    other = await handlers.place_order(w.ctx, CUSTOMER, place(key="k-2"))
    assert other.id != first.id


async def test_cancelling_an_unpaid_order_voids_its_payment_and_releases_stock() -> None:
    w = world()
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    cancelled = await handlers.cancel_order(w.ctx, CUSTOMER, CancelOrder(order.id, "changed mind"))
    assert cancelled.status == Status.CANCELLED
    assert cancelled.compensated
    assert w.payments.voided == [f"pi-{order.id}"]
    assert w.menu.released == [order.id]
    with pytest.raises(Forbidden):
        await handlers.cancel_order(
            w.ctx, Principal("u-2", frozenset({Role.CUSTOMER})), CancelOrder(order.id)
        )
