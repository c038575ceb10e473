"""Which platform event becomes which notification, for whom (pure functions).

Each intent carries a *cause*: the id of what happened (the event id, or for alerts that
summarise many events, the summary's own key). The notification id is derived from the
cause, the kind and the recipient, so a redelivered event maps to the same notification.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from bobaku.kernel.events import Event

ORDER_KINDS = {
    "order.being_prepared": "order_accepted",
    "order.ready": "order_ready",
    "order.refunded": "refund_done",
}
CUSTOMER_KINDS = {
    "loyalty.points_earned": "points_earned",
    "loyalty.tier_changed": "tier_changed",
    "loyalty.reward_expiring": "reward_expiring",
}
MANAGER_KINDS = {
    "supply.stock_low": "stock_low",
    "payment.dispute_opened": "dispute_opened",
}
PROVIDER_PREFIX = {
    "gpy": "gopay",
    "ovo": "ovo",
    "dna": "dana",
    "spp": "shopeepay",
    "qrs": "qris",
    "crd": "card",
}


@dataclass(frozen=True)
class Intent:
    kind: str
    cause: str
    tenant: str | None
    # Exactly one of: a customer, or an outlet/franchise whose roster is told.
    user_id: str | None = None
    outlet_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def notification_id(cause: str, kind: str, user_id: str) -> str:
    digest = hashlib.sha256(f"{cause}|{kind}|{user_id}".encode()).hexdigest()[:24]
    return f"ntf-{digest}"


def intents_for(event: Event) -> list[Intent]:
    """The customer and manager notifications one event asks for (staff rules that need
    the hub's presence or a timer are decided in the service layer)."""
    data = event.data
    if event.type in ORDER_KINDS and data.get("customer_id"):
        params: dict[str, Any] = {"order_id": data["order_id"]}
        if event.type == "order.refunded":
            params["amount"] = data.get("amount")
        if event.type == "order.being_prepared":
            params["estimated_completion"] = data.get("estimated_completion")
        return [
            Intent(
                ORDER_KINDS[event.type],
                event.id,
                event.tenant,
                user_id=str(data["customer_id"]),
                outlet_id=data.get("outlet_id"),
                params=params,
            )
        ]
    if event.type in CUSTOMER_KINDS and data.get("customer_id"):
        return [
            Intent(
                CUSTOMER_KINDS[event.type],
                _customer_cause(event),
                event.tenant or data.get("franchise_id"),
                user_id=str(data["customer_id"]),
                params={k: v for k, v in data.items() if k != "customer_id"},
            )
        ]
    if event.type in MANAGER_KINDS:
        return [
            Intent(
                MANAGER_KINDS[event.type],
                event.id,
                event.tenant or data.get("franchise_id"),
                outlet_id=data.get("outlet_id"),
                params=dict(data),
            )
        ]
    return []


def _customer_cause(event: Event) -> str:
    """A reminder that a reward lapses is about that reward and that date, whichever event
    (or how many) says so; every other fact is its own event."""
    data = event.data
    if event.type == "loyalty.reward_expiring" and data.get("reward_id"):
        return f"expiry:{data['customer_id']}:{data['reward_id']}:{data.get('expires_at')}"
    return event.id


def provider_of(transaction_id: str | None) -> str:
    prefix = (transaction_id or "").split("-", 1)[0]
    return PROVIDER_PREFIX.get(prefix, prefix or "unknown")
