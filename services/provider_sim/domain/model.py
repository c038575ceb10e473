"""Charges, refunds and disputes at a provider, and how a charge's story unfolds.

When a charge is created its *outcome* is decided: forced by the test control plane, or
drawn from the provider's behaviour rates. The outcome becomes a *plan*: the callbacks the
provider will send, in order, after the settlement delay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bobaku.services.provider_sim.domain.providers import FAILURE_REASONS, Provider


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    # The provider never calls back (the customer walked away, or the provider lost it).
    TIMEOUT = "timeout"
    # The settlement callback is delivered twice.
    DUPLICATE = "duplicate"
    # The charge settles, then a stale failure (from an earlier, declined attempt) arrives.
    REORDER = "reorder"


class ChargeStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass
class Behaviour:
    """How one provider behaves for charges without a forced outcome."""

    settlement_delay_s: float
    failure_rate: float
    timeout_rate: float
    duplicate_rate: float
    reorder_rate: float
    # Share of merchant API calls (charges, refunds) answered 503, as during an outage.
    api_error_rate: float = 0.0

    def draw(self, rng: random.Random) -> Outcome:
        roll = rng.random()
        for outcome, rate in (
            (Outcome.FAILURE, self.failure_rate),
            (Outcome.TIMEOUT, self.timeout_rate),
            (Outcome.DUPLICATE, self.duplicate_rate),
            (Outcome.REORDER, self.reorder_rate),
        ):
            if roll < rate:
                return outcome
            roll -= rate
        return Outcome.SUCCESS

    def as_dict(self) -> dict[str, float]:
        return {
            "settlement_delay_s": self.settlement_delay_s,
            "failure_rate": self.failure_rate,
            "timeout_rate": self.timeout_rate,
            "duplicate_rate": self.duplicate_rate,
            "reorder_rate": self.reorder_rate,
            "api_error_rate": self.api_error_rate,
        }


INSTANT = Behaviour(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ForcedOutcome:
    """A test's decision for one charge: what happens, and optionally after how long."""

    outcome: Outcome
    delay_s: float | None = None


@dataclass
class CallbackRecord:
    """One notification and what became of its delivery (for the control plane)."""

    notification_id: str
    event: str
    attempts: int = 0
    delivered: bool = False
    last_status: int | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "event": self.event,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


@dataclass
class Refund:
    refund_id: str
    amount: int
    idempotency_key: str
    created_at: datetime
    requests: int = 1


@dataclass
class Charge:
    provider: Provider
    transaction_id: str
    merchant_ref: str
    amount: int
    callback_url: str
    idempotency_key: str
    created_at: datetime
    expires_at: datetime
    action: dict[str, Any]
    outcome: Outcome
    delay_s: float
    status: ChargeStatus = ChargeStatus.PENDING
    paid_at: datetime | None = None
    failure_reason: str | None = None
    # How many charge requests carried this charge's idempotency key.
    requests: int = 1
    refunds: list[Refund] = field(default_factory=list)
    callbacks: list[CallbackRecord] = field(default_factory=list)

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds)

    @property
    def refund_requests(self) -> int:
        return sum(r.requests for r in self.refunds)

    def same_request(self, merchant_ref: str, amount: int, callback_url: str) -> bool:
        return (merchant_ref, amount, callback_url) == (
            self.merchant_ref,
            self.amount,
            self.callback_url,
        )

    def status_at(self, now: datetime) -> ChargeStatus:
        if self.status is ChargeStatus.PENDING and now >= self.expires_at:
            return ChargeStatus.EXPIRED
        return self.status


@dataclass
class Dispute:
    dispute_id: str
    provider: Provider
    transaction_id: str
    amount: int
    reason: str
    opened_at: datetime
    status: str = "open"
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Notification:
    """A callback to send: its event name and its JSON body."""

    notification_id: str
    event: str
    body: dict[str, Any]


def failure_reason(provider: Provider, rng: random.Random) -> str:
    return rng.choice(FAILURE_REASONS[provider])


def charge_body(charge: Charge, event: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": event,
        "provider": str(charge.provider),
        "transaction_id": charge.transaction_id,
        "merchant_ref": charge.merchant_ref,
        "amount": charge.amount,
    }
    body.update(extra)
    return body


def dispute_body(charge: Charge, dispute: Dispute, event: str, **extra: Any) -> dict[str, Any]:
    body = charge_body(charge, event, **extra)
    body.update({"dispute_id": dispute.dispute_id, "amount": dispute.amount})
    return body
