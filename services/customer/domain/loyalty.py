"""Loyalty: a points ledger per customer, tiers over a rolling year, and rewards.

The ledger is event-sourced. Its facts (typed in ``domain/events.py``):

- ``loyalty.points_earned``: 1 point per full Rp1,000 paid for an order, once per order;
- ``loyalty.points_redeemed``: rewards bought with points for an order, once per order;
- ``loyalty.redemption_released``: an order's redemption given back (the order failed);
- ``loyalty.points_reversed``: a refund takes back the points of its order in proportion to
  the refunded amount, once per refund;
- ``loyalty.points_expired``: points lapse ``valid_days`` after the day they were earned
  (UTC), once per lapse day; spending takes the oldest points first, so what lapses is what
  is left of the old earnings (:func:`lapses`, :func:`expire`);
- ``loyalty.tier_changed``: the tier moved, recorded in the same commit as its cause.

``points = earned - redeemed + released - reversed - expired``. The tier is decided by the points
*earned* on orders paid in the last 365 days, net of what refunds reversed on those orders:
member < 500 ≤ silver < 1500 ≤ gold < 5000 ≤ platinum.

Every decision here is a pure function of the ledger and the clock, returning the facts to
append; the service layer appends them with an expected sequence, so two racing decisions
cannot both spend the same points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from bobaku.services.customer.domain.errors import (
    InsufficientPoints,
    RedemptionMismatch,
    RedemptionNotFound,
    RedemptionReleased,
)
from bobaku.services.customer.domain.events import (
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_REDEEMED,
    POINTS_REVERSED,
    REDEMPTION_RELEASED,
    TIER_CHANGED,
    LoyaltyEvent,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    RedemptionGivenBack,
    TierChanged,
)

RUPIAH_PER_POINT = 1000
ROLLING_WINDOW = timedelta(days=365)


class Tier(StrEnum):
    MEMBER = "member"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


# Lowest tier first: (tier, points earned in the window from which it applies).
TIER_LADDER: tuple[tuple[Tier, int], ...] = (
    (Tier.MEMBER, 0),
    (Tier.SILVER, 500),
    (Tier.GOLD, 1500),
    (Tier.PLATINUM, 5000),
)


def tier_for(rolling_points: int) -> Tier:
    reached = Tier.MEMBER
    for tier, threshold in TIER_LADDER:
        if rolling_points >= threshold:
            reached = tier
    return reached


def next_tier_after(tier: Tier) -> tuple[Tier, int] | None:
    """The tier above ``tier`` and its threshold; ``None`` at the top."""
    tiers = [t for t, _ in TIER_LADDER]
    index = tiers.index(tier)
    return TIER_LADDER[index + 1] if index + 1 < len(TIER_LADDER) else None


def points_for_payment(amount: int) -> int:
    """1 point per full Rp1,000 paid."""
    return max(0, amount) // RUPIAH_PER_POINT


@dataclass(frozen=True)
class Reward:
    id: str
    name: str
    points_cost: int
    discount_amount: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "points_cost": self.points_cost,
            "discount_amount": self.discount_amount,
        }


REWARDS: tuple[Reward, ...] = (
    Reward("rw-free-topping", "Free topping", 150, 5_000),
    Reward("rw-10k-off", "Rp10k off", 300, 10_000),
    Reward("rw-free-regular-drink", "Free regular drink", 500, 25_000),
)
REWARDS_BY_ID = {r.id: r for r in REWARDS}


@dataclass(frozen=True)
class Standing:
    """Where a customer stands right now: balance, tier and the way to the next tier."""

    points: int
    tier: Tier
    rolling_12m_points: int
    next_tier: Tier | None
    points_to_next_tier: int
    # What of the balance lapses when: (lapse day, points), soonest first.
    expiring: tuple[tuple[date, int], ...] = ()


def standing(
    points: int,
    earnings: Iterable[tuple[datetime, int]],
    now: datetime,
    expiring: Iterable[tuple[date, int]] = (),
) -> Standing:
    """The standing from a balance and ``(paid_at, net points)`` per order; earnings older
    than the rolling window do not count towards the tier. ``expiring`` lists the balance by
    lapse day; lapses that have begun (the expiry job has yet to apply them) are left out."""
    since = now - ROLLING_WINDOW
    rolling = max(0, sum(p for at, p in earnings if since < at <= now))
    tier = tier_for(rolling)
    upper = next_tier_after(tier)
    return Standing(
        points=points,
        tier=tier,
        rolling_12m_points=rolling,
        next_tier=upper[0] if upper else None,
        points_to_next_tier=upper[1] - rolling if upper else 0,
        expiring=tuple((d, p) for d, p in expiring if lapse_moment(d) > now),
    )


@dataclass
class Earning:
    order_id: str
    points: int
    amount: int
    at: datetime
    reversed_points: int = 0
    refunded_amount: int = 0
    refund_ids: set[str] = field(default_factory=set)

    @property
    def net_points(self) -> int:
        return self.points - self.reversed_points


@dataclass
class Redemption:
    order_id: str
    points: int
    discount_amount: int
    rewards: tuple[Reward, ...]
    released: bool = False

    @property
    def reward_ids(self) -> list[str]:
        return [r.id for r in self.rewards]

    def result(self) -> dict[str, Any]:
        """What the order service gets back for this redemption."""
        return {
            "order_id": self.order_id,
            "points": self.points,
            "discount_amount": self.discount_amount,
            "rewards": [
                {"id": r.id, "name": r.name, "discount_amount": r.discount_amount}
                for r in self.rewards
            ],
        }


@dataclass
class Ledger:
    customer_id: str
    earnings: dict[str, Earning] = field(default_factory=dict)
    redemptions: dict[str, Redemption] = field(default_factory=dict)
    earned: int = 0
    redeemed: int = 0
    released: int = 0
    reversed: int = 0
    expired: int = 0
    # The lapse days (YYYY-MM-DD) already applied: a lapse expires points once.
    lapsed: set[str] = field(default_factory=set)
    recorded_tier: Tier = Tier.MEMBER

    @property
    def points(self) -> int:
        return self.earned - self.redeemed + self.released - self.reversed - self.expired

    def standing(self, now: datetime) -> Standing:
        return standing(self.points, ((e.at, e.net_points) for e in self.earnings.values()), now)

    def recent_earnings(self, now: datetime) -> list[Earning]:
        """The earnings that still count towards the tier, oldest first."""
        since = now - ROLLING_WINDOW
        return sorted((e for e in self.earnings.values() if e.at > since), key=lambda e: e.at)

    def apply(self, type: str, data: dict[str, Any], at: datetime) -> Ledger:
        """Fold one stored fact in. Unknown types are skipped (newer producers)."""
        order_id = data.get("order_id", "")
        points = int(data.get("points", 0))
        if type == POINTS_EARNED:
            self.earnings[order_id] = Earning(order_id, points, int(data["amount"]), at)
            self.earned += points
        elif type == POINTS_REDEEMED:
            rewards = tuple(
                Reward(r["id"], r["name"], int(r["points_cost"]), int(r["discount_amount"]))
                for r in data["rewards"]
            )
            self.redemptions[order_id] = Redemption(
                order_id, points, int(data["discount_amount"]), rewards
            )
            self.redeemed += points
        elif type == REDEMPTION_RELEASED:
            # Entries are replaced, never changed in place: a copy made by after() shares them.
            self.redemptions[order_id] = replace(self.redemptions[order_id], released=True)
            self.released += points
        elif type == POINTS_REVERSED:
            earning = self.earnings[order_id]
            self.earnings[order_id] = replace(
                earning,
                reversed_points=earning.reversed_points + points,
                refunded_amount=earning.refunded_amount + int(data["refunded_amount"]),
                refund_ids=earning.refund_ids | {data["refund_id"]},
            )
            self.reversed += points
        elif type == POINTS_EXPIRED:
            self.lapsed.add(data["lapse"])
            self.expired += points
        elif type == TIER_CHANGED:
            self.recorded_tier = Tier(data["tier"])
        return self

    def after(self, facts: Sequence[LoyaltyEvent], at: datetime) -> Ledger:
        """A copy of the ledger with ``facts`` applied (for checking a decision). The copy's
        maps are new and their entries shared (apply() replaces an entry, never changes it):
        a deep copy cost a Python object per order the customer ever placed, at every
        earning."""
        ledger = replace(
            self,
            earnings=dict(self.earnings),
            redemptions=dict(self.redemptions),
            lapsed=set(self.lapsed),
        )
        for fact in facts:
            ledger.apply(fact.type, fact.data, at)
        return ledger


def with_tier_change(
    ledger: Ledger, facts: list[LoyaltyEvent], now: datetime, order_id: str | None = None
) -> list[LoyaltyEvent]:
    """``facts`` plus a ``loyalty.tier_changed`` if, once they apply, the tier differs from
    the last recorded one (including a move caused by earnings ageing out of the window)."""
    if not facts:
        return facts
    after = ledger.after(facts, now).standing(now)
    if after.tier == ledger.recorded_tier:
        return facts
    change = TierChanged(
        customer_id=ledger.customer_id,
        previous_tier=str(ledger.recorded_tier),
        tier=str(after.tier),
        points=after.rolling_12m_points,
        order_id=order_id,
    )
    return [*facts, change]


def earn_for_payment(
    ledger: Ledger,
    *,
    order_id: str,
    amount: int,
    now: datetime,
    franchise_id: str | None = None,
) -> list[LoyaltyEvent]:
    """Points for a paid order, once: a second payment event for the order earns nothing."""
    points = points_for_payment(amount)
    if order_id in ledger.earnings or points == 0:
        return []
    earned = PointsEarned(
        customer_id=ledger.customer_id,
        order_id=order_id,
        points=points,
        amount=amount,
        franchise_id=franchise_id or None,
    )
    return with_tier_change(ledger, [earned], now, order_id)


def reverse_for_refund(
    ledger: Ledger,
    *,
    order_id: str,
    refund_id: str,
    amount: int,
    full: bool,
    now: datetime,
) -> list[LoyaltyEvent]:
    """Take back the order's points in proportion to what has been refunded, once per refund.

    The target is computed on the cumulative refunded amount (``points * refunded // paid``,
    rounded down; all of them once the order is refunded in full), so several partial
    refunds never take back more, or in the end less, than the order earned.
    """
    earning = ledger.earnings.get(order_id)
    if earning is None or refund_id in earning.refund_ids:
        return []
    refunded = min(earning.amount, earning.refunded_amount + max(0, amount))
    if full or refunded >= earning.amount:
        target = earning.points
    else:
        target = earning.points * refunded // earning.amount
    points = max(0, target - earning.reversed_points)
    fact = PointsReversed(
        customer_id=ledger.customer_id,
        order_id=order_id,
        refund_id=refund_id,
        points=points,
        refunded_amount=max(0, amount),
    )
    return with_tier_change(ledger, [fact], now, order_id)


def redeem(
    ledger: Ledger, *, order_id: str, rewards: Sequence[Reward], now: datetime
) -> tuple[list[LoyaltyEvent], Redemption]:
    """Spend points on ``rewards`` for an order. A repeat for the same order and rewards
    returns the first redemption and spends nothing."""
    existing = ledger.redemptions.get(order_id)
    wanted = [r.id for r in rewards]
    if existing is not None:
        if existing.released:
            raise RedemptionReleased(
                f"the redemption for order {order_id} was released; it cannot be used again",
                details={"order_id": order_id},
            )
        if sorted(existing.reward_ids) != sorted(wanted):
            raise RedemptionMismatch(
                f"order {order_id} already redeemed other rewards",
                details={"order_id": order_id, "reward_ids": existing.reward_ids},
            )
        return [], existing
    cost = sum(r.points_cost for r in rewards)
    if cost > ledger.points:
        raise InsufficientPoints(
            f"these rewards cost {cost} points; the customer has {ledger.points}",
            details={"required": cost, "available": ledger.points},
        )
    redemption = Redemption(order_id, cost, sum(r.discount_amount for r in rewards), tuple(rewards))
    fact = PointsRedeemed(
        customer_id=ledger.customer_id,
        order_id=order_id,
        points=cost,
        discount_amount=redemption.discount_amount,
        rewards=[r.as_dict() for r in rewards],
    )
    return with_tier_change(ledger, [fact], now, order_id), redemption


def release(
    ledger: Ledger, *, order_id: str, now: datetime
) -> tuple[list[LoyaltyEvent], Redemption]:
    """Give an order's redeemed points back; releasing twice gives them back once."""
    redemption = ledger.redemptions.get(order_id)
    if redemption is None:
        raise RedemptionNotFound(
            f"order {order_id} redeemed no points", details={"order_id": order_id}
        )
    if redemption.released:
        return [], redemption
    fact = RedemptionGivenBack(
        customer_id=ledger.customer_id, order_id=order_id, points=redemption.points
    )
    return with_tier_change(ledger, [fact], now, order_id), redemption


