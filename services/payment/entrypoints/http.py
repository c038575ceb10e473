"""HTTP routes of the payment service (docs/contracts.md, "Payment service")."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bobaku.kernel.auth import FRANCHISE_MANAGERS, OUTLET_MANAGERS, OUTLET_STAFF, Principal, Role
from bobaku.kernel.errors import BadRequest, Forbidden, Unauthorized, ValidationFailed
from bobaku.kernel.events.envelope import parse_utc
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import PAGE_QUERY, as_str, page_of, page_request, query_date
from bobaku.kernel.web import DATABASES, RequestBody, ok, principal, read_json
from bobaku.services.payment.adapters.providers import SIGNATURE_HEADER, verify_signature
from bobaku.services.payment.adapters.read_models import PaymentViews, SettlementCounters
from bobaku.services.payment.domain.commands import (
    CreateIntent,
    RecordProviderCallback,
    RefundPayment,
    SubmitDisputeEvidence,
    VoidIntent,
)
from bobaku.services.payment.domain.errors import PaymentNotFound
from bobaku.services.payment.domain.fees import PROVIDERS
from bobaku.services.payment.domain.ids import (
    CUSTOMER_ID,
    DISPUTE_ID,
    FRANCHISE_ID,
    INTENT_ID,
    ORDER_ID,
    OUTLET_ID,
    intent_id_for,
)
from bobaku.services.payment.domain.model import Payment, Refund
from bobaku.services.payment.domain.settlement import business_day
from bobaku.services.payment.service_layer import handlers
from bobaku.services.payment.service_layer.handlers import PaymentContext
from bobaku.services.payment.service_layer.views import (
    intent_view,
    payment_view,
    settlement_report,
)

security_log = logging.getLogger("bobaku.security")

CONTEXT = web.AppKey("payment_context", PaymentContext)
COUNTERS = web.AppKey("settlement_counters", SettlementCounters)
VIEWS = web.AppKey("payment_views", PaymentViews)

api = Api("payment", "Payment intents with the providers, refunds, disputes and settlement")

ProviderName = Literal["gopay", "ovo", "dana", "shopeepay", "qris", "card"]
STATUSES = (
    "pending",
    "captured",
    "partially_refunded",
    "refunded",
    "failed",
    "expired",
    "voided",
)


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


MANAGERS = (*OUTLET_MANAGERS, Role.SERVICE)


# -- bodies and views ------------------------------------------------------------------


class IntentRequest(RequestBody):
    order_id: str = Field(pattern=ORDER_ID)
    franchise_id: str = Field(pattern=FRANCHISE_ID)
    outlet_id: str = Field(pattern=OUTLET_ID)
    customer_id: str = Field(pattern=CUSTOMER_ID)
    provider: ProviderName
    amount: int = Field(ge=1, le=100_000_000)


class VoidRequest(RequestBody):
    reason: str = Field(default="voided by the order service", min_length=1, max_length=200)


class RefundRequest(RequestBody):
    amount: int = Field(ge=1, le=100_000_000)
    reason: str = Field(min_length=1, max_length=200)


class EvidenceRequest(RequestBody):
    text: str = Field(min_length=1, max_length=5000)


class ProviderCallback(BaseModel):
    """A provider's callback. Unknown fields are ignored: providers add fields over time."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event: str = Field(min_length=1, max_length=64)
    transaction_id: str = Field(min_length=1, max_length=64)
    merchant_ref: str = Field(pattern=INTENT_ID)
    amount: int = Field(ge=0, le=1_000_000_000)
    paid_at: datetime | None = None
    failure_reason: str | None = Field(default=None, max_length=200)
    dispute_id: str | None = Field(default=None, pattern=DISPUTE_ID)
    reason: str | None = Field(default=None, max_length=200)


class IntentView(BaseModel):
    intent_id: str
    order_id: str
    provider: str
    amount: int
    status: str
    action: dict[str, Any]
    transaction_id: str
    expires_at: str


class RefundView(BaseModel):
    refund_id: str
    intent_id: str
    amount: int
    reason: str
    status: str
    automatic: bool
    provider_refund_id: str | None
    requested_at: str
    completed_at: str | None
    total_refunded: int
    refundable_amount: int


class DisputeView(BaseModel):
    dispute_id: str
    amount: int
    reason: str
    status: str
    opened_at: str
    resolved_at: str | None
    evidence: list[dict[str, str]]


class PaymentView(IntentView):
    franchise_id: str
    outlet_id: str
    customer_id: str
    currency: str
    created_at: str
    paid_at: str | None
    failure_reason: str | None
    ended_at: str | None
    late_capture: bool
    captured_amount: int
    refunded_amount: int
    refundable_amount: int
    chargeback_amount: int
    refunds: list[dict[str, Any]]
    disputes: list[DisputeView]


