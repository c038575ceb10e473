"""Request and response bodies of the notification API (they are its OpenAPI schemas)."""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator

from bobaku.kernel.web import RequestBody
from bobaku.services.notification.domain.kinds import KINDS

Language = Literal["id", "en"]
ChannelName = Literal["in_app", "email", "push"]
# Deliberately plain: one @, a dot in the domain, no spaces. The mail server decides the rest.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
ZONES = frozenset(available_timezones())


class QuietHoursBody(RequestBody):
    start: str = Field(pattern=HHMM, description="local time HH:MM when quiet hours begin")
    end: str = Field(pattern=HHMM, description="local time HH:MM when they end (may be next day)")


class PreferencesBody(RequestBody):
    language: Language | None = Field(default=None, description="None: the profile's language")
    email: str | None = Field(default=None, description="None: the account's address")
    time_zone: str = "Asia/Jakarta"
    channels: dict[ChannelName, bool] = Field(default_factory=dict)
    kinds: dict[str, dict[ChannelName, bool]] = Field(default_factory=dict)
    quiet_hours: QuietHoursBody | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL.match(v):
            raise ValueError("not an email address")
        return v

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v not in ZONES:
            raise ValueError("not an IANA time zone (e.g. Asia/Jakarta)")
        return v

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(v) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds: {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return v


class PreferencesView(BaseModel):
    user_id: str
    language: Language | None
    email: str | None
    time_zone: str
    channels: dict[str, bool]
    kinds: dict[str, dict[str, bool]]
    quiet_hours: dict[str, str] | None


class RegisterToken(RequestBody):
    token: str = Field(min_length=8, max_length=4096, pattern=r"^[A-Za-z0-9_:.\-]+$")
    platform: Literal["fcm", "apns"]
    user_id: str | None = Field(
        default=None, description="whose device; if given it must be the caller"
    )


class TokenView(BaseModel):
    id: str
    platform: str
    created_at: str


class TokenList(BaseModel):
    items: list[TokenView]


class ChannelStatus(BaseModel):
    status: str
    attempts: int | None = None
    error: str | None = None
    reason: str | None = None
    deferred_until: str | None = None
    updated_at: str | None = None
    delivered_at: str | None = None


class NotificationView(BaseModel):
    id: str
    user_id: str
    kind: str
    language: str
    title: str
    body: str
    created_at: str
    tenant: str | None
    order_id: str | None
    read: bool
    status: Literal["queued", "sent", "delivered", "failed", "suppressed"]
    channels: dict[str, ChannelStatus]


class NotificationPage(BaseModel):
    items: list[NotificationView]
    next_cursor: str | None
    unread: int
    total: int


class Subscription(BaseModel):
    franchise_id: str
    outlet_ids: list[str]
    role: str


class UnsubscribeResult(BaseModel):
    user_id: str
    channel: str
    kind: str | None


class PushReceipt(RequestBody):
    message_id: str = Field(min_length=1, max_length=300)
    notification_id: str = Field(pattern=r"^ntf-[0-9a-f]{24}$")
    status: Literal["delivered"]
    delivered_at: str
