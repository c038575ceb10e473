"""The payment providers' merchant APIs, and the check of their callbacks' signatures.

Every call carries an ``Idempotency-Key`` (the intent id for a charge, the refund id for a
refund), so the kernel client may retry it after a timeout without charging or refunding
twice. Each provider has its own client (and circuit breaker): a card gateway outage does
not stop GoPay payments.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.client import Reply, ServiceClient
from bobaku.kernel.errors import BobakuError
from bobaku.services.payment.domain.fees import PROVIDERS
from bobaku.services.payment.settings import PaymentSettings

SIGNATURE_HEADER = "X-Provider-Signature"


class ProviderRejected(BobakuError):
    """The provider answered and said no (a 4xx): retrying the same request will not help,
    so it is a 409 to our caller, never a retryable 5xx."""

    status = 409
    code = "provider_rejected"


class ProviderFailed(BobakuError):
    """The provider answered with a server error after our retries; the outcome is unknown."""

    status = 502
    code = "provider_error"


@dataclass(frozen=True)
class ProviderCharge:
    transaction_id: str
    action: dict[str, Any]
    expires_at: str


@dataclass(frozen=True)
class ProviderChargeStatus:
    """What the provider's status inquiry says of a charge."""

    transaction_id: str
    merchant_ref: str
    status: str  # pending, settled, failed, expired
    amount: int


@dataclass(frozen=True)
class ProviderRefund:
    refund_id: str
    status: str


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True if ``header`` is ``sha256=<hex HMAC-SHA256 of body>``; compared in constant time."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("utf-8", "replace"))


class ProviderGateway:
    def __init__(self, settings: PaymentSettings) -> None:
        self.clients = {
            provider: ServiceClient(
                f"provider-{provider}",
                settings.provider_url(provider),
                timeout_s=settings.payment_provider_timeout_s,
                retries=settings.payment_provider_retries,
                ready_path=None,  # a provider has no /readyz: the half-open trial decides
            )
            for provider in PROVIDERS
        }

    async def charge(
        self, provider: str, intent_id: str, amount: int, callback_url: str
    ) -> ProviderCharge:
        reply = await self.clients[provider].call(
            "POST",
            "/v1/charges",
            json_body={
                "merchant_ref": intent_id,
                "amount": amount,
                "currency": "IDR",
                "callback_url": callback_url,
            },
            headers={"Idempotency-Key": intent_id},
        )
        data = _data(provider, "charge", reply)
        return ProviderCharge(
            transaction_id=str(data["transaction_id"]),
            action=dict(data["action"]),
            expires_at=str(data["expires_at"]),
        )

    async def charge_status(self, provider: str, transaction_id: str) -> ProviderChargeStatus:
        """The provider's status inquiry: the settled state a callback claims is confirmed
        here before money is counted, as the providers themselves advise."""
        reply = await self.clients[provider].call("GET", f"/v1/charges/{transaction_id}")
        data = _data(provider, "status inquiry", reply)
        try:
            return ProviderChargeStatus(
                transaction_id=str(data["transaction_id"]),
                merchant_ref=str(data["merchant_ref"]),
                status=str(data["status"]),
                amount=int(data["amount"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderFailed(
                f"{provider}'s status inquiry answered without a charge",
                details={"provider": provider, "operation": "status inquiry"},
            ) from exc

    async def refund(
        self, provider: str, transaction_id: str, refund_id: str, amount: int
    ) -> ProviderRefund:
        reply = await self.clients[provider].call(
            "POST",
            f"/v1/charges/{transaction_id}/refunds",
            json_body={"amount": amount},
            headers={"Idempotency-Key": refund_id},
        )
        data = _data(provider, "refund", reply)
        return ProviderRefund(refund_id=str(data["refund_id"]), status=str(data["status"]))

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


def _data(provider: str, operation: str, reply: Reply) -> dict[str, Any]:
    try:
        payload = reply.json()
    except ValueError:
        payload = None
    if 200 <= reply.status < 300 and isinstance(payload, dict):
        data = payload.get("data", payload)
        if isinstance(data, dict):
            return data
    error = payload.get("error") if isinstance(payload, dict) else None
    details = {"provider": provider, "operation": operation, "status": reply.status}
    if isinstance(error, dict):
        details["provider_error"] = {"code": error.get("code"), "message": error.get("message")}
    if 400 <= reply.status < 500:
        raise ProviderRejected(f"{provider} refused the {operation}", details=details)
    raise ProviderFailed(f"{provider} failed the {operation}", details=details)
