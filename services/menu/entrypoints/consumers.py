"""The menu's durable event consumers.

- **Cache invalidation** (``menu-cache``, on ``events.*.menu.>``): applies the cache's
  ``on_event`` hooks. The replicas of one deployment share this durable consumer (the bus
  prefixes it with the deployment id) and one Redis, so each change is applied once and
  seen by all of them.
- **Supply availability** (``menu-supply-availability``): in ``supply_availability.py``.
  The menu counts no stock of its own: the supply service holds every outlet's stock.
"""

from __future__ import annotations

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, Handler
from bobaku.kernel.cache import Cache
from bobaku.kernel.events import Event
from bobaku.services.menu.service_layer.context import concerns

CACHE_INVALIDATION = "menu-cache"


def cache_invalidation_spec(max_deliveries: int) -> ConsumerSpec:
    return ConsumerSpec(
        durable=CACHE_INVALIDATION,
        stream=streams.EVENTS.name,
        filter_subjects=(streams.EVENTS.family("menu"),),
        max_deliveries=max_deliveries,
        # Handling is one Redis command: a delivery lost with a stopping replica comes back
        # after seconds, not the default half minute.
        ack_wait_s=5.0,
        # Only what changes from now on can stale a cache that exists now.
        deliver_new_only=True,
    )


def cache_invalidation(cache: Cache, deployment: str) -> Handler:
    """Drop what an event stales, unless it is another deployment's catalog change."""

    async def invalidate(event: Event, delivery: Delivery) -> None:
        if concerns(event, deployment):
            await cache.handle_event(event, delivery)

    return invalidate