class PaymentPage(BaseModel):
    items: list[PaymentView]
    next_cursor: str | None


class Figures(BaseModel):
    captured: int
    refunded: int
    chargebacks: int
    provider_fees: int
    net: int
    count: int


class OutletSettlement(Figures):
    outlet_id: str
    by_provider: dict[str, Figures]


class SettlementReport(BaseModel):
    date: str
    timezone: str
    currency: str
    franchise_id: str
    outlet_id: str | None
    franchise: Figures
    outlets: list[OutletSettlement]
    fee_table: dict[str, Any]


class CallbackReceipt(BaseModel):
    received: bool
    recorded: list[str]


def refund_view(payment: Payment, refund: Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "intent_id": payment.intent_id,
        "amount": refund.amount,
        "reason": refund.reason,
        "status": refund.status,
        "automatic": refund.automatic,
        "provider_refund_id": refund.provider_refund_id,
        "requested_at": refund.requested_at,
        "completed_at": refund.completed_at,
        "total_refunded": payment.refunded_amount,
        "refundable_amount": payment.refundable_amount,
    }


# -- who may see and do what -----------------------------------------------------------


def authorize_read(who: Principal, payment: Payment) -> None:
    """Customers see their own payments, staff their outlets', owners their franchise's."""
    if who.has_role(Role.HQ_ADMIN, Role.SERVICE):
        return
    if who.has_role(Role.FRANCHISE_OWNER):
        who.require_franchise(payment.franchise_id)
        return
    if who.has_role(Role.OUTLET_MANAGER, Role.STAFF):
        who.require_outlet(payment.franchise_id, payment.outlet_id)
        return
    if who.has_role(Role.CUSTOMER) and who.subject == payment.customer_id:
        return
    security_log.warning(
        "access to another customer's payment refused",
        extra={
            "security_event": "foreign_payment",
            "subject": who.subject,
            "intent_id": payment.intent_id,
        },
    )
    raise Forbidden("you may not see this payment", details={"intent_id": payment.intent_id})


def authorize_refund(who: Principal, payment: Payment) -> None:
    who.require_role(*MANAGERS)
    if who.has_role(Role.HQ_ADMIN, Role.SERVICE):
        return
    if who.has_role(Role.FRANCHISE_OWNER):
        who.require_franchise(payment.franchise_id)
        return
    who.require_outlet(payment.franchise_id, payment.outlet_id)


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise BadRequest(
            "send an Idempotency-Key header so a retried refund is not paid twice",
            details={"field": "Idempotency-Key"},
        )
    if len(key) > 128:
        raise _invalid("Idempotency-Key", "at most 128 characters")
    return key


def _invalid(name: str, problem: str) -> ValidationFailed:
    return ValidationFailed(
        f"{name} is invalid", details={"fields": [{"field": name, "problem": problem}]}
    )


def _path_id(request: web.Request, name: str, pattern: str) -> str:
    value = request.match_info[name]
    if not re.match(pattern, value):
        raise PaymentNotFound(f"no payment {value}", details={name: value})
    return value


def _query(request: web.Request, name: str, pattern: str | None = None) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if pattern and not re.match(pattern, value):
        raise _invalid(name, f"must match {pattern}")
    return value


async def _optional_body(request: web.Request, model: type[VoidRequest]) -> VoidRequest:
    """Void may come without a body (the order saga sends none)."""
    if not request.can_read_body:
        return model()
    return await read_json(request, model)


# -- internal: the order saga ------------------------------------------------------------


