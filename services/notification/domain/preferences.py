"""A user's notification preferences and the decisions taken from them (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bobaku.services.notification.domain.kinds import DEFAULT_LANGUAGE, KINDS, Channel

DEFAULT_TIME_ZONE = "Asia/Jakarta"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # may be before start: the quiet hours then cross midnight


@dataclass
class Preferences:
    user_id: str
    language: str | None = None  # None: the customer profile's language
    email: str | None = None  # None: the account's email address
    time_zone: str = DEFAULT_TIME_ZONE
    channels: dict[str, bool] = field(default_factory=dict)  # channel → on/off
    kinds: dict[str, dict[str, bool]] = field(default_factory=dict)  # kind → channel → on/off
    quiet_hours: QuietHours | None = None

    def language_or(self, profile_language: str | None) -> str:
        return self.language or profile_language or DEFAULT_LANGUAGE

    def allows(self, kind: str, channel: Channel, profile: dict[str, bool] | None = None) -> bool:
        """The most specific switch wins: kind+channel, then channel, then the profile's."""
        per_kind = self.kinds.get(kind, {})
        if str(channel) in per_kind:
            return per_kind[str(channel)]
        if str(channel) in self.channels:
            return self.channels[str(channel)]
        return (profile or {}).get(str(channel), True)

    def deferred_until(self, kind: str, now: datetime) -> datetime | None:
        """When a non-transactional message may go out, if ``now`` is in quiet hours."""
        if self.quiet_hours is None or KINDS[kind].transactional:
            return None
        return quiet_until(self.quiet_hours, now, ZoneInfo(self.time_zone))


def quiet_until(quiet: QuietHours, now: datetime, zone: ZoneInfo) -> datetime | None:
    local = now.astimezone(zone)
    start = local.replace(hour=quiet.start.hour, minute=quiet.start.minute, second=0, microsecond=0)
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if quiet.start == quiet.end:
        return None
    if quiet.start < quiet.end:
        return end if start <= local < end else None
    # Crosses midnight: quiet from start today to end tomorrow, or since yesterday's start.
    if local >= start:
        return end + timedelta(days=1)
    if local < end:
        return end
    return None
