"""The customer service's read models: the loyalty projection (accounts and history in
Redis, kept in step with the ledgers) and the queries: what the customer sees
of their loyalty, and the card other services read about a customer (on the order view's
hot path, so a read by primary key and one Redis read).

The projector is the only writer of both, and every write is replay-safe: the
history entry is keyed by event id, and the account is recomputed from the ledger itself
and stored only if it is newer than what is there."""

from __future__ import annotations

from typing import Any

from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.kernel.pagination import encode_cursor
from bobaku.services.customer.adapters.loyalty_expiry import ExpiryCalendar
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.loyalty_views import LoyaltyViews, position_of
from bobaku.services.customer.adapters.users import UserRepository
from bobaku.services.customer.domain.errors import UserNotFound
from bobaku.services.customer.domain.events import POINTS_EARNED
from bobaku.services.customer.domain.loyalty import (
    DEFAULT_VALID_DAYS,
    Standing,
    lapse_day,
    lapse_moment,
)
from bobaku.services.customer.domain.users import User
from bobaku.services.customer.service_layer.clock import utc_now


class CustomerViews:
    def __init__(
        self,
        *,
        users: UserRepository,
        loyalty: LoyaltyViews,
        ledgers: LedgerStore,
        calendar: ExpiryCalendar | None = None,
        valid_days: int = DEFAULT_VALID_DAYS,
    ) -> None:
        self.users = users
        self.loyalty = loyalty
        self.ledgers = ledgers
        self.calendar = calendar
        self.valid_days = valid_days

    async def project(self, customer_id: str, event: Event, stream_seq: int, index: int) -> None:
        """One ledger event into the read models (``index``: its place in its batch), and
        an earning into the expiry calendar (the day its points lapse)."""
        await self.loyalty.record_entry(customer_id, event, position_of(stream_seq, index))
        if event.type == POINTS_EARNED and self.calendar is not None:
            await self.calendar.mark(lapse_day(event.timestamp, self.valid_days), customer_id)
        # A batch's later events, or a redelivery, find the account already past them.
        if await self.loyalty.account_seq(customer_id) >= stream_seq:
            return
        ledger, last_seq = await self.ledgers.load(customer_id)
        await self.loyalty.save_account(
            customer_id, ledger, last_seq, utc_now(), valid_days=self.valid_days
        )

    async def loyalty_summary(
        self, customer_id: str, *, limit: int, before: int | None
    ) -> dict[str, Any]:
        now = utc_now()
        standing = await self.loyalty.standing(customer_id, now)
        entries, next_position = await self.loyalty.history(customer_id, limit=limit, before=before)
        return {
            **standing_view(standing),
            "history": {
                "items": [history_item(e) for e in entries],
                "next_cursor": (
                    encode_cursor(next_position) if next_position is not None else None
                ),
            },
        }

    async def customer_card(self, customer_id: str) -> dict[str, Any]:
        user = await self.users.get(customer_id)
        if user is None:
            raise UserNotFound("no such customer", details={"customer_id": customer_id})
        standing = await self.loyalty.standing(customer_id, utc_now())
        notes = user.preferences.notifications
        return {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "membership_tier": str(standing.tier),
            "current_points": standing.points,
            "language": user.preferences.language,
            "notifications": {"push": notes.push, "email": notes.email, "in_app": notes.in_app},
        }


def standing_view(standing: Standing) -> dict[str, Any]:
    expiring = [
        {"points": points, "expires_at": utc_iso(lapse_moment(day))}
        for day, points in standing.expiring
    ]
    return {
        "points": standing.points,
        "tier": str(standing.tier),
        "rolling_12m_points": standing.rolling_12m_points,
        "next_tier": str(standing.next_tier) if standing.next_tier else None,
        "points_to_next_tier": standing.points_to_next_tier,
        "next_expiry": expiring[0] if expiring else None,
        "expiring_points": expiring,
    }


def history_item(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entry["_id"],
        "kind": entry["kind"],
        "order_id": entry.get("order_id"),
        "points": entry["points"],
        "balance_change": entry["balance_change"],
        "tier": entry.get("tier"),
        "reward_ids": entry.get("reward_ids", []),
        "at": entry["at"],
    }


def user_view(user: User) -> dict[str, Any]:
    notes = user.preferences.notifications
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "phone": user.phone,
        "roles": sorted(str(r) for r in user.roles),
        "franchise_id": user.franchise_id,
        "outlet_ids": list(user.outlet_ids),
        "preferences": {
            "language": user.preferences.language,
            "notifications": {"push": notes.push, "email": notes.email, "in_app": notes.in_app},
        },
        "created_at": utc_iso(user.created_at),
    }
