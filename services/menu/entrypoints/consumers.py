"""The menu's durable event consumers.

- **Cache invalidation** (``menu-cache``, on ``events.*.menu.>``): applies the cache's
  ``on_event`` hooks. The replicas of one deployment share this durable consumer (the bus
  prefixes it with the deployment id) and one Redis, so each change is applied once and
  seen by all of them.
- **Stock relay** (``menu-stock-relay``, on ``es.stock.>``): announces every
  change of an outlet's stock aggregate as ``menu.stock_changed``. The stock change itself
  is the appended aggregate event, so there is no second write that could be lost: the
  announcement is derived from it, with an event id derived from its id (a redelivery is
  dropped by the bus's duplicate window, and would only drop a cache generation anyway).
"""

from __future__ import annotations

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Handler, Reject
from bobaku.kernel.cache import Cache
from bobaku.kernel.events import Event, new_event
from bobaku.services.menu.domain import events
from bobaku.services.menu.domain import stock as stock_rules
from bobaku.services.menu.service_layer.context import EVENT_SOURCE, concerns

STOCK_FACTS = (
    stock_rules.RESTOCKED,
    stock_rules.RESERVED,
    stock_rules.RELEASED,
    stock_rules.COMMITTED,
)


CACHE_INVALIDATION = "menu-cache"
STOCK_RELAY = "menu-stock-relay"


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


def stock_relay_spec(stream: str, max_deliveries: int) -> ConsumerSpec:
    return ConsumerSpec(
        durable=STOCK_RELAY,
        stream=stream,
        filter_subjects=(streams.STOCK.wildcard,),
        max_deliveries=max_deliveries,
        ack_wait_s=5.0,
        deliver_new_only=True,
    )


def stock_relay(bus: EventBus) -> Handler:
    async def announce(event: Event, delivery: Delivery) -> None:
        if event.type not in STOCK_FACTS:
            return
        outlet_id = event.data.get("outlet_id")
        if not event.tenant or not isinstance(outlet_id, str):
            raise Reject(f"stock event {event.id} names no franchise or outlet")
        change = events.stock_changed(
            event.tenant,
            outlet_id,
            event.type,
            event.data.get("items", []),
            event.data.get("order_id"),
        )
        await bus.publish(
            new_event(
                change.type,
                change.data,
                source=EVENT_SOURCE,
                tenant=change.tenant,
                event_id=f"{event.id}-announced",
            )
        )

    return announce
