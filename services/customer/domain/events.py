"""The customer service's events, typed: one class per event type it produces (``TYPE``,
its schema in ``kernel/events/schemas/<TYPE>/``). No I/O here.

``customer.registered`` goes out through the user document's outbox; the ``loyalty.*``
events are the facts of a customer's points ledger (``es.loyalty.brand.<customer>``), as
the domain's decisions (``domain/loyalty.py``) return them and the ledger folds them.
Each one's ``data`` is exactly what is published.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class CustomerEvent:
    TYPE: ClassVar[str]

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def data(self) -> dict[str, Any]:
        """The event's data; an optional field left ``None`` is not sent."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CustomerRegistered(CustomerEvent):
    TYPE = "customer.registered"
    user_id: str
    language: str


@dataclass(frozen=True)
class LoyaltyEvent(CustomerEvent):
    """A fact of the points ledger: what every one says about its customer."""

    customer_id: str


@dataclass(frozen=True)
class PointsEarned(LoyaltyEvent):
    TYPE = "loyalty.points_earned"
    order_id: str
    points: int
    amount: int
    franchise_id: str | None = None


@dataclass(frozen=True)
class PointsRedeemed(LoyaltyEvent):
    TYPE = "loyalty.points_redeemed"
    order_id: str
    points: int
    discount_amount: int
    rewards: list[dict[str, Any]]


@dataclass(frozen=True)
class RedemptionGivenBack(LoyaltyEvent):
    """``loyalty.redemption_released``: an order's redeemed points came back."""

    TYPE = "loyalty.redemption_released"
    order_id: str
    points: int


@dataclass(frozen=True)
class PointsReversed(LoyaltyEvent):
    TYPE = "loyalty.points_reversed"
    order_id: str
    refund_id: str
    points: int
    refunded_amount: int


@dataclass(frozen=True)
class PointsExpired(LoyaltyEvent):
    """Points earned long enough ago lapsed, once per ``lapse`` (the day they lapse on)."""

    TYPE = "loyalty.points_expired"
    points: int
    lapse: str  # YYYY-MM-DD: the first day they were no longer valid
    earned_before: str  # points earned before this day (UTC) were valid until the lapse


@dataclass(frozen=True)
class RewardExpiring(LoyaltyEvent):
    """``loyalty.reward_expiring``: an integration event (stream EVENTS), not a ledger fact;
    the expiry job publishes it a configurable number of days before a lapse."""

    TYPE = "loyalty.reward_expiring"
    reward_id: str
    reward_name: str
    expires_at: str
    points: int


@dataclass(frozen=True)
class TierChanged(LoyaltyEvent):
    TYPE = "loyalty.tier_changed"
    previous_tier: str
    tier: str
    points: int
    order_id: str | None = None


POINTS_EARNED = PointsEarned.TYPE
POINTS_REDEEMED = PointsRedeemed.TYPE
REDEMPTION_RELEASED = RedemptionGivenBack.TYPE
POINTS_REVERSED = PointsReversed.TYPE
TIER_CHANGED = TierChanged.TYPE
POINTS_EXPIRED = PointsExpired.TYPE
REWARD_EXPIRING = RewardExpiring.TYPE
