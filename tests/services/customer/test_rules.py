"""The loyalty and session rules as plain functions: no server, a clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.errors import (
    InsufficientPoints,
    RedemptionMismatch,
    RedemptionNotFound,
    RedemptionReleased,
)
from bobaku.services.customer.domain.events import (
    POINTS_EARNED,
    POINTS_REVERSED,
    TIER_CHANGED,
    LoyaltyEvent,
)
from bobaku.services.customer.domain.loyalty import (
    REWARDS_BY_ID,
    Ledger,
    Tier,
    tier_for,
)
from bobaku.services.customer.domain.sessions import StoredRefreshToken, Verdict, assess

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def applied(ledger: Ledger, facts: list[LoyaltyEvent], at: datetime = NOW) -> Ledger:
    for fact in facts:
        ledger.apply(fact.type, fact.data, at)
    return ledger


def earned(ledger: Ledger, order_id: str, amount: int, at: datetime = NOW) -> list[LoyaltyEvent]:
    facts = loyalty.earn_for_payment(ledger, order_id=order_id, amount=amount, now=at)
    applied(ledger, facts, at)
    return facts


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (0, Tier.MEMBER),
        (499, Tier.MEMBER),
        (500, Tier.SILVER),
        (1499, Tier.SILVER),
        (1500, Tier.GOLD),
        (4999, Tier.GOLD),
        (5000, Tier.PLATINUM),
        (80_000, Tier.PLATINUM),
    ],
)
def test_tiers_start_at_500_1500_and_5000_points(points: int, tier: Tier) -> None:
    assert tier_for(points) == tier


def test_one_point_per_full_thousand_rupiah_once_per_order() -> None:
    ledger = Ledger("u-000000000001")
    facts = earned(ledger, "ord-1", 82_999)
    assert [f.type for f in facts] == [POINTS_EARNED]
    assert facts[0].data == {
        "customer_id": "u-000000000001",
        "order_id": "ord-1",
        "points": 82,
        "amount": 82_999,
    }
    assert earned(ledger, "ord-1", 82_999) == []  # the same order never earns twice
    assert earned(ledger, "ord-2", 999) == []  # less than Rp1,000 earns nothing
    assert ledger.points == 82


def test_crossing_500_earned_points_flips_member_to_silver_and_records_it() -> None:
    ledger = Ledger("u-000000000002")
    earned(ledger, "ord-1", 499_000)
    assert ledger.standing(NOW).tier == Tier.MEMBER
    assert ledger.recorded_tier == Tier.MEMBER

    facts = earned(ledger, "ord-2", 1_000)

    assert [f.type for f in facts] == [POINTS_EARNED, TIER_CHANGED]
    assert facts[1].data == {
        "customer_id": "u-000000000002",
        "order_id": "ord-2",
        "previous_tier": "member",
        "tier": "silver",
        "points": 500,
    }
    standing = ledger.standing(NOW)
    assert (standing.tier, standing.next_tier, standing.points_to_next_tier) == (
        Tier.SILVER,
        Tier.GOLD,
        1000,
    )


def test_the_tier_counts_only_points_earned_in_the_last_365_days() -> None:
    ledger = Ledger("u-000000000003")
    earned(ledger, "ord-old", 1_200_000, at=NOW - timedelta(days=366))
    earned(ledger, "ord-new", 400_000, at=NOW - timedelta(days=10))

    standing = ledger.standing(NOW)
    assert standing.points == 1600  # points to spend do not expire
    assert standing.rolling_12m_points == 400
    assert standing.tier == Tier.MEMBER
    # Five days ago both orders counted: gold.
    assert ledger.standing(NOW - timedelta(days=5)).tier == Tier.GOLD


def test_spending_points_never_lowers_the_tier() -> None:
    ledger = Ledger("u-000000000004")
    earned(ledger, "ord-1", 600_000)
    facts, _ = loyalty.redeem(
        ledger, order_id="ord-2", rewards=[REWARDS_BY_ID["rw-free-regular-drink"]], now=NOW
    )
    applied(ledger, facts)
    assert ledger.points == 100
    assert ledger.standing(NOW).tier == Tier.SILVER


def test_a_refund_reverses_points_in_proportion_once_per_refund() -> None:
    ledger = Ledger("u-000000000005")
    earned(ledger, "ord-1", 82_000)

    half = loyalty.reverse_for_refund(
        ledger, order_id="ord-1", refund_id="rfd-1", amount=41_000, full=False, now=NOW
    )
    assert [(f.type, f.data["points"]) for f in half] == [(POINTS_REVERSED, 41)]
    applied(ledger, half)
    again = loyalty.reverse_for_refund(
        ledger, order_id="ord-1", refund_id="rfd-1", amount=41_000, full=False, now=NOW
    )
    assert again == []
    assert ledger.points == 41


def test_partial_refunds_add_up_to_exactly_the_points_the_order_earned() -> None:
    ledger = Ledger("u-000000000006")
    earned(ledger, "ord-1", 76_500)  # 76 points
    reversed_points = []
    for i, amount in enumerate((10_000, 10_000, 10_000, 46_500)):
        facts = loyalty.reverse_for_refund(
            ledger, order_id="ord-1", refund_id=f"rfd-{i}", amount=amount, full=i == 3, now=NOW
        )
        applied(ledger, facts)
        reversed_points.append(facts[0].data["points"])
    # 76 x 10000/76500 = 9.9 -> 9; cumulative 19.8 -> 19; 29.8 -> 29; then the rest.
    assert reversed_points == [9, 10, 10, 47]
    assert ledger.points == 0


def test_a_refund_of_an_order_that_earned_nothing_changes_nothing() -> None:
    ledger = Ledger("u-000000000007")
    assert (
        loyalty.reverse_for_refund(
            ledger, order_id="ord-x", refund_id="rfd-1", amount=5_000, full=True, now=NOW
        )
        == []
    )


def test_a_refund_can_take_the_customer_back_below_a_tier() -> None:
    ledger = Ledger("u-000000000008")
    earned(ledger, "ord-1", 520_000)
    assert ledger.recorded_tier == Tier.SILVER
    facts = loyalty.reverse_for_refund(
        ledger, order_id="ord-1", refund_id="rfd-1", amount=520_000, full=True, now=NOW
    )
    assert [f.type for f in facts] == [POINTS_REVERSED, TIER_CHANGED]
    assert facts[1].data["tier"] == "member"


def test_redeeming_more_than_the_balance_is_refused_with_the_figures() -> None:
    ledger = Ledger("u-000000000009")
    earned(ledger, "ord-1", 299_000)
    with pytest.raises(InsufficientPoints) as refused:
        loyalty.redeem(ledger, order_id="ord-2", rewards=[REWARDS_BY_ID["rw-10k-off"]], now=NOW)
    assert refused.value.details == {"required": 300, "available": 299}
    assert refused.value.status == 409


def test_a_repeated_redemption_returns_the_first_and_spends_nothing() -> None:
    ledger = Ledger("u-000000000010")
    earned(ledger, "ord-1", 700_000)
    rewards = [REWARDS_BY_ID["rw-free-topping"], REWARDS_BY_ID["rw-10k-off"]]
    facts, first = loyalty.redeem(ledger, order_id="ord-2", rewards=rewards, now=NOW)
    applied(ledger, facts)
    assert first.result() == {
        "order_id": "ord-2",
        "points": 450,
        "discount_amount": 15_000,
        "rewards": [
            {"id": "rw-free-topping", "name": "Free topping", "discount_amount": 5_000},
            {"id": "rw-10k-off", "name": "Rp10k off", "discount_amount": 10_000},
        ],
    }
    again, second = loyalty.redeem(
        ledger, order_id="ord-2", rewards=list(reversed(rewards)), now=NOW
    )
    assert again == []
    assert second.result() == first.result()
    with pytest.raises(RedemptionMismatch):
        loyalty.redeem(ledger, order_id="ord-2", rewards=rewards[:1], now=NOW)


def test_release_gives_points_back_once_and_the_order_cannot_redeem_again() -> None:
    ledger = Ledger("u-000000000011")
    earned(ledger, "ord-1", 200_000)
    facts, _ = loyalty.redeem(
        ledger, order_id="ord-2", rewards=[REWARDS_BY_ID["rw-free-topping"]], now=NOW
    )
    applied(ledger, facts)
    assert ledger.points == 50

    released, _ = loyalty.release(ledger, order_id="ord-2", now=NOW)
    applied(ledger, released)
    assert ledger.points == 200
    assert loyalty.release(ledger, order_id="ord-2", now=NOW)[0] == []
    with pytest.raises(RedemptionReleased):
        loyalty.redeem(
            ledger, order_id="ord-2", rewards=[REWARDS_BY_ID["rw-free-topping"]], now=NOW
        )
    with pytest.raises(RedemptionNotFound):
        loyalty.release(ledger, order_id="ord-none", now=NOW)


def test_a_spent_refresh_token_is_reuse_even_once_expired() -> None:
    def token(spent: bool, expires_in_s: int) -> StoredRefreshToken:
        return StoredRefreshToken(
            hash="h",
            family_id="fam-1",
            user_id="u-000000000001",
            parent="root:fam-1",
            issued_at=NOW - timedelta(days=1),
            expires_at=NOW + timedelta(seconds=expires_in_s),
            spent_at=NOW if spent else None,
        )

    assert assess(None, family_revoked=False, now=NOW) is Verdict.UNKNOWN
    assert assess(token(False, 60), family_revoked=False, now=NOW) is Verdict.USABLE
    assert assess(token(False, 0), family_revoked=False, now=NOW) is Verdict.EXPIRED
    assert assess(token(True, -60), family_revoked=False, now=NOW) is Verdict.REUSED
    assert assess(token(True, 60), family_revoked=True, now=NOW) is Verdict.REVOKED
