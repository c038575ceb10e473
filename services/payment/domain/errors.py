"""What can go wrong with a payment, in the platform's one error hierarchy."""

from __future__ import annotations

from bobaku.kernel.errors import Conflict, NotFound, ValidationFailed


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class IntentConflict(Conflict):
    """The order already has an intent with other details (franchise, amount, provider…)."""

    code = "intent_conflict"


class IntentNotReady(Conflict):
    """A callback arrived before the intent it settles was recorded; the provider retries."""

    code = "intent_not_ready"


class AlreadyCaptured(Conflict):
    code = "already_captured"


class NotCaptured(Conflict):
    code = "not_captured"


class RefundExceedsCaptured(Conflict):
    code = "refund_exceeds_captured"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class CallbackMismatch(ValidationFailed):
    """A correctly signed callback that does not fit the intent (other transaction, amount)."""

    code = "callback_mismatch"


class DisputeNotFound(NotFound):
    code = "dispute_not_found"


class DisputeClosed(Conflict):
    code = "dispute_closed"


class SettlementUnconfirmed(Conflict):
    """A signed settlement the provider's own status inquiry does not bear out: nothing is
    captured; a genuine callback that overtook the provider's records is sent again."""

    code = "settlement_unconfirmed"
