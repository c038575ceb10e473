"""The payment service's handlers, one per command.

Every change follows one pattern (:func:`change`): load the payment, let the aggregate
decide which events follow, append them at the loaded sequence. If another writer got there
first (a duplicate callback, the expiry sweeper, a concurrent refund), the append fails,
the payment is reloaded and the decision taken again on the fresh state. So a capture
racing the expiry, or two refunds racing for the last rupiah, can never both win.

Calls to providers happen outside the aggregate and are made safe by idempotency keys and
by recording intent first: a refund is set aside in the aggregate (``refund_requested``)
*before* the provider is asked, and a deadline document makes sure an unanswered refund is
asked again until the provider confirms or refuses it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bobaku.kernel.auth import security_log
from bobaku.kernel.errors import BobakuError, ConcurrencyConflict, ValidationFailed
from bobaku.kernel.events.envelope import parse_utc, utc_iso
from bobaku.services.payment.adapters.documents import (
    Deadline,
    Deadlines,
    IntentDirectory,
    IntentEntry,
    expiry_key,
    refund_key,
)
from bobaku.services.payment.adapters.providers import ProviderGateway, ProviderRejected
from bobaku.services.payment.adapters.repository import LoadedPayment, PaymentRepository
from bobaku.services.payment.domain.commands import (
    CreateIntent,
    RecordProviderCallback,
    RefundPayment,
    SubmitDisputeEvidence,
    VoidIntent,
)
from bobaku.services.payment.domain.errors import (
    CallbackMismatch,
    IntentConflict,
    IntentNotReady,
    PaymentNotFound,
    SettlementUnconfirmed,
)
from bobaku.services.payment.domain.events import Captured, PaymentEvent, RefundRequested
from bobaku.services.payment.domain.ids import intent_id_for
from bobaku.services.payment.domain.model import Payment, Refund, State, open_intent, replay
from bobaku.services.payment.settings import PaymentSettings

log = logging.getLogger(__name__)

Decision = Callable[[Payment], list[PaymentEvent]]

# Appends that lose a race are decided again; this many contenders can share one payment.
MAX_ATTEMPTS = 16
# Give up on a deadline whose intent never appeared after this many looks.
MAX_DEADLINE_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PaymentContext:
    payments: PaymentRepository
    directory: IntentDirectory
    deadlines: Deadlines
    providers: ProviderGateway
    settings: PaymentSettings
    clock: Callable[[], datetime] = field(default=utcnow)

    def callback_url(self, provider: str) -> str:
        return f"{self.settings.payment_webhook_base_url.rstrip('/')}/webhooks/{provider}"


def new_refund_id(now: datetime) -> str:
    return f"rfd-{now:%Y%m%d}-{secrets.token_hex(4)}"


async def load_payment(ctx: PaymentContext, intent_id: str) -> LoadedPayment:
    """The payment with this id, wherever its franchise is; 404 if there is none."""
    entry = await ctx.directory.find(intent_id)
    if entry is not None:
        loaded = await ctx.payments.load(entry.franchise_id, intent_id)
        if loaded.payment is not None:
            return loaded
    raise PaymentNotFound(f"no payment {intent_id}", details={"intent_id": intent_id})


async def change(
    ctx: PaymentContext, franchise_id: str, intent_id: str, decide: Decision
) -> tuple[Payment, list[PaymentEvent]]:
    """Decide and append at the loaded sequence, deciding again after a lost race."""
    loaded: LoadedPayment | None = None
    for attempt in range(MAX_ATTEMPTS):
        loaded = await ctx.payments.load(franchise_id, intent_id)
        payment = loaded.payment
        if payment is None:
            raise PaymentNotFound(f"no payment {intent_id}", details={"intent_id": intent_id})
        events = decide(payment)
        if not events:
            return payment, []
        for event in events:
            if isinstance(event, RefundRequested):
                # Written before the reservation, so a crash right after it still leaves
                # the sweeper a note to finish the refund.
                await ctx.deadlines.schedule(
                    Deadline(
                        refund_key(event.refund_id),
                        "refund",
                        franchise_id,
                        intent_id,
                        ctx.clock() + timedelta(seconds=ctx.settings.payment_refund_retry_s),
                        refund_id=event.refund_id,
                    )
                )
        try:
            await ctx.payments.append(loaded, events)
        except ConcurrencyConflict:
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
            continue
        for event in events:
            payment.apply(event)
        return payment, events
    subject = ctx.payments.subject(franchise_id, intent_id)
    raise ConcurrencyConflict(subject, loaded.version if loaded else 0)


# -- intents ---------------------------------------------------------------------------


async def create_intent(ctx: PaymentContext, cmd: CreateIntent) -> Payment:
    """Open the order's payment intent with its provider; a repeat returns the same intent
    (and does not charge again)."""
    intent_id = intent_id_for(cmd.order_id)
    await ctx.directory.register(
        IntentEntry(intent_id, cmd.franchise_id, cmd.order_id, cmd.outlet_id, cmd.customer_id)
    )
    loaded = await ctx.payments.load(cmd.franchise_id, intent_id)
    if loaded.payment is not None:
        return _same_intent(loaded.payment, cmd)
    now = ctx.clock()
    expires_at = now + timedelta(seconds=ctx.settings.payment_intent_ttl_s)
    await ctx.deadlines.schedule(
        Deadline(expiry_key(intent_id), "expire", cmd.franchise_id, intent_id, expires_at)
    )
    # Idempotency-Key = intent id: racing or retried requests get the provider's one charge.
    charge = await ctx.providers.charge(
        cmd.provider, intent_id, cmd.amount, ctx.callback_url(cmd.provider)
    )
    created = open_intent(
        intent_id=intent_id,
        order_id=cmd.order_id,
        franchise_id=cmd.franchise_id,
        outlet_id=cmd.outlet_id,
        customer_id=cmd.customer_id,
        provider=cmd.provider,
        amount=cmd.amount,
        transaction_id=charge.transaction_id,
        action=charge.action,
        now=now,
        expires_at=expires_at,
    )
    try:
        await ctx.payments.append(loaded, [created])
    except ConcurrencyConflict:
        raced = await ctx.payments.load(cmd.franchise_id, intent_id)
        if raced.payment is None:
            raise
        return _same_intent(raced.payment, cmd)
    payment = replay([created])
    assert payment is not None
    return payment


def _same_intent(payment: Payment, cmd: CreateIntent) -> Payment:
    mine = (cmd.provider, cmd.amount, cmd.outlet_id, cmd.customer_id)
    theirs = (payment.provider, payment.amount, payment.outlet_id, payment.customer_id)
    if mine != theirs:
        raise IntentConflict(
            f"order {cmd.order_id} already has a payment intent with other details",
            details={
                "intent_id": payment.intent_id,
                "provider": payment.provider,
                "amount": payment.amount,
            },
        )
    return payment


async def void_intent(ctx: PaymentContext, cmd: VoidIntent) -> Payment:
    loaded = await load_payment(ctx, cmd.intent_id)
    now = ctx.clock()
    payment, _ = await change(
        ctx, loaded.franchise_id, cmd.intent_id, lambda p: p.void(cmd.reason, now)
    )
    return payment


# -- provider callbacks ----------------------------------------------------------------


async def record_provider_callback(ctx: PaymentContext, cmd: RecordProviderCallback) -> list[str]:
    """Apply a verified callback; returns the event types it caused (none for a repeat)."""
    entry = await ctx.directory.find(cmd.merchant_ref)
    if entry is None:
        raise PaymentNotFound(
            f"no payment {cmd.merchant_ref}", details={"merchant_ref": cmd.merchant_ref}
        )
    loaded = await ctx.payments.load(entry.franchise_id, cmd.merchant_ref)
    if loaded.payment is None:
        # The provider can be quicker than our own append after the charge call.
        raise IntentNotReady(
            "the intent is still being created; send the callback again",
            details={"merchant_ref": cmd.merchant_ref},
        )
    if loaded.payment.provider != cmd.provider:
        raise CallbackMismatch(
            "callback came from another provider than the intent's",
            details={"fields": [{"field": "provider", "problem": "does not match the intent"}]},
        )
    decide = _decision_for(cmd, ctx.clock())
    if decide is None:
        log.info("ignored provider callback", extra={"callback_event": cmd.event})
        return []
    try:
        # Decided once on the loaded state: a callback that contradicts the intent is refused
        # before any provider call, and one that would capture is confirmed first.
        would = decide(loaded.payment)
        if any(isinstance(e, Captured) for e in would):
            await _confirm_settlement(ctx, cmd)
        payment, events = await change(ctx, entry.franchise_id, cmd.merchant_ref, decide)
    except (CallbackMismatch, SettlementUnconfirmed) as refused:
        security_log.warning(
            "signed provider callback refused: %s",
            refused.message,
            extra={
                "security_event": "callback_refused",
                "provider": cmd.provider,
                "callback_event": cmd.event,
                "merchant_ref": cmd.merchant_ref,
                "code": refused.code,
            },
        )
        raise
    await _finish_refunds(ctx, payment, events)
    return [e.type for e in events]


async def _confirm_settlement(ctx: PaymentContext, cmd: RecordProviderCallback) -> None:
    """The provider's status inquiry must say this charge settled for this amount: a valid
    signature alone (a leaked or default secret) never turns an unpaid order into a paid one."""
    try:
        status = await ctx.providers.charge_status(cmd.provider, cmd.transaction_id)
    except ProviderRejected as exc:  # the provider knows no such charge
        raise SettlementUnconfirmed(
            f"{cmd.provider} knows no charge {cmd.transaction_id}",
            details={"transaction_id": cmd.transaction_id, "provider_status": None},
        ) from exc
    claimed = ("settled", cmd.merchant_ref, cmd.amount)
    if (status.status, status.merchant_ref, status.amount) != claimed:
        raise SettlementUnconfirmed(
            f"{cmd.provider} does not confirm that this charge settled",
            details={
                "transaction_id": cmd.transaction_id,
                "provider_status": status.status,
                "provider_amount": status.amount,
            },
        )


def _decision_for(cmd: RecordProviderCallback, now: datetime) -> Decision | None:
    tx = cmd.transaction_id
    if cmd.event == "charge.settled":
        paid_at = utc_iso(cmd.paid_at or now)
        refund_id = new_refund_id(now)  # used only if the capture must be given back
        return lambda p: p.settle(tx, cmd.amount, paid_at, refund_id, now)
    if cmd.event == "charge.failed":
        return lambda p: p.fail(tx, cmd.failure_reason or "failed")
    if cmd.event in ("dispute.opened", "dispute.won", "dispute.lost"):
        dispute_id = cmd.dispute_id
        if not dispute_id:
            raise ValidationFailed(
                "a dispute callback needs its dispute_id",
                details={"fields": [{"field": "dispute_id", "problem": "Field required"}]},
            )
        reason = cmd.reason or "unspecified"
        if cmd.event == "dispute.opened":
            return lambda p: p.open_dispute(dispute_id, tx, cmd.amount, reason, now)
        won = cmd.event == "dispute.won"
        return lambda p: p.resolve_dispute(dispute_id, tx, won, cmd.amount, reason, now)
    return None


# -- refunds ---------------------------------------------------------------------------


async def refund_payment(ctx: PaymentContext, cmd: RefundPayment) -> tuple[Payment, Refund]:
    """Set the amount aside, then ask the provider; a repeat of the same Idempotency-Key
    returns (or finishes) the same refund."""
    loaded = await load_payment(ctx, cmd.intent_id)
    now = ctx.clock()
    refund_id = new_refund_id(now)
    payment, _ = await change(
        ctx,
        loaded.franchise_id,
        cmd.intent_id,
        lambda p: p.request_refund(
            refund_id, cmd.amount, cmd.reason, cmd.idempotency_key, cmd.requested_by, now
        ),
    )
    refund = payment.refund_by_key(cmd.idempotency_key)
    assert refund is not None
    if refund.status == "pending":
        payment = await complete_refund(ctx, loaded.franchise_id, cmd.intent_id, refund.refund_id)
        refund = payment.refunds[refund.refund_id]
    if refund.status == "failed":
        raise ProviderRejected(
            f"{payment.provider} refused the refund",
            details={"refund_id": refund.refund_id, "reason": refund.failure},
        )
    return payment, refund


async def complete_refund(
    ctx: PaymentContext, franchise_id: str, intent_id: str, refund_id: str
) -> Payment:
    """Ask the provider for a refund that was set aside, and record its answer. Safe to run
    again: the provider refunds once per refund id."""
    loaded = await ctx.payments.load(franchise_id, intent_id)
    payment = loaded.payment
    refund = payment.refunds.get(refund_id) if payment else None
    if payment is None or refund is None or refund.status != "pending":
        await ctx.deadlines.done(refund_key(refund_id))
        if payment is None:
            raise PaymentNotFound(f"no payment {intent_id}", details={"intent_id": intent_id})
        return payment
    try:
        answer = await ctx.providers.refund(
            payment.provider, payment.transaction_id, refund_id, refund.amount
        )
    except ProviderRejected as err:
        log.warning(
            "provider refused a refund",
            extra={"refund_id": refund_id, "intent_id": intent_id, "details": err.details},
        )
        reason = f"{err.code}: {err.message}"
        payment, _ = await change(
            ctx, franchise_id, intent_id, lambda p: p.fail_refund(refund_id, reason)
        )
        await ctx.deadlines.done(refund_key(refund_id))
        return payment
    now = ctx.clock()
    payment, _ = await change(
        ctx,
        franchise_id,
        intent_id,
        lambda p: p.complete_refund(refund_id, answer.refund_id, now),
    )
    await ctx.deadlines.done(refund_key(refund_id))
    return payment


async def _finish_refunds(
    ctx: PaymentContext, payment: Payment, events: list[PaymentEvent]
) -> None:
    for event in events:
        if isinstance(event, RefundRequested):
            try:
                await complete_refund(ctx, payment.franchise_id, payment.intent_id, event.refund_id)
            except BobakuError as err:
                # The deadline stays: the sweeper asks the provider again later.
                log.warning(
                    "automatic refund not confirmed yet",
                    extra={"refund_id": event.refund_id, "error": err.message},
                )


# -- disputes --------------------------------------------------------------------------


async def submit_dispute_evidence(ctx: PaymentContext, cmd: SubmitDisputeEvidence) -> Payment:
    loaded = await load_payment(ctx, cmd.intent_id)
    now = ctx.clock()
    payment, _ = await change(
        ctx,
        loaded.franchise_id,
        cmd.intent_id,
        lambda p: p.submit_evidence(cmd.dispute_id, cmd.text, cmd.submitted_by, now),
    )
    return payment


# -- deadlines -------------------------------------------------------------------------


async def sweep_deadlines(ctx: PaymentContext, limit: int = 100) -> int:
    """Expire due intents and retry unconfirmed refunds; returns how many were looked at."""
    now = ctx.clock()
    due = await ctx.deadlines.due(now, limit)
    for deadline in due:
        try:
            if deadline.kind == "expire":
                await _expire(ctx, deadline, now)
            elif deadline.kind == "refund" and deadline.refund_id:
                await complete_refund(
                    ctx, deadline.franchise_id, deadline.intent_id, deadline.refund_id
                )
            else:
                await ctx.deadlines.done(deadline.key)
        except PaymentNotFound:
            await _give_up_or_retry(ctx, deadline, now)
        except Exception as exc:
            log.warning(
                "deadline not done; will try again",
                extra={"deadline": deadline.key, "error": f"{type(exc).__name__}: {exc}"},
            )
            backoff = ctx.settings.payment_refund_retry_s * 2 ** min(deadline.attempts, 5)
            await ctx.deadlines.reschedule(deadline, now + timedelta(seconds=backoff))
    return len(due)


async def _expire(ctx: PaymentContext, deadline: Deadline, now: datetime) -> None:
    loaded = await ctx.payments.load(deadline.franchise_id, deadline.intent_id)
    payment = loaded.payment
    if payment is None:
        raise PaymentNotFound(f"no payment {deadline.intent_id}")
    expires_at = parse_utc(payment.expires_at)
    if payment.state is State.PENDING and now < expires_at:
        await ctx.deadlines.reschedule(deadline, expires_at)
        return
    # Appended at the loaded sequence: if the capture got in first, expire() decides nothing.
    await change(ctx, deadline.franchise_id, deadline.intent_id, lambda p: p.expire(now))
    await ctx.deadlines.done(deadline.key)


async def _give_up_or_retry(ctx: PaymentContext, deadline: Deadline, now: datetime) -> None:
    """No aggregate yet: the intent may still be being created (or its creation failed)."""
    if deadline.attempts + 1 >= MAX_DEADLINE_ATTEMPTS:
        await ctx.deadlines.done(deadline.key)
        return
    await ctx.deadlines.reschedule(
        deadline, now + timedelta(seconds=ctx.settings.payment_sweep_interval_s * 5)
    )


async def restore_deadlines(ctx: PaymentContext, payment: Payment) -> int:
    """Set again the deadlines a payment still has, from its state (Redis lost them): its
    expiry while it is pending, and a prompt retry of each refund the provider has not
    confirmed. Returns how many; setting one that is still there changes nothing."""
    restored = []
    if payment.state is State.PENDING:
        restored.append(
            Deadline(
                expiry_key(payment.intent_id),
                "expire",
                payment.franchise_id,
                payment.intent_id,
                parse_utc(payment.expires_at),
            )
        )
    for refund in payment.refunds.values():
        if refund.status == "pending":
            restored.append(
                Deadline(
                    refund_key(refund.refund_id),
                    "refund",
                    payment.franchise_id,
                    payment.intent_id,
                    ctx.clock(),
                    refund_id=refund.refund_id,
                )
            )
    for deadline in restored:
        await ctx.deadlines.schedule(deadline)
    return len(restored)
