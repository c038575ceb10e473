"""Making event handlers idempotent.

JetStream delivers at least once: after a crash, a lost ack or an ack timeout the same
event comes again. :func:`idempotent` wraps a handler so that each event id is handled to
completion once per consumer:

- before handling, the consumer *claims* the id in Redis (``SET NX`` with a lease as long
  as the ack wait); a second delivery that finds a live claim is retried later instead of
  running concurrently;
- after success the claim becomes ``done`` and is kept for ``ttl_s``; later copies are
  acknowledged without running the handler;
- after a failure the claim is released so the redelivery can run.

The window left is a crash between the handler's side effect and the ``done`` mark: the
handler then runs again, so its writes must be idempotent too (upserts keyed by the event,
expected-sequence appends).
"""

from __future__ import annotations

from redis.asyncio import Redis

from bobaku.kernel.bus import Delivery, Handler
from bobaku.kernel.events import Event

DONE = b"done"
PENDING = b"pending"


class StillInProgress(Exception):
    """Another delivery of this event is being handled right now; retry later."""


class ProcessedEvents:
    def __init__(
        self, redis: Redis, consumer: str, *, lease_s: float = 30.0, ttl_s: int = 7 * 24 * 3600
    ) -> None:
        self.redis = redis
        self.consumer = consumer
        self.lease_ms = int(lease_s * 1000)
        self.ttl_s = ttl_s

    def _key(self, event_id: str) -> str:
        return f"idem:{self.consumer}:{event_id}"

    async def claim(self, event_id: str) -> bool:
        """True if this caller should handle the event; False if it was already handled."""
        key = self._key(event_id)
        if await self.redis.set(key, PENDING, nx=True, px=self.lease_ms):
            return True
        state = await self.redis.get(key)
        if state == DONE:
            return False
        if state is None:  # the lease ran out between our two calls: try once more
            return bool(await self.redis.set(key, PENDING, nx=True, px=self.lease_ms))
        raise StillInProgress(f"event {event_id} is being handled by another delivery")

    async def complete(self, event_id: str) -> None:
        await self.redis.set(self._key(event_id), DONE, ex=self.ttl_s)

    async def release(self, event_id: str) -> None:
        await self.redis.delete(self._key(event_id))

    async def was_handled(self, event_id: str) -> bool:
        return bool(await self.redis.get(self._key(event_id)) == DONE)


def idempotent(processed: ProcessedEvents, handler: Handler) -> Handler:
    """Wrap ``handler`` so each event id runs to completion once for this consumer."""

    async def once(event: Event, delivery: Delivery) -> None:
        if not await processed.claim(event.id):
            return
        try:
            await handler(event, delivery)
        except BaseException:
            await processed.release(event.id)
            raise
        await processed.complete(event.id)

    return once
