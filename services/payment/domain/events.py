"""The Payment aggregate's events: its whole history, stored on ``es.payment.<fr>.<intent>``.

Every event names the intent, the order, the franchise and the outlet, so a consumer (the
order saga, the settlement projector) needs nothing else to place it. Times are UTC
ISO-8601 strings, amounts integer rupiah. Schemas: ``kernel/events/schemas/payment.*``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class PaymentEvent:
    type: ClassVar[str]
    intent_id: str
    order_id: str
    franchise_id: str
    outlet_id: str

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class IntentCreated(PaymentEvent):
    type: ClassVar[str] = "payment.intent_created"
    customer_id: str
    provider: str
    amount: int
    currency: str = "IDR"
    transaction_id: str
    action: dict[str, Any]
    created_at: str
    expires_at: str


@dataclass(frozen=True, kw_only=True)
class Captured(PaymentEvent):
    """The provider settled the charge. ``late``: it settled after the intent had ended
    (expired, voided, failed), so the money goes straight back (a refund follows)."""

    type: ClassVar[str] = "payment.captured"
    customer_id: str
    provider: str
    transaction_id: str
    amount: int
    paid_at: str
    late: bool = False


@dataclass(frozen=True, kw_only=True)
class Failed(PaymentEvent):
    type: ClassVar[str] = "payment.failed"
    transaction_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Expired(PaymentEvent):
    type: ClassVar[str] = "payment.expired"
    expires_at: str
    expired_at: str


@dataclass(frozen=True, kw_only=True)
class Voided(PaymentEvent):
    type: ClassVar[str] = "payment.voided"
    reason: str
    voided_at: str


@dataclass(frozen=True, kw_only=True)
class RefundRequested(PaymentEvent):
    """Money set aside for a refund before the provider is asked: concurrent refunds race on
    the aggregate's sequence here, so together they can never exceed what was captured."""

    type: ClassVar[str] = "payment.refund_requested"
    refund_id: str
    amount: int
    reason: str
    idempotency_key: str
    automatic: bool = False
    requested_by: str
    requested_at: str


@dataclass(frozen=True, kw_only=True)
class Refunded(PaymentEvent):
    type: ClassVar[str] = "payment.refunded"
    customer_id: str
    provider: str
    transaction_id: str
    refund_id: str
    amount: int
    reason: str
    provider_refund_id: str
    total_refunded: int
    full: bool
    automatic: bool = False
    refunded_at: str


@dataclass(frozen=True, kw_only=True)
class RefundFailed(PaymentEvent):
    """The provider refused the refund; the amount set aside is refundable again."""

    type: ClassVar[str] = "payment.refund_failed"
    refund_id: str
    amount: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class DisputeOpened(PaymentEvent):
    type: ClassVar[str] = "payment.dispute_opened"
    dispute_id: str
    transaction_id: str
    amount: int
    reason: str
    opened_at: str


@dataclass(frozen=True, kw_only=True)
class DisputeEvidenceSubmitted(PaymentEvent):
    type: ClassVar[str] = "payment.dispute_evidence_submitted"
    dispute_id: str
    text: str
    submitted_by: str
    submitted_at: str


@dataclass(frozen=True, kw_only=True)
class DisputeWon(PaymentEvent):
    type: ClassVar[str] = "payment.dispute_won"
    dispute_id: str
    amount: int
    resolved_at: str


@dataclass(frozen=True, kw_only=True)
class DisputeLost(PaymentEvent):
    """A chargeback: the disputed amount goes back to the customer's bank."""

    type: ClassVar[str] = "payment.dispute_lost"
    dispute_id: str
    amount: int
    resolved_at: str


EVENT_TYPES: dict[str, type[PaymentEvent]] = {
    cls.type: cls
    for cls in (
        IntentCreated,
        Captured,
        Failed,
        Expired,
        Voided,
        RefundRequested,
        Refunded,
        RefundFailed,
        DisputeOpened,
        DisputeEvidenceSubmitted,
        DisputeWon,
        DisputeLost,
    )
}


def event_from_data(event_type: str, data: dict[str, Any]) -> PaymentEvent | None:
    """The domain event of a stored one; unknown types and fields are ignored, as the
    envelope contract asks of every consumer. ``ValueError`` if a required field is missing."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        return None
    known = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:  # a required field is missing: not one of our events
        raise ValueError(f"{event_type} data does not fit the payment event: {exc}") from exc