@api.post(
    "/internal/intents",
    summary="Open the payment intent of an order (idempotent on order_id)",
    body=IntentRequest,
    response=IntentView,
    status=201,
    errors=(409, 502, 503, 504),
    tags=("internal",),
)
async def create_intent(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    body = await read_json(request, IntentRequest)
    payment = await handlers.create_intent(
        request.app[CONTEXT],
        CreateIntent(
            order_id=body.order_id,
            franchise_id=body.franchise_id,
            outlet_id=body.outlet_id,
            customer_id=body.customer_id,
            provider=body.provider,
            amount=body.amount,
        ),
    )
    return ok(intent_view(payment), status=201)


@api.post(
    "/internal/intents/{intent_id}/void",
    summary="Cancel a pending intent (idempotent); 409 already_captured once it was paid",
    response=IntentView,
    errors=(404, 409, 415, 422),
    tags=("internal",),
)
async def void_intent(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    intent_id = _path_id(request, "intent_id", INTENT_ID)
    body = await _optional_body(request, VoidRequest)
    payment = await handlers.void_intent(request.app[CONTEXT], VoidIntent(intent_id, body.reason))
    return ok(intent_view(payment))


# -- providers ---------------------------------------------------------------------------


@api.post(
    "/webhooks/{provider}",
    summary="A provider's signed callback (charge settled/failed, dispute opened/won/lost)",
    body=ProviderCallback,
    response=CallbackReceipt,
    errors=(401, 404, 409),
    auth=False,
    tags=("providers",),
)
async def receive_provider_callback(request: web.Request) -> web.Response:
    provider = request.match_info["provider"]
    if provider not in PROVIDERS:
        raise PaymentNotFound(f"unknown provider {provider!r}", details={"provider": provider})
    ctx = request.app[CONTEXT]
    raw = await request.read()
    header = request.headers.get(SIGNATURE_HEADER)
    if not verify_signature(ctx.settings.secret_of(provider), raw, header):
        security_log.warning(
            "provider callback with a forged or missing signature refused",
            extra={
                "security_event": "forged_webhook",
                "provider": provider,
                "remote": request.remote,
                "signature_present": bool(header),
            },
        )
        raise InvalidSignature(
            f"the {SIGNATURE_HEADER} header does not sign this body with {provider}'s secret",
            details={"header": SIGNATURE_HEADER},
        )
    body = await read_json(request, ProviderCallback)
    recorded = await handlers.record_provider_callback(
        ctx,
        RecordProviderCallback(
            provider=provider,
            event=body.event,
            merchant_ref=body.merchant_ref,
            transaction_id=body.transaction_id,
            amount=body.amount,
            paid_at=body.paid_at,
            failure_reason=body.failure_reason,
            dispute_id=body.dispute_id,
            reason=body.reason,
        ),
    )
    return ok({"received": True, "recorded": recorded})


# -- payments ----------------------------------------------------------------------------


@api.get(
    "/payments/{intent_id}",
    summary="A payment with its refunds and disputes",
    response=PaymentView,
    errors=(404,),
)
async def get_payment(request: web.Request) -> web.Response:
    who = principal(request)
    intent_id = _path_id(request, "intent_id", INTENT_ID)
    loaded = await handlers.load_payment(request.app[CONTEXT], intent_id)
    assert loaded.payment is not None
    authorize_read(who, loaded.payment)
    return ok(payment_view(loaded.payment))


@api.get(
    "/payments",
    summary="Payments: the one of an order (?order_id=), or a franchise's, newest first",
    response=PaymentPage,
    errors=(403, 404, 422),
    query=(
        ("order_id", "string", "the payment of this order"),
        ("franchise_id", "string", "hq_admin: whose payments (others: their own franchise)"),
        ("outlet_id", "string", "only this outlet's"),
        ("status", "string", "only payments in this status"),
        ("provider", "string", "only this provider's"),
        *PAGE_QUERY,
    ),
)
async def list_payments(request: web.Request) -> web.Response:
    who = principal(request)
    order_id = _query(request, "order_id", ORDER_ID)
    if order_id is not None:
        return await _payment_of_order(request, who, order_id)
    if not who.has_role(*OUTLET_STAFF):
        raise _invalid("order_id", "customers look their payments up by order_id")
    franchise_id = _query(request, "franchise_id", FRANCHISE_ID) or who.franchise_id
    if franchise_id is None:
        raise _invalid("franchise_id", "Field required")
    who.require_franchise(franchise_id)
    await _require_known_franchise(request, who, franchise_id)
    outlets: list[str] | None = None
    outlet_id = _query(request, "outlet_id", OUTLET_ID)
    if outlet_id is not None:
        await _require_outlet(request, who, franchise_id, outlet_id)
        outlets = [outlet_id]
    elif not who.has_role(*FRANCHISE_MANAGERS):
        outlets = sorted(who.outlet_ids)
    status = _query(request, "status")
    if status is not None and status not in STATUSES:
        raise _invalid("status", "one of " + ", ".join(STATUSES))
    provider = _query(request, "provider")
    if provider is not None and provider not in PROVIDERS:
        raise _invalid("provider", "one of " + ", ".join(PROVIDERS))
    wanted = page_request(request.query, _payment_cursor)
    docs = await request.app[VIEWS].page(
        franchise_id,
        outlets=outlets,
        status=status,
        provider=provider,
        limit=wanted.limit + 1,
        after=wanted.cursor,
    )
    page, next_cursor = page_of(docs, wanted.limit, _encode_cursor)
    items = [{k: v for k, v in d.items() if k not in ("_id", "created_at_ts")} for d in page]
    return ok({"items": items, "next_cursor": next_cursor})


async def _require_known_franchise(request: web.Request, who: Principal, franchise_id: str) -> None:
    """HQ may name any franchise: one without a database is a 404 (and none is created).
    Everyone else names their own, which their token vouches for."""
    if who.has_role(Role.HQ_ADMIN):
        if await request.app[CONTEXT].directory.knows_franchise(franchise_id):
            return
        await request.app[DATABASES].existing_franchise(franchise_id)


async def _require_outlet(
    request: web.Request, who: Principal, franchise_id: str, outlet_id: str
) -> None:
    """The caller may see this outlet of this franchise: 403 and a security event when it
    is another franchise's outlet, even for the owner of ``franchise_id``."""
    who.require_outlet(franchise_id, outlet_id)
    if who.has_role(Role.HQ_ADMIN):
        return
    franchises = await request.app[CONTEXT].directory.outlet_franchises(outlet_id)
    if franchises and franchise_id not in franchises:
        who.require_franchise(min(franchises))


async def _payment_of_order(request: web.Request, who: Principal, order_id: str) -> web.Response:
    try:
        loaded = await handlers.load_payment(request.app[CONTEXT], intent_id_for(order_id))
    except PaymentNotFound:
        return ok({"items": [], "next_cursor": None})
    assert loaded.payment is not None
    authorize_read(who, loaded.payment)
    return ok({"items": [payment_view(loaded.payment)], "next_cursor": None})


def _payment_cursor(value: Any) -> tuple[datetime, str]:
    at, intent_id = value
    return parse_utc(at), as_str(intent_id)


def _encode_cursor(doc: dict[str, Any]) -> list[str]:
    return [doc["created_at_ts"], doc["_id"]]


@api.post(
    "/payments/{intent_id}/refunds",
    summary="Refund part or all of a captured payment (Idempotency-Key required)",
    body=RefundRequest,
    response=RefundView,
    status=201,
    errors=(404, 409, 502, 503, 504),
)
async def refund_payment(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*MANAGERS)
    intent_id = _path_id(request, "intent_id", INTENT_ID)
    key = idempotency_key(request)
    body = await read_json(request, RefundRequest)
    ctx = request.app[CONTEXT]
    loaded = await handlers.load_payment(ctx, intent_id)
    assert loaded.payment is not None
    authorize_refund(who, loaded.payment)
    payment, refund = await handlers.refund_payment(
        ctx, RefundPayment(intent_id, body.amount, body.reason, key, who.subject)
    )
    return ok(refund_view(payment, refund), status=201)


@api.post(
    "/payments/{intent_id}/disputes/{dispute_id}/evidence",
    summary="Submit evidence for an open dispute",
    body=EvidenceRequest,
    response=DisputeView,
    status=201,
    errors=(404, 409),
)
async def submit_dispute_evidence(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*FRANCHISE_MANAGERS)
    intent_id = _path_id(request, "intent_id", INTENT_ID)
    dispute_id = request.match_info["dispute_id"]
    body = await read_json(request, EvidenceRequest)
    ctx = request.app[CONTEXT]
    loaded = await handlers.load_payment(ctx, intent_id)
    assert loaded.payment is not None
    who.require_franchise(loaded.payment.franchise_id)
    payment = await handlers.submit_dispute_evidence(
        ctx, SubmitDisputeEvidence(intent_id, dispute_id, body.text, who.subject)
    )
    view = next(d for d in payment_view(payment)["disputes"] if d["dispute_id"] == dispute_id)
    return ok(view, status=201)


# -- reports -----------------------------------------------------------------------------


@api.get(
    "/reports/settlement",
    summary="Daily settlement per outlet and per franchise, with provider fees",
    response=SettlementReport,
    errors=(403, 404, 422),
    query=(
        ("date", "string", "business day YYYY-MM-DD (default: today in SETTLEMENT_TIMEZONE)"),
        ("franchise_id", "string", "required for hq_admin; owners get their own"),
        ("outlet_id", "string", "only this outlet"),
    ),
)
async def get_settlement_report(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*FRANCHISE_MANAGERS)
    franchise_id = _query(request, "franchise_id", FRANCHISE_ID) or who.franchise_id
    if franchise_id is None:
        raise _invalid("franchise_id", "Field required")
    who.require_franchise(franchise_id)
    await _require_known_franchise(request, who, franchise_id)
    outlet_id = _query(request, "outlet_id", OUTLET_ID)
    if outlet_id is not None:
        await _require_outlet(request, who, franchise_id, outlet_id)
    timezone = request.app[CONTEXT].settings.settlement_timezone
    day = query_date(request.query) or business_day(
        request.app[CONTEXT].clock(), ZoneInfo(timezone)
    )
    report = await settlement_report(request.app[COUNTERS], franchise_id, day, timezone, outlet_id)
    return ok(report)