# --- expiry --------------------------------------------------------------------------------

DEFAULT_VALID_DAYS = 365


def lapse_day(earned_at: datetime, valid_days: int) -> date:
    """The day (UTC) from which points earned at ``earned_at`` are no longer valid: they
    stay valid for the whole day of earning and ``valid_days`` days after it."""
    return earned_at.astimezone(UTC).date() + timedelta(days=valid_days + 1)


def lapse_moment(day: date) -> datetime:
    """The instant a lapse day starts (when its points stop being valid)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def lapses(ledger: Ledger, valid_days: int) -> list[tuple[date, int]]:
    """The customer's balance by the day it lapses, soonest first (days with nothing left
    are left out). Spending and earlier lapses use the oldest points first: whatever was
    redeemed (net of releases) or already expired comes off the oldest earnings; a refund
    takes its points off its own order's earning."""
    by_day: dict[date, int] = {}
    for earning in ledger.earnings.values():
        day = lapse_day(earning.at, valid_days)
        by_day[day] = by_day.get(day, 0) + max(0, earning.net_points)
    used = max(0, ledger.redeemed - ledger.released) + ledger.expired
    left: list[tuple[date, int]] = []
    for day in sorted(by_day):
        taken = min(used, by_day[day])
        used -= taken
        if by_day[day] - taken > 0:
            left.append((day, by_day[day] - taken))
    # Never more than the balance (a refund of points already spent can leave less).
    budget = max(0, ledger.points)
    capped: list[tuple[date, int]] = []
    for day, points in left:
        if budget <= 0:
            break
        capped.append((day, min(points, budget)))
        budget -= capped[-1][1]
    return capped


def expiring_by(ledger: Ledger, day: date, valid_days: int) -> int:
    """The points that have lapsed by the start of ``day`` and are still on the balance."""
    return sum(points for lapse, points in lapses(ledger, valid_days) if lapse <= day)


def expire(ledger: Ledger, *, on: date, valid_days: int, now: datetime) -> list[LoyaltyEvent]:
    """Expire what lapses on ``on`` (and any earlier lapse not applied yet), once per lapse
    day: running it again for the same day appends nothing."""
    lapse = on.isoformat()
    if lapse in ledger.lapsed or lapse_moment(on) > now:
        return []
    points = expiring_by(ledger, on, valid_days)
    if points <= 0:
        return []
    fact = PointsExpired(
        customer_id=ledger.customer_id,
        points=points,
        lapse=lapse,
        earned_before=(on - timedelta(days=valid_days)).isoformat(),
    )
    return with_tier_change(ledger, [fact], now)
