"""What callers ask of the payment service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CreateIntent:
    order_id: str
    franchise_id: str
    outlet_id: str
    customer_id: str
    provider: str
    amount: int


@dataclass(frozen=True)
class VoidIntent:
    intent_id: str
    reason: str = "voided by the order service"


@dataclass(frozen=True)
class RecordProviderCallback:
    """A verified callback from a provider (settlement, failure or dispute)."""

    provider: str
    event: str
    merchant_ref: str
    transaction_id: str
    amount: int
    paid_at: datetime | None = None
    failure_reason: str | None = None
    dispute_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RefundPayment:
    intent_id: str
    amount: int
    reason: str
    idempotency_key: str
    requested_by: str


@dataclass(frozen=True)
class SubmitDisputeEvidence:
    intent_id: str
    dispute_id: str
    text: str
    submitted_by: str
