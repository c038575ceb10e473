"""The simulated providers' operations: one method per command a merchant or test sends.

State lives in the :class:`Ledger` (memory). Callbacks run as background tasks, so a charge
request is answered at once and the merchant hears about the payment later, as in reality.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from bobaku.kernel.errors import Conflict, DependencyUnavailable, NotFound
from bobaku.kernel.events.envelope import utc_iso
from bobaku.services.provider_sim.adapters.callbacks import CallbackSender
from bobaku.services.provider_sim.adapters.ledger import Ledger
from bobaku.services.provider_sim.domain.model import (
    INSTANT,
    Behaviour,
    CallbackRecord,
    Charge,
    ChargeStatus,
    Dispute,
    ForcedOutcome,
    Notification,
    Outcome,
    Refund,
    charge_body,
    dispute_body,
    failure_reason,
)
from bobaku.services.provider_sim.domain.providers import (
    Provider,
    new_transaction_id,
    payment_action,
)
from bobaku.services.provider_sim.settings import ProviderSimSettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class ChargeNotSettled(Conflict):
    code = "charge_not_settled"


class RefundExceedsCharge(Conflict):
    code = "refund_exceeds_charge"


class DisputeResolved(Conflict):
    code = "dispute_resolved"


class ProviderDown(DependencyUnavailable):
    code = "provider_unavailable"


def utcnow() -> datetime:
    return datetime.now(UTC)


def provider_of(name: str) -> Provider:
    try:
        return Provider(name)
    except ValueError:
        raise NotFound(
            f"unknown provider {name!r}", details={"providers": [str(p) for p in Provider]}
        ) from None


class ProviderSimulator:
    def __init__(
        self,
        settings: ProviderSimSettings,
        sender: CallbackSender,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.rng = random.Random(settings.provider_sim_seed)
        self.ledger = Ledger()
        instant = settings.provider_sim_mode == "instant"
        self.behaviours: dict[Provider, Behaviour] = {
            p: Behaviour(**INSTANT.as_dict())
            if instant
            else Behaviour(
                settings.provider_settlement_delay_s,
                settings.provider_failure_rate,
                settings.provider_timeout_rate,
                settings.provider_duplicate_rate,
                settings.provider_reorder_rate,
                settings.provider_api_error_rate,
            )
            for p in Provider
        }
        # One slot per provider: a newer forced outcome replaces one no charge has used yet,
        # so a test that stopped early cannot hand its outcome to the next test's charge.
        self._forced_next: dict[Provider, ForcedOutcome | None] = dict.fromkeys(Provider)
        self._forced_for_ref: dict[tuple[Provider, str], ForcedOutcome] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Merchant API calls answered 503 by the simulated outage, per provider.
        self.failed_api_calls: dict[Provider, int] = dict.fromkeys(Provider, 0)

    # -- merchant API ------------------------------------------------------------------

    def create_charge(
        self,
        provider: Provider,
        *,
        idempotency_key: str,
        merchant_ref: str,
        amount: int,
        callback_url: str,
        base_url: str,
    ) -> Charge:
        """A new pending charge, or the one this idempotency key already created."""
        self._maybe_down(provider)
        existing = self.ledger.charge_by_key(provider, idempotency_key)
        if existing is not None:
            if not existing.same_request(merchant_ref, amount, callback_url):
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different charge",
                    details={"transaction_id": existing.transaction_id},
                )
            existing.requests += 1
            return existing
        now = self.clock()
        forced = self._take_forced(provider, merchant_ref)
        behaviour = self.behaviours[provider]
        outcome = forced.outcome if forced else behaviour.draw(self.rng)
        delay = (
            forced.delay_s
            if forced is not None and forced.delay_s is not None
            else behaviour.settlement_delay_s
        )
        tx = new_transaction_id(provider, self.rng)
        while self.ledger.charge(provider, tx) is not None:
            tx = new_transaction_id(provider, self.rng)
        charge = Charge(
            provider=provider,
            transaction_id=tx,
            merchant_ref=merchant_ref,
            amount=amount,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.provider_charge_ttl_s),
            action=payment_action(provider, tx, amount, base_url),
            outcome=outcome,
            delay_s=delay,
        )
        self.ledger.add_charge(charge)
        self._spawn(self._settle_later(charge))
        return charge

    def charge(self, provider: Provider, transaction_id: str) -> Charge:
        charge = self.ledger.charge(provider, transaction_id)
        if charge is None:
            raise NotFound(
                f"no {provider} charge {transaction_id}",
                details={"transaction_id": transaction_id},
            )
        return charge

    def refund_charge(
        self, provider: Provider, transaction_id: str, *, idempotency_key: str, amount: int
    ) -> Refund:
        """Give money back on a settled charge; the same key refunds once."""
        self._maybe_down(provider)
        charge = self.charge(provider, transaction_id)
        for refund in charge.refunds:
            if refund.idempotency_key == idempotency_key:
                if refund.amount != amount:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was used for a refund of another amount",
                        details={"refund_id": refund.refund_id, "amount": refund.amount},
                    )
                refund.requests += 1
                return refund
        if charge.status_at(self.clock()) is not ChargeStatus.SETTLED:
            raise ChargeNotSettled(
                "only a settled charge can be refunded",
                details={"status": str(charge.status_at(self.clock()))},
            )
        if amount > charge.amount - charge.refunded:
            raise RefundExceedsCharge(
                "refund is larger than what is left of the charge",
                details={"refundable": charge.amount - charge.refunded, "amount": amount},
            )
        refund = Refund(
            refund_id=f"{transaction_id}-r{len(charge.refunds) + 1}",
            amount=amount,
            idempotency_key=idempotency_key,
            created_at=self.clock(),
        )
        charge.refunds.append(refund)
        return refund

    # -- control plane (tests and demos) -----------------------------------------------

    def configure(self, provider: Provider, changes: dict[str, float]) -> Behaviour:
        behaviour = self.behaviours[provider]
        for name, value in changes.items():
            setattr(behaviour, name, value)
        return behaviour

    def force_outcome(
        self, provider: Provider, forced: ForcedOutcome, merchant_ref: str | None = None
    ) -> None:
        """Decide the next charge's outcome, or the outcome of the charge for ``merchant_ref``."""
        if merchant_ref is None:
            self._forced_next[provider] = forced
        else:
            self._forced_for_ref[(provider, merchant_ref)] = forced

    def charges(self, provider: Provider, merchant_ref: str | None = None) -> list[Charge]:
        return self.ledger.charges_of(provider, merchant_ref)

    def open_dispute(
        self, provider: Provider, transaction_id: str, amount: int, reason: str
    ) -> Dispute:
        charge = self.charge(provider, transaction_id)
        if charge.status_at(self.clock()) is not ChargeStatus.SETTLED:
            raise ChargeNotSettled("only a settled charge can be disputed")
        if amount > charge.amount:
            raise RefundExceedsCharge(
                "a dispute cannot exceed the charge", details={"charge_amount": charge.amount}
            )
        dispute = Dispute(
            dispute_id=f"dsp-{self.rng.randrange(10**9, 10**10)}",
            provider=provider,
            transaction_id=transaction_id,
            amount=amount,
            reason=reason,
            opened_at=self.clock(),
        )
        self.ledger.add_dispute(dispute)
        body = dispute_body(
            charge, dispute, "dispute.opened", reason=reason, opened_at=utc_iso(dispute.opened_at)
        )
        self._spawn(self._notify(charge, "dispute.opened", body))
        return dispute

    def resolve_dispute(self, provider: Provider, dispute_id: str, outcome: str) -> Dispute:
        dispute = self.ledger.dispute(provider, dispute_id)
        if dispute is None:
            raise NotFound(f"no {provider} dispute {dispute_id}")
        if dispute.status != "open":
            raise DisputeResolved(
                f"dispute {dispute_id} is already {dispute.status}",
                details={"status": dispute.status},
            )
        dispute.status, dispute.resolved_at = outcome, self.clock()
        charge = self.charge(provider, dispute.transaction_id)
        event = f"dispute.{outcome}"
        body = dispute_body(charge, dispute, event, resolved_at=utc_iso(dispute.resolved_at))
        self._spawn(self._notify(charge, event, body))
        return dispute

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- how a charge plays out ----------------------------------------------------------

    def _maybe_down(self, provider: Provider) -> None:
        rate = self.behaviours[provider].api_error_rate
        if rate and self.rng.random() < rate:
            self.failed_api_calls[provider] += 1
            raise ProviderDown(f"{provider} is temporarily unavailable; try again")

    def _take_forced(self, provider: Provider, merchant_ref: str) -> ForcedOutcome | None:
        pinned = self._forced_for_ref.pop((provider, merchant_ref), None)
        if pinned is not None:
            return pinned
        forced, self._forced_next[provider] = self._forced_next[provider], None
        return forced

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_later(self, charge: Charge) -> None:
        await asyncio.sleep(charge.delay_s)
        now = self.clock()
        if charge.outcome is Outcome.TIMEOUT or charge.status_at(now) is ChargeStatus.EXPIRED:
            return  # nobody paid in time, or the provider lost it: no callback at all
        if charge.outcome is Outcome.FAILURE:
            charge.status = ChargeStatus.FAILED
            charge.failure_reason = failure_reason(charge.provider, self.rng)
            body = charge_body(charge, "charge.failed", failure_reason=charge.failure_reason)
            await self._notify(charge, "charge.failed", body)
            return
        charge.status, charge.paid_at = ChargeStatus.SETTLED, now
        settled = charge_body(charge, "charge.settled", paid_at=utc_iso(now))
        notification = await self._notify(charge, "charge.settled", settled)
        if charge.outcome is Outcome.DUPLICATE:
            # The same notification again, as a provider does when it missed our 200.
            await self._send(charge, notification)
        elif charge.outcome is Outcome.REORDER:
            stale = charge_body(
                charge,
                "charge.failed",
                failure_reason=failure_reason(charge.provider, self.rng),
                attempted_at=utc_iso(charge.created_at),
            )
            await self._notify(charge, "charge.failed", stale)

    async def _notify(self, charge: Charge, event: str, body: dict[str, Any]) -> Notification:
        notification = Notification(f"ntf-{secrets.token_hex(8)}", event, body)
        await self._send(charge, notification)
        return notification

    async def _send(self, charge: Charge, notification: Notification) -> None:
        record = CallbackRecord(notification.notification_id, notification.event)
        charge.callbacks.append(record)
        await self.sender.deliver(
            charge.callback_url,
            notification,
            self.settings.secret_of(str(charge.provider)),
            record,
        )
