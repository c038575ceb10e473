"""What the service can tell people: kinds, channels, audiences and statuses (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    PUSH = "push"


class Status(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Audience(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"  # the outlet's staff and managers
    MANAGERS = "managers"  # the outlet's managers and the franchise's owners


@dataclass(frozen=True)
class Kind:
    name: str
    audience: Audience
    # Transactional messages are about something the user is waiting for: they ignore quiet
    # hours. Everything else waits for the quiet hours to end.
    transactional: bool
    channels: tuple[Channel, ...] = (Channel.IN_APP, Channel.EMAIL, Channel.PUSH)


ALL = (Channel.IN_APP, Channel.EMAIL, Channel.PUSH)
KINDS = {
    k.name: k
    for k in (
        Kind("order_accepted", Audience.CUSTOMER, True),
        Kind("order_ready", Audience.CUSTOMER, True),
        Kind("refund_done", Audience.CUSTOMER, True),
        Kind("points_earned", Audience.CUSTOMER, False),
        Kind("tier_changed", Audience.CUSTOMER, False),
        Kind("reward_expiring", Audience.CUSTOMER, False),
        Kind("kitchen_offline_order", Audience.STAFF, True, (Channel.IN_APP, Channel.PUSH)),
        Kind("order_late", Audience.STAFF, True, (Channel.IN_APP, Channel.PUSH)),
        Kind("stock_low", Audience.MANAGERS, True),
        Kind("provider_failing", Audience.MANAGERS, True),
        Kind("dispute_opened", Audience.MANAGERS, True),
    )
}
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


def overall(statuses: dict[str, str]) -> str:
    """One status for a notification from its channels' (the furthest any channel got)."""
    values = set(statuses.values())
    for status in (Status.DELIVERED, Status.SENT, Status.QUEUED, Status.FAILED):
        if status in values:
            return str(status)
    return str(Status.SUPPRESSED)
