"""The read side: how a payment and a settlement report look to callers."""

from __future__ import annotations

from typing import Any

from bobaku.services.payment.adapters.read_models import SettlementCounters
from bobaku.services.payment.domain.fees import FEE_TABLE, ROUNDING_RULE
from bobaku.services.payment.domain.model import Payment
from bobaku.services.payment.domain.settlement import sum_figures, with_net


def payment_view(payment: Payment) -> dict[str, Any]:
    return {
        "intent_id": payment.intent_id,
        "order_id": payment.order_id,
        "franchise_id": payment.franchise_id,
        "outlet_id": payment.outlet_id,
        "customer_id": payment.customer_id,
        "provider": payment.provider,
        "amount": payment.amount,
        "currency": "IDR",
        "status": payment.status,
        "action": payment.action,
        "transaction_id": payment.transaction_id,
        "created_at": payment.created_at,
        "expires_at": payment.expires_at,
        "paid_at": payment.paid_at,
        "failure_reason": payment.failure_reason,
        "ended_at": payment.ended_at,
        "late_capture": payment.late_capture,
        "captured_amount": payment.captured_amount,
        "refunded_amount": payment.refunded_amount,
        "refundable_amount": payment.refundable_amount,
        "chargeback_amount": payment.chargeback_amount,
        "refunds": [
            {
                "refund_id": r.refund_id,
                "amount": r.amount,
                "reason": r.reason,
                "status": r.status,
                "automatic": r.automatic,
                "requested_by": r.requested_by,
                "requested_at": r.requested_at,
                "completed_at": r.completed_at,
                "provider_refund_id": r.provider_refund_id,
                "failure": r.failure,
            }
            for r in payment.refunds.values()
        ],
        "disputes": [
            {
                "dispute_id": d.dispute_id,
                "amount": d.amount,
                "reason": d.reason,
                "status": d.status,
                "opened_at": d.opened_at,
                "resolved_at": d.resolved_at,
                "evidence": list(d.evidence),
            }
            for d in payment.disputes.values()
        ],
    }


def intent_view(payment: Payment) -> dict[str, Any]:
    """What ``POST /internal/intents`` answers (the order saga's view of the intent)."""
    return {
        "intent_id": payment.intent_id,
        "order_id": payment.order_id,
        "provider": payment.provider,
        "amount": payment.amount,
        "status": payment.status,
        "action": payment.action,
        "transaction_id": payment.transaction_id,
        "expires_at": payment.expires_at,
    }


def fee_table() -> dict[str, Any]:
    return {
        "providers": {name: rule.describe() for name, rule in FEE_TABLE.items()},
        "rounding": ROUNDING_RULE,
    }


async def settlement_report(
    counters: SettlementCounters,
    franchise_id: str,
    day: str,
    timezone: str,
    outlet_id: str | None = None,
) -> dict[str, Any]:
    docs = await counters.of_day(franchise_id, day, outlet_id)
    outlets = [
        {
            "outlet_id": doc["outlet_id"],
            **with_net(doc.get("totals", {})),
            "by_provider": {
                name: with_net(figures)
                for name, figures in sorted(doc.get("by_provider", {}).items())
            },
        }
        for doc in docs
    ]
    return {
        "date": day,
        "timezone": timezone,
        "currency": "IDR",
        "franchise_id": franchise_id,
        "outlet_id": outlet_id,
        "franchise": sum_figures([o for o in outlets]),
        "outlets": outlets,
        "fee_table": fee_table(),
    }
