"""The event envelope, exactly as the brief shows it, plus the tenant.

```json
{"id": "evt-20231015-4582", "type": "order.created", "timestamp": "2023-10-15T14:30:00Z",
 "version": "1.0", "source": "order-service", "tenant": "fr-jakarta",
 "data": {...}, "metadata": {"correlation_id": "corr-78934", "trace_id": "trace-82938"}}
```

``tenant`` is the franchise id for franchise-owned facts and ``null`` for brand-wide ones
(customers, loyalty, the HQ catalog). Consumers ignore fields they do not know.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from bobaku.kernel.context import current_correlation_id, current_trace_id

EVENT_TYPE_PATTERN = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,40}$"


class EventMetadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    correlation_id: str = Field(min_length=1, max_length=128)
    trace_id: str = Field(min_length=1, max_length=128)


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    timestamp: datetime
    version: str = Field(pattern=r"^\d+\.\d+$")
    source: str = Field(min_length=1, max_length=64)
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    data: dict[str, Any]
    metadata: EventMetadata

    @field_serializer("timestamp")
    def _utc_iso(self, ts: datetime) -> str:
        return utc_iso(ts)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        return cls.model_validate_json(raw)


def utc_iso(ts: datetime) -> str:
    """``2023-10-15T14:30:00Z`` (milliseconds kept when present).

    Sub-millisecond digits are dropped, and they do not decide the format: BSON keeps
    milliseconds, so a time read back from MongoDB prints exactly as it did before it was
    stored (a time 0.4 ms past the second is ``…:00Z`` both ways, not ``…:00.000Z`` first)."""
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    text = ts.isoformat(timespec="milliseconds" if ts.microsecond >= 1000 else "seconds")
    return text.replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """The aware UTC time of an ISO-8601 string (``Z`` or an offset); a string without an
    offset is taken as UTC. ``ValueError`` if it is not a time. The inverse of
    :func:`utc_iso`."""
    ts = datetime.fromisoformat(text)
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def new_event_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"evt-{now:%Y%m%d}-{secrets.token_hex(8)}"


def new_event(
    type: str,
    data: dict[str, Any],
    *,
    source: str,
    tenant: str | None = None,
    version: str = "1.0",
    correlation_id: str | None = None,
    trace_id: str | None = None,
    event_id: str | None = None,
) -> Event:
    """Build an envelope; ids not given come from the current request's context."""
    now = datetime.now(UTC)
    # The wire format keeps milliseconds; truncate so an event equals its round trip.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return Event(
        id=event_id or new_event_id(now),
        type=type,
        timestamp=now,
        version=version,
        source=source,
        tenant=tenant,
        data=data,
        metadata=EventMetadata(
            correlation_id=correlation_id or current_correlation_id(),
            trace_id=trace_id or current_trace_id(),
        ),
    )
