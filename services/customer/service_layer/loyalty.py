"""Loyalty use cases: earn on payment, reverse on refund, redeem and release for an order.

Each one loads the customer's ledger, lets the domain decide, and appends the decision with
the sequence it was made on. When another writer got there first, it reloads and decides
again, so the ledger, never a read model, decides whether points can be spent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from bobaku.kernel.errors import ConcurrencyConflict, ValidationFailed
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.users import UserRepository
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.loyalty import Fact, Ledger, Reward
from bobaku.services.customer.domain.users import UserNotFound
from bobaku.services.customer.service_layer.clock import utc_now

log = logging.getLogger(__name__)

T = TypeVar("T")
Decision = Callable[[Ledger, datetime], tuple[list[Fact], T]]

MAX_ATTEMPTS = 12


class LoyaltyService:
    def __init__(self, *, ledgers: LedgerStore, users: UserRepository) -> None:
        self.ledgers = ledgers
        self.users = users

    async def earn_for_payment(
        self, *, customer_id: str, order_id: str, amount: int, franchise_id: str | None
    ) -> int:
        """Points for a paid order (0 if the order earned already). Returns points earned."""

        def decide(ledger: Ledger, now: datetime) -> tuple[list[Fact], int]:
            facts = loyalty.earn_for_payment(
                ledger, order_id=order_id, amount=amount, now=now, franchise_id=franchise_id
            )
            return facts, _points_of(facts, loyalty.POINTS_EARNED)

        return await self._decide(customer_id, decide)

    async def reverse_for_refund(
        self, *, customer_id: str, order_id: str, refund_id: str, amount: int, full: bool
    ) -> int:
        """Take back the points a refund makes void. Returns points reversed."""

        def decide(ledger: Ledger, now: datetime) -> tuple[list[Fact], int]:
            facts = loyalty.reverse_for_refund(
                ledger, order_id=order_id, refund_id=refund_id, amount=amount, full=full, now=now
            )
            return facts, _points_of(facts, loyalty.POINTS_REVERSED)

        return await self._decide(customer_id, decide)

    async def redeem(
        self, *, customer_id: str, order_id: str, reward_ids: Sequence[str]
    ) -> dict[str, Any]:
        rewards = rewards_named(reward_ids)
        await self._require_customer(customer_id)

        def decide(ledger: Ledger, now: datetime) -> tuple[list[Fact], dict[str, Any]]:
            facts, redemption = loyalty.redeem(ledger, order_id=order_id, rewards=rewards, now=now)
            return facts, redemption.result()

        return await self._decide(customer_id, decide)

    async def release(self, *, customer_id: str, order_id: str) -> dict[str, Any]:
        def decide(ledger: Ledger, now: datetime) -> tuple[list[Fact], dict[str, Any]]:
            facts, redemption = loyalty.release(ledger, order_id=order_id, now=now)
            return facts, {
                "order_id": order_id,
                "points": redemption.points,
                "status": "released",
            }

        return await self._decide(customer_id, decide)

    async def _decide(self, customer_id: str, decide: Decision[T]) -> T:
        seq = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ledger, seq = await self.ledgers.load(customer_id)
            facts, result = decide(ledger, utc_now())
            if not facts:
                return result
            try:
                await self.ledgers.append(customer_id, facts, expected_seq=seq)
            except ConcurrencyConflict:
                log.info(
                    "ledger moved on; deciding again",
                    extra={"customer_id": customer_id, "attempt": attempt},
                )
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
                continue
            return result
        raise ConcurrencyConflict(self.ledgers.subject(customer_id), seq)

    async def _require_customer(self, customer_id: str) -> None:
        if await self.users.get(customer_id) is None:
            raise UserNotFound("no such customer", details={"customer_id": customer_id})


def rewards_named(reward_ids: Sequence[str]) -> list[Reward]:
    """The catalog's rewards for ``reward_ids``; 422 naming each unknown one."""
    unknown = [
        {"field": f"reward_ids.{i}", "problem": f"unknown reward {rid!r}", "type": "unknown_reward"}
        for i, rid in enumerate(reward_ids)
        if rid not in loyalty.REWARDS_BY_ID
    ]
    if unknown:
        raise ValidationFailed("unknown rewards", details={"fields": unknown})
    return [loyalty.REWARDS_BY_ID[rid] for rid in reward_ids]


def _points_of(facts: Sequence[Fact], fact_type: str) -> int:
    return sum(int(f.data["points"]) for f in facts if f.type == fact_type)
