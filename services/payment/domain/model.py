"""The Payment aggregate: one payment intent and everything that happened to its money.

Decisions are methods that look at the current state and return the events to append
(possibly none: a duplicate or stale callback changes nothing). The state only changes by
applying events, so replaying the stored history always rebuilds the same payment, and a
decision that lost a race is simply taken again on the fresh state.

    pending ──settled──▶ captured ──refunds──▶ (partially) refunded
       │                    └──disputes──▶ open → won | lost (chargeback)
       ├──failed──▶ failed  ┐
       ├──expiry──▶ expired ├──settled (late)──▶ captured + refunded automatically
       └──void────▶ voided  ┘
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bobaku.kernel.events.envelope import parse_utc, utc_iso
from bobaku.services.payment.domain.errors import (
    AlreadyCaptured,
    CallbackMismatch,
    DisputeClosed,
    DisputeNotFound,
    IdempotencyKeyReused,
    NotCaptured,
    RefundExceedsCaptured,
)
from bobaku.services.payment.domain.events import (
    Captured,
    DisputeEvidenceSubmitted,
    DisputeLost,
    DisputeOpened,
    DisputeWon,
    Expired,
    Failed,
    IntentCreated,
    PaymentEvent,
    Refunded,
    RefundFailed,
    RefundRequested,
    Voided,
)


class State(StrEnum):
    PENDING = "pending"
    CAPTURED = "captured"
    FAILED = "failed"
    EXPIRED = "expired"
    VOIDED = "voided"


ENDED_WITHOUT_CAPTURE = (State.FAILED, State.EXPIRED, State.VOIDED)


@dataclass
class Refund:
    refund_id: str
    amount: int
    reason: str
    idempotency_key: str
    automatic: bool
    requested_by: str
    requested_at: str
    status: str = "pending"  # pending → succeeded | failed
    provider_refund_id: str | None = None
    completed_at: str | None = None
    failure: str | None = None


@dataclass
class Dispute:
    dispute_id: str
    amount: int
    reason: str
    opened_at: str
    status: str = "open"  # open → won | lost
    evidence: list[dict[str, str]] = field(default_factory=list)
    resolved_at: str | None = None


@dataclass
class Payment:
    intent_id: str
    order_id: str
    franchise_id: str
    outlet_id: str
    customer_id: str
    provider: str
    amount: int
    transaction_id: str
    action: dict[str, Any]
    created_at: str
    expires_at: str
    state: State = State.PENDING
    captured_amount: int = 0
    paid_at: str | None = None
    late_capture: bool = False
    failure_reason: str | None = None
    ended_at: str | None = None
    refunds: dict[str, Refund] = field(default_factory=dict)
    disputes: dict[str, Dispute] = field(default_factory=dict)

    # -- what the history adds up to ---------------------------------------------------

    @property
    def refunded_amount(self) -> int:
        return sum(r.amount for r in self.refunds.values() if r.status == "succeeded")

    @property
    def pending_refund_amount(self) -> int:
        return sum(r.amount for r in self.refunds.values() if r.status == "pending")

    @property
    def chargeback_amount(self) -> int:
        return sum(d.amount for d in self.disputes.values() if d.status == "lost")

    @property
    def disputed_amount(self) -> int:
        return sum(d.amount for d in self.disputes.values() if d.status == "open")

    @property
    def refundable_amount(self) -> int:
        """Captured money not yet refunded, set aside for a refund, charged back, or held by
        an open dispute."""
        if self.state is not State.CAPTURED:
            return 0
        taken = (
            self.refunded_amount
            + self.pending_refund_amount
            + self.chargeback_amount
            + self.disputed_amount
        )
        return max(0, self.captured_amount - taken)

    @property
    def status(self) -> str:
        """pending, captured, partially_refunded, refunded, failed, expired or voided."""
        if self.captured_amount == 0:
            return str(self.state)
        refunded = self.refunded_amount
        if refunded >= self.captured_amount:
            return "refunded"
        if self.late_capture:
            return str(self.state)  # the automatic refund is still on its way
        return "partially_refunded" if refunded else "captured"

    def pending_refunds(self) -> list[Refund]:
        return [r for r in self.refunds.values() if r.status == "pending"]

    def refund_by_key(self, idempotency_key: str) -> Refund | None:
        for refund in self.refunds.values():
            if refund.idempotency_key == idempotency_key:
                return refund
        return None

    def _ids(self) -> dict[str, str]:
        return {
            "intent_id": self.intent_id,
            "order_id": self.order_id,
            "franchise_id": self.franchise_id,
            "outlet_id": self.outlet_id,
        }

    # -- decisions -----------------------------------------------------------------------

    def settle(
        self, transaction_id: str, amount: int, paid_at: str, refund_id: str, now: datetime
    ) -> list[PaymentEvent]:
        """The provider says the customer paid. Once captured, a repeat changes nothing; if
        the intent had already ended, the money is captured and refunded automatically."""
        self._check_transaction(transaction_id)
        if amount != self.amount:
            raise CallbackMismatch(
                "settled amount differs from the intent's amount",
                details={"fields": [{"field": "amount", "problem": f"expected {self.amount}"}]},
            )
        if self.captured_amount:
            return []
        captured = Captured(
            **self._ids(),
            customer_id=self.customer_id,
            provider=self.provider,
            transaction_id=transaction_id,
            amount=amount,
            paid_at=paid_at,
            late=self.state in ENDED_WITHOUT_CAPTURE,
        )
        if not captured.late:
            return [captured]
        give_back = RefundRequested(
            **self._ids(),
            refund_id=refund_id,
            amount=amount,
            reason=f"captured after the intent was {self.state}",
            idempotency_key=f"late-capture-{transaction_id}",
            automatic=True,
            requested_by="payment-service",
            requested_at=utc_iso(now),
        )
        return [captured, give_back]

    def fail(self, transaction_id: str, reason: str) -> list[PaymentEvent]:
        """The provider says the charge failed: only a pending intent listens. A stale
        failure arriving after the settlement (or after expiry) changes nothing."""
        self._check_transaction(transaction_id)
        if self.state is not State.PENDING:
            return []
        return [Failed(**self._ids(), transaction_id=transaction_id, reason=reason)]

    def expire(self, now: datetime) -> list[PaymentEvent]:
        if self.state is not State.PENDING or now < parse_utc(self.expires_at):
            return []
        return [Expired(**self._ids(), expires_at=self.expires_at, expired_at=utc_iso(now))]

    def void(self, reason: str, now: datetime) -> list[PaymentEvent]:
        """Cancel a pending intent. Voiding one that already ended is a no-op; one that was
        captured cannot be voided (it must be refunded)."""
        if self.state is State.CAPTURED:
            raise AlreadyCaptured(
                "the payment was captured; refund it instead",
                details={"intent_id": self.intent_id, "status": self.status},
            )
        if self.state is not State.PENDING:
            return []
        return [Voided(**self._ids(), reason=reason, voided_at=utc_iso(now))]

    def request_refund(
        self,
        refund_id: str,
        amount: int,
        reason: str,
        idempotency_key: str,
        requested_by: str,
        now: datetime,
    ) -> list[PaymentEvent]:
        existing = self.refund_by_key(idempotency_key)
        if existing is not None:
            if existing.amount != amount:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a refund of another amount",
                    details={"refund_id": existing.refund_id, "amount": existing.amount},
                )
            return []
        if self.state is not State.CAPTURED:
            raise NotCaptured(
                "only a captured payment can be refunded",
                details={"intent_id": self.intent_id, "status": self.status},
            )
        if amount > self.refundable_amount:
            raise RefundExceedsCaptured(
                "the refund is larger than what is left to refund",
                details={
                    "amount": amount,
                    "refundable": self.refundable_amount,
                    "captured": self.captured_amount,
                    "refunded": self.refunded_amount,
                    "pending": self.pending_refund_amount,
                },
            )
        return [
            RefundRequested(
                **self._ids(),
                refund_id=refund_id,
                amount=amount,
                reason=reason,
                idempotency_key=idempotency_key,
                automatic=False,
                requested_by=requested_by,
                requested_at=utc_iso(now),
            )
        ]

    def complete_refund(
        self, refund_id: str, provider_refund_id: str, now: datetime
    ) -> list[PaymentEvent]:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.status != "pending":
            return []
        total = self.refunded_amount + refund.amount
        return [
            Refunded(
                **self._ids(),
                customer_id=self.customer_id,
                provider=self.provider,
                transaction_id=self.transaction_id,
                refund_id=refund_id,
                amount=refund.amount,
                reason=refund.reason,
                provider_refund_id=provider_refund_id,
                total_refunded=total,
                full=total >= self.captured_amount,
                automatic=refund.automatic,
                refunded_at=utc_iso(now),
            )
        ]

    def fail_refund(self, refund_id: str, reason: str) -> list[PaymentEvent]:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.status != "pending":
            return []
        return [
            RefundFailed(**self._ids(), refund_id=refund_id, amount=refund.amount, reason=reason)
        ]

    def open_dispute(
        self, dispute_id: str, transaction_id: str, amount: int, reason: str, now: datetime
    ) -> list[PaymentEvent]:
        self._check_transaction(transaction_id)
        if dispute_id in self.disputes:
            return []
        if not self.captured_amount:
            raise NotCaptured("a payment that was never captured cannot be disputed")
        if not 0 < amount <= self.captured_amount:
            raise CallbackMismatch(
                "disputed amount is not within the captured amount",
                details={
                    "fields": [{"field": "amount", "problem": f"from 1 to {self.captured_amount}"}]
                },
            )
        return [
            DisputeOpened(
                **self._ids(),
                dispute_id=dispute_id,
                transaction_id=transaction_id,
                amount=amount,
                reason=reason,
                opened_at=utc_iso(now),
            )
        ]

    def submit_evidence(
        self, dispute_id: str, text: str, submitted_by: str, now: datetime
    ) -> list[PaymentEvent]:
        dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise DisputeNotFound(
                f"payment {self.intent_id} has no dispute {dispute_id}",
                details={"dispute_id": dispute_id},
            )
        if dispute.status != "open":
            raise DisputeClosed(
                f"dispute {dispute_id} is already {dispute.status}",
                details={"status": dispute.status},
            )
        return [
            DisputeEvidenceSubmitted(
                **self._ids(),
                dispute_id=dispute_id,
                text=text,
                submitted_by=submitted_by,
                submitted_at=utc_iso(now),
            )
        ]

    def resolve_dispute(
        self,
        dispute_id: str,
        transaction_id: str,
        won: bool,
        amount: int,
        reason: str,
        now: datetime,
    ) -> list[PaymentEvent]:
        """A resolution closes an open dispute once. If it overtook the opening callback,
        the dispute is recorded as opened first, so the history stays whole."""
        events = self.open_dispute(dispute_id, transaction_id, amount, reason, now)
        dispute = self.disputes.get(dispute_id)
        if dispute is not None and dispute.status != "open":
            return []
        disputed = dispute.amount if dispute is not None else amount
        at = utc_iso(now)
        closing: PaymentEvent = (
            DisputeWon(**self._ids(), dispute_id=dispute_id, amount=disputed, resolved_at=at)
            if won
            else DisputeLost(**self._ids(), dispute_id=dispute_id, amount=disputed, resolved_at=at)
        )
        return [*events, closing]

    def _check_transaction(self, transaction_id: str) -> None:
        if transaction_id != self.transaction_id:
            raise CallbackMismatch(
                "callback is for another transaction than this intent's",
                details={
                    "fields": [{"field": "transaction_id", "problem": "does not match the intent"}]
                },
            )

    # -- applying events -----------------------------------------------------------------

    def apply(self, event: PaymentEvent) -> None:
        if isinstance(event, Captured):
            self.captured_amount = event.amount
            self.paid_at = event.paid_at
            self.late_capture = event.late
            if not event.late:
                self.state = State.CAPTURED
        elif isinstance(event, Failed):
            self.state, self.failure_reason = State.FAILED, event.reason
        elif isinstance(event, Expired):
            self.state, self.ended_at = State.EXPIRED, event.expired_at
        elif isinstance(event, Voided):
            self.state, self.ended_at = State.VOIDED, event.voided_at
        elif isinstance(event, RefundRequested):
            self.refunds[event.refund_id] = Refund(
                refund_id=event.refund_id,
                amount=event.amount,
                reason=event.reason,
                idempotency_key=event.idempotency_key,
                automatic=event.automatic,
                requested_by=event.requested_by,
                requested_at=event.requested_at,
            )
        elif isinstance(event, Refunded):
            refund = self.refunds[event.refund_id]
            refund.status = "succeeded"
            refund.provider_refund_id = event.provider_refund_id
            refund.completed_at = event.refunded_at
        elif isinstance(event, RefundFailed):
            refund = self.refunds[event.refund_id]
            refund.status, refund.failure = "failed", event.reason
        elif isinstance(event, DisputeOpened):
            self.disputes[event.dispute_id] = Dispute(
                event.dispute_id, event.amount, event.reason, event.opened_at
            )
        elif isinstance(event, DisputeEvidenceSubmitted):
            self.disputes[event.dispute_id].evidence.append(
                {"text": event.text, "by": event.submitted_by, "at": event.submitted_at}
            )
        elif isinstance(event, DisputeWon | DisputeLost):
            dispute = self.disputes[event.dispute_id]
            dispute.status = "won" if isinstance(event, DisputeWon) else "lost"
            dispute.resolved_at = event.resolved_at


def open_intent(
    *,
    intent_id: str,
    order_id: str,
    franchise_id: str,
    outlet_id: str,
    customer_id: str,
    provider: str,
    amount: int,
    transaction_id: str,
    action: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> IntentCreated:
    return IntentCreated(
        intent_id=intent_id,
        order_id=order_id,
        franchise_id=franchise_id,
        outlet_id=outlet_id,
        customer_id=customer_id,
        provider=provider,
        amount=amount,
        transaction_id=transaction_id,
        action=action,
        created_at=utc_iso(now),
        expires_at=utc_iso(expires_at),
    )


def replay(events: list[PaymentEvent]) -> Payment | None:
    """The payment a history describes; ``None`` if it has not been created."""
    if not events or not isinstance(events[0], IntentCreated):
        return None
    first = events[0]
    payment = Payment(
        intent_id=first.intent_id,
        order_id=first.order_id,
        franchise_id=first.franchise_id,
        outlet_id=first.outlet_id,
        customer_id=first.customer_id,
        provider=first.provider,
        amount=first.amount,
        transaction_id=first.transaction_id,
        action=first.action,
        created_at=first.created_at,
        expires_at=first.expires_at,
    )
    for event in events[1:]:
        payment.apply(event)
    return payment
