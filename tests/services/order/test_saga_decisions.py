"""The saga's decisions as a pure function of the order's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bobaku.kernel.events import Event, new_event
from bobaku.services.order.domain.estimate import estimated_completion
from bobaku.services.order.domain.model import InvalidTransition, Status, fold
from bobaku.services.order.domain.saga import (
    Compensate,
    RedeemRewards,
    RequestPayment,
    ReserveStock,
    SendToKitchen,
    SettleFreeOrder,
    next_step,
)

ORDER = "ord-20261124-00000001"


def ev(kind: str, **data: Any) -> Event:
    base = {"order_id": ORDER, "outlet_id": "outlet-01", "customer_id": "u-1"}
    return new_event(kind, {**base, **data}, source="order-service", tenant="fr-jakarta")


def created(total: int = 82000, rewards: list[str] | None = None) -> Event:
    line = {
        "menu_id": "m001",
        "name": "Brown Sugar Boba Milk Tea",
        "unit_price": 41000,
        "base_price": 28000,
        "quantity": 2,
        "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": []},
        "subtotal": total,
        "station": "tea_bar",
    }
    return ev(
        "order.created",
        user_id="u-1",
        franchise_id="fr-jakarta",
        items=[],
        lines=[line],
        total_amount=total,
        subtotal_amount=total,
        payment_method="gopay",
        status="pending_payment",
        reward_ids=rewards or [],
    )


def requested() -> Event:
    return ev("order.payment_requested", intent_id="pay-1", provider="gopay", amount=82000)


def test_a_new_order_reserves_stock_first_then_asks_for_payment() -> None:
    assert next_step(fold(ORDER, [created()])) == ReserveStock()
    assert next_step(fold(ORDER, [created(), ev("order.stock_reserved")])) == RequestPayment()
    waiting = fold(ORDER, [created(), ev("order.stock_reserved"), requested()])
    assert next_step(waiting) is None  # the provider has the next move


def test_rewards_are_redeemed_before_payment_and_a_fully_covered_order_is_not_charged() -> None:
    events = [created(total=25000, rewards=["rw-free-drink"]), ev("order.stock_reserved")]
    assert next_step(fold(ORDER, events)) == RedeemRewards()
    events.append(ev("order.rewards_redeemed", points=500, discount_amount=25000))
    order = fold(ORDER, events)
    assert order.total_amount == 0
    assert next_step(order) == SettleFreeOrder()


def test_a_paid_order_goes_to_the_kitchen_and_then_waits_for_the_barista() -> None:
    events = [created(), ev("order.stock_reserved"), requested()]
    events.append(
        ev(
            "order.payment_completed",
            intent_id="pay-1",
            transaction_id="gpy-1",
            amount=82000,
            paid_at="2026-11-24T10:00:00Z",
        )
    )
    assert next_step(fold(ORDER, events)) == SendToKitchen()
    events.append(ev("order.being_prepared", estimated_completion="2026-11-24T10:05:00Z"))
    order = fold(ORDER, events)
    assert order.status == Status.BEING_PREPARED
    assert order.stock == "committed"
    assert order.points_earned == 82
    assert next_step(order) is None


def test_a_cancelled_order_gives_back_exactly_what_it_took() -> None:
    events = [created(rewards=["rw-10k"]), ev("order.stock_reserved")]
    events += [ev("order.rewards_redeemed", points=300, discount_amount=10000), requested()]
    events.append(ev("order.cancelled", reason="changed my mind", by="u-1"))
    assert next_step(fold(ORDER, events)) == Compensate(
        release_stock=True, restore_points=True, void_payment=True
    )
    events.append(
        ev("order.compensated", stock_released=True, points_restored=True, payment_voided=True)
    )
    order = fold(ORDER, events)
    assert next_step(order) is None
    assert (order.stock, order.rewards) == ("released", "restored")


def test_sold_out_stock_cancels_without_anything_to_release() -> None:
    events = [created(), ev("order.stock_rejected", reason="insufficient_stock", items=[])]
    events.append(ev("order.cancelled", reason="insufficient_stock", by="saga"))
    assert next_step(fold(ORDER, events)) == Compensate(
        release_stock=False, restore_points=False, void_payment=False
    )


def test_history_records_each_status_with_its_time() -> None:
    events = [created(), ev("order.stock_reserved"), requested()]
    events.append(
        ev(
            "order.payment_completed",
            intent_id="pay-1",
            transaction_id="gpy-1",
            amount=82000,
            paid_at="x",
        )
    )
    order = fold(ORDER, events)
    assert [h["status"] for h in order.history] == ["pending_payment", "payment_completed"]
    assert all(h["timestamp"].endswith("Z") for h in order.history)


def test_a_transition_from_the_wrong_status_names_what_was_allowed() -> None:
    order = fold(ORDER, [created()])
    with pytest.raises(InvalidTransition) as caught:
        order.require(Status.BEING_PREPARED, action="mark ready")
    assert caught.value.status == 409
    assert caught.value.details["status"] == "pending_payment"


def test_partial_refunds_take_their_points_back() -> None:
    events = [created(), ev("order.stock_reserved"), requested()]
    events.append(
        ev(
            "order.payment_completed",
            intent_id="pay-1",
            transaction_id="gpy-1",
            amount=82000,
            paid_at="x",
        )
    )
    events.append(
        ev("order.refunded", refund_id="rfd-1", amount=30000, total_refunded=30000, full=False)
    )
    order = fold(ORDER, events)
    assert order.points_earned == 52
    assert order.status == Status.PAYMENT_COMPLETED
    events.append(
        ev("order.refunded", refund_id="rfd-2", amount=52000, total_refunded=82000, full=True)
    )
    assert fold(ORDER, events).status == Status.REFUNDED


def test_the_estimate_grows_with_drinks_and_the_queue_and_is_capped() -> None:
    paid = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert estimated_completion(paid, 1, 0) == paid + timedelta(minutes=4)
    assert estimated_completion(paid, 3, 2) == paid + timedelta(minutes=9)
    assert estimated_completion(paid, 50, 50) == paid + timedelta(minutes=45)
