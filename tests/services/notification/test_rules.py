"""Who is told what, and the cause each notification is keyed by (pure)."""

from __future__ import annotations

import pytest

from bobaku.kernel.events import new_event
from bobaku.services.notification.domain.kinds import KINDS, Audience
from bobaku.services.notification.domain.rules import intents_for, provider_of

CASES = [
    ("order.being_prepared", {"order_id": "ord-1", "customer_id": "u1", "outlet_id": "o1",
                              "estimated_completion": "2026-12-02T10:00:00Z"}, "order_accepted"),
    ("order.ready", {"order_id": "ord-1", "customer_id": "u1"}, "order_ready"),
    ("order.refunded", {"order_id": "ord-1", "customer_id": "u1", "amount": 5000}, "refund_done"),
    ("loyalty.points_earned", {"customer_id": "u1", "points": 30}, "points_earned"),
    ("loyalty.tier_changed", {"customer_id": "u1", "previous_tier": "member", "tier": "silver",
                              "points": 520}, "tier_changed"),
    ("supply.stock_low", {"outlet_id": "o1", "ingredient_id": "tapioca-pearl"}, "stock_low"),
    ("payment.dispute_opened", {"order_id": "ord-1", "outlet_id": "o1", "dispute_id": "d1",
                                "amount": 5000, "reason": "not received"}, "dispute_opened"),
]  # fmt: skip


@pytest.mark.parametrize(("type_", "data", "kind"), CASES)
def test_each_event_asks_for_one_notification_keyed_by_the_event(
    type_: str, data: dict[str, object], kind: str
) -> None:
    event = new_event(type_, data, source="test", tenant="fr-1")
    [intent] = intents_for(event)
    assert intent.kind == kind
    assert intent.cause == event.id  # a redelivery of the event maps to the same notification
    again = new_event(type_, data, source="test", tenant="fr-1")
    assert intents_for(again)[0].cause == again.id != event.id  # another event, another one
    audience = KINDS[kind].audience
    if audience is Audience.CUSTOMER:
        assert (intent.user_id, intent.outlet_id) == ("u1", data.get("outlet_id"))
    else:
        assert (intent.user_id, intent.outlet_id, intent.tenant) == (None, "o1", "fr-1")


def test_a_reward_lapsing_is_told_once_however_many_reminders_say_so() -> None:
    data = {"customer_id": "u1", "reward_id": "r1", "reward_name": "Free Topping",
            "expires_at": "2026-12-04T00:00:00Z"}  # fmt: skip
    first, second = (new_event("loyalty.reward_expiring", data, source="t") for _ in range(2))
    [a], [b] = intents_for(first), intents_for(second)
    assert (a.kind, a.user_id) == ("reward_expiring", "u1")
    assert a.cause == b.cause
    later = intents_for(new_event(
        "loyalty.reward_expiring", {**data, "expires_at": "2027-01-04T00:00:00Z"}, source="t"
    ))  # fmt: skip
    assert later[0].cause != a.cause  # another expiry of the same reward: told again


def test_events_for_nobody_ask_for_nothing() -> None:
    assert intents_for(new_event("order.ready", {"order_id": "ord-1"}, source="t")) == []
    assert intents_for(new_event("payment.captured", {"amount": 1}, source="t")) == []


def test_a_failing_provider_is_named_by_its_transaction_ids() -> None:
    assert provider_of("spp-8f2a") == "shopeepay"
    assert provider_of("gpy-1") == "gopay"
    assert provider_of(None) == "unknown"
