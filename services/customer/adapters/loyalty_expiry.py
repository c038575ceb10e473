"""The loyalty expiry calendar: which customers have points lapsing on which day.

A NATS KV bucket (``loyalty_expiry``), keyed by day so that the expiry job reads one day's
customers by key and never scans the ledgers or a growing collection (FerretDB scans on
every filter but ``_id`` and on every update):

- ``<deployment>.due.<YYYY-MM-DD>.<customer>``: the customer has points lapsing that day;
  its value is ``{}``, or ``{"noticed": true}`` once the reminder went out. The projector
  writes it for every ``loyalty.points_earned`` (a replay rewrites nothing); the job deletes
  it once the lapse is applied.
- ``<deployment>.cursor.<job>``: the last day the job has finished (``expire``, ``notice``).

It is a projection of the ledgers: losing it loses no points, and replaying ``ES_LOYALTY``
through the projector rebuilds it. Entries outlive their day by a margin and then go (the
bucket's TTL), so the bucket stays the size of the validity period.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    APIError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from bobaku.kernel.bus import EventBus

BUCKET = "loyalty_expiry"
# Days a due entry or a cursor outlives the validity period before the bucket drops it.
MARGIN_DAYS = 90


class ExpiryCalendar:
    def __init__(self, bus: EventBus, scope: str, valid_days: int, bucket: str = BUCKET) -> None:
        self.bus, self.scope, self.bucket = bus, scope, bucket
        self.ttl_s = (valid_days + MARGIN_DAYS) * 86400
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        self._kv = await self.bus.key_value(
            KeyValueConfig(bucket=self.bucket, history=1, ttl=self.ttl_s, storage=StorageType.FILE)
        )
        await self._outlive_the_validity()

    async def _outlive_the_validity(self) -> None:
        """A longer validity than the bucket was made for: keep entries long enough."""
        info = await self.bus.js.stream_info(f"KV_{self.bus.names.bucket(self.bucket)}")
        if info.config.max_age and info.config.max_age < self.ttl_s:
            info.config.max_age = self.ttl_s
            await self.bus.js.update_stream(info.config)

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "ExpiryCalendar.start() was not awaited"
        return self._kv

    def _due(self, day: date, customer_id: str = "*") -> str:
        return f"{self.scope}.due.{day.isoformat()}.{customer_id}"

    async def mark(self, day: date, customer_id: str) -> None:
        """The customer has points lapsing on ``day`` (a second mark keeps the first)."""
        try:
            await self.kv.create(self._due(day, customer_id), b"{}")
        except KeyWrongLastSequenceError:
            pass  # marked already: a replay, or noticed
        except APIError as exc:  # the server's "wrong last sequence" as a generic API error
            if "wrong last sequence" not in str(exc).lower():
                raise

    async def due(self, day: date) -> dict[str, dict[str, Any]]:
        """The customers with points lapsing on ``day`` and their marks: one watch filtered
        by the server on that day's keys (cost: that day's entries, nothing else)."""
        watcher = await self.kv.watch(self._due(day), ignore_deletes=True)
        found: dict[str, dict[str, Any]] = {}
        try:
            async for entry in watcher:
                if entry is None:  # the end of what is stored now
                    break
                if entry.value is None:
                    continue
                found[entry.key.rsplit(".", 1)[-1]] = json.loads(entry.value or b"{}")
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return found

    async def noticed(self, day: date, customer_id: str) -> None:
        await self.kv.put(self._due(day, customer_id), b'{"noticed": true}')

    async def done(self, day: date, customer_id: str) -> None:
        with contextlib.suppress(KeyNotFoundError, KeyDeletedError):
            await self.kv.delete(self._due(day, customer_id))

    async def cursor(self, job: str) -> date | None:
        try:
            entry = await self.kv.get(f"{self.scope}.cursor.{job}")
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return date.fromisoformat(entry.value.decode()) if entry.value else None

    async def advance(self, job: str, day: date) -> None:
        await self.kv.put(f"{self.scope}.cursor.{job}", day.isoformat().encode())
