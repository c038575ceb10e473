"""HTTP routes of the simulator.

Merchant API (what a real provider exposes):
``POST /{provider}/v1/charges``, ``GET /{provider}/v1/charges/{transaction_id}``,
``POST /{provider}/v1/charges/{transaction_id}/refunds``.

Control plane (what only a sandbox has, for tests and demos): ``/_control/{provider}...``
changes behaviour, forces outcomes, lists charges with their callbacks, opens and resolves
disputes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bobaku.kernel.errors import BadRequest, ValidationFailed
from bobaku.kernel.events.envelope import utc_iso
from bobaku.kernel.openapi import Api
from bobaku.kernel.web import RequestBody, ok, read_json
from bobaku.services.provider_sim.domain.model import Charge, Dispute, ForcedOutcome, Outcome
from bobaku.services.provider_sim.domain.providers import Provider
from bobaku.services.provider_sim.service_layer.simulator import ProviderSimulator, provider_of

CONTEXT = web.AppKey("provider_sim_context", ProviderSimulator)

api = Api(
    "provider-sim",
    "Simulated payment providers (GoPay, OVO, DANA, ShopeePay, QRIS, card): merchant API "
    "and test control plane",
)

MERCHANT_REF = r"^[A-Za-z0-9._:-]{1,64}$"


class ChargeRequest(RequestBody):
    merchant_ref: str = Field(pattern=MERCHANT_REF)
    amount: int = Field(ge=1, le=1_000_000_000)
    currency: Literal["IDR"]
    callback_url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)


class RefundRequest(RequestBody):
    amount: int = Field(ge=1, le=1_000_000_000)


class BehaviourChange(RequestBody):
    settlement_delay_s: float | None = Field(default=None, ge=0, le=3600)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    timeout_rate: float | None = Field(default=None, ge=0, le=1)
    duplicate_rate: float | None = Field(default=None, ge=0, le=1)
    reorder_rate: float | None = Field(default=None, ge=0, le=1)
    api_error_rate: float | None = Field(default=None, ge=0, le=1)


class ForceOutcome(RequestBody):
    outcome: Literal["success", "failure", "timeout", "duplicate", "reorder"]
    # Settle after this long instead of the provider's delay.
    delay_s: float | None = Field(default=None, ge=0, le=3600)
    # Pin the outcome to the charge with this merchant_ref instead of the next charge.
    merchant_ref: str | None = Field(default=None, pattern=MERCHANT_REF)


class OpenDispute(RequestBody):
    transaction_id: str = Field(min_length=1, max_length=64)
    amount: int = Field(ge=1, le=1_000_000_000)
    reason: str = Field(default="fraudulent", min_length=1, max_length=200)


class ResolveDispute(RequestBody):
    outcome: Literal["won", "lost"]


class ChargeView(BaseModel):
    transaction_id: str
    status: str
    action: dict[str, Any]
    expires_at: str
    provider: str
    merchant_ref: str
    amount: int
    currency: str
    paid_at: str | None = None
    failure_reason: str | None = None


class RefundView(BaseModel):
    refund_id: str
    transaction_id: str
    amount: int
    status: str


class DisputeView(BaseModel):
    dispute_id: str
    transaction_id: str
    amount: int
    reason: str
    status: str


def _iso(ts: datetime | None) -> str | None:
    return utc_iso(ts) if ts else None


def charge_view(sim: ProviderSimulator, charge: Charge) -> dict[str, Any]:
    return {
        "transaction_id": charge.transaction_id,
        "status": str(charge.status_at(sim.clock())),
        "action": charge.action,
        "expires_at": utc_iso(charge.expires_at),
        "provider": str(charge.provider),
        "merchant_ref": charge.merchant_ref,
        "amount": charge.amount,
        "currency": "IDR",
        "paid_at": _iso(charge.paid_at),
        "failure_reason": charge.failure_reason,
    }


def charge_record(sim: ProviderSimulator, charge: Charge) -> dict[str, Any]:
    """Everything the sandbox knows about a charge, for tests."""
    return {
        **charge_view(sim, charge),
        "outcome": str(charge.outcome),
        "requests": charge.requests,
        "refunded": charge.refunded,
        "refund_requests": charge.refund_requests,
        "refunds": [
            {"refund_id": r.refund_id, "amount": r.amount, "requests": r.requests}
            for r in charge.refunds
        ],
        "callbacks": [c.as_dict() for c in charge.callbacks],
    }


def behaviour_view(sim: ProviderSimulator, provider: Provider) -> dict[str, Any]:
    return {
        **sim.behaviours[provider].as_dict(),
        "failed_api_calls": sim.failed_api_calls[provider],
    }


def dispute_view(dispute: Dispute) -> dict[str, Any]:
    return {
        "dispute_id": dispute.dispute_id,
        "transaction_id": dispute.transaction_id,
        "amount": dispute.amount,
        "reason": dispute.reason,
        "status": dispute.status,
        "opened_at": utc_iso(dispute.opened_at),
        "resolved_at": _iso(dispute.resolved_at),
    }


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise BadRequest("send an Idempotency-Key header", details={"field": "Idempotency-Key"})
    if len(key) > 255:
        raise ValidationFailed(
            "Idempotency-Key is too long",
            details={"fields": [{"field": "Idempotency-Key", "problem": "at most 255 chars"}]},
        )
    return key


# -- merchant API ----------------------------------------------------------------------


@api.post(
    "/{provider}/v1/charges",
    summary="Create a charge; the result arrives later by signed callback",
    body=ChargeRequest,
    response=ChargeView,
    status=201,
    errors=(404, 409, 503),
    auth=False,
)
async def create_charge(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    key = idempotency_key(request)
    body = await read_json(request, ChargeRequest)
    charge = sim.create_charge(
        provider,
        idempotency_key=key,
        merchant_ref=body.merchant_ref,
        amount=body.amount,
        callback_url=body.callback_url,
        base_url=str(request.url.origin()),
    )
    return ok(charge_view(sim, charge), status=201)


@api.get(
    "/{provider}/v1/charges/{transaction_id}",
    summary="A charge's current status (status inquiry)",
    response=ChargeView,
    errors=(404,),
    auth=False,
)
async def get_charge(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    return ok(charge_view(sim, sim.charge(provider, request.match_info["transaction_id"])))


@api.post(
    "/{provider}/v1/charges/{transaction_id}/refunds",
    summary="Refund part or all of a settled charge",
    body=RefundRequest,
    response=RefundView,
    status=201,
    errors=(404, 409, 503),
    auth=False,
)
async def refund_charge(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    key = idempotency_key(request)
    body = await read_json(request, RefundRequest)
    tx = request.match_info["transaction_id"]
    refund = sim.refund_charge(provider, tx, idempotency_key=key, amount=body.amount)
    view = {
        "refund_id": refund.refund_id,
        "transaction_id": tx,
        "amount": refund.amount,
        "status": "succeeded",
    }
    return ok(view, status=201)


@api.get(
    "/card/3ds/{transaction_id}",
    summary="The card gateway's 3-D Secure page (a placeholder in the sandbox)",
    errors=(404,),
    auth=False,
)
async def three_d_secure_page(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    charge = sim.charge(provider_of("card"), request.match_info["transaction_id"])
    html = (
        "<!doctype html><title>3-D Secure</title>"
        f"<p>Sandbox 3-D Secure for {charge.transaction_id}: Rp{charge.amount:,}.</p>"
        f"<p>Status: {charge.status_at(sim.clock())}</p>"
    )
    return web.Response(text=html, content_type="text/html")


# -- control plane ---------------------------------------------------------------------


@api.get(
    "/_control/{provider}",
    summary="The provider's current behaviour",
    errors=(404,),
    tags=("control",),
    auth=False,
)
async def get_behaviour(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    return ok(behaviour_view(sim, provider))


@api.post(
    "/_control/{provider}",
    summary="Change settlement delay and failure/timeout/duplicate/reorder/API error rates",
    body=BehaviourChange,
    errors=(404,),
    tags=("control",),
    auth=False,
)
async def configure_behaviour(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    body = await read_json(request, BehaviourChange)
    sim.configure(provider, body.model_dump(exclude_none=True))
    return ok(behaviour_view(sim, provider))


@api.post(
    "/_control/{provider}/next",
    summary="Force the outcome of the next charge (or of the charge for merchant_ref)",
    body=ForceOutcome,
    errors=(404,),
    tags=("control",),
    auth=False,
)
async def force_next_outcome(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    body = await read_json(request, ForceOutcome)
    sim.force_outcome(
        provider, ForcedOutcome(Outcome(body.outcome), body.delay_s), body.merchant_ref
    )
    return ok(body.model_dump())


@api.get(
    "/_control/{provider}/charges",
    summary="Every charge of the provider with requests, refunds and callback deliveries",
    errors=(404,),
    tags=("control",),
    auth=False,
    query=(("merchant_ref", "string", "only the charges for this merchant reference"),),
)
async def list_charges(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    charges = sim.charges(provider, request.query.get("merchant_ref"))
    return ok({"items": [charge_record(sim, c) for c in charges], "next_cursor": None})


@api.post(
    "/_control/{provider}/disputes",
    summary="Open a dispute on a settled charge (pushed to the merchant by callback)",
    body=OpenDispute,
    response=DisputeView,
    status=201,
    errors=(404, 409),
    tags=("control",),
    auth=False,
)
async def open_dispute(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    body = await read_json(request, OpenDispute)
    dispute = sim.open_dispute(provider, body.transaction_id, body.amount, body.reason)
    return ok(dispute_view(dispute), status=201)


@api.post(
    "/_control/{provider}/disputes/{dispute_id}/resolve",
    summary="Resolve a dispute as won or lost (pushed to the merchant by callback)",
    body=ResolveDispute,
    response=DisputeView,
    errors=(404, 409),
    tags=("control",),
    auth=False,
)
async def resolve_dispute(request: web.Request) -> web.Response:
    sim = request.app[CONTEXT]
    provider = provider_of(request.match_info["provider"])
    body = await read_json(request, ResolveDispute)
    dispute = sim.resolve_dispute(provider, request.match_info["dispute_id"], body.outcome)
    return ok(dispute_view(dispute))
