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
