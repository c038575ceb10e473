"""The supply relay (``supply-relay``, on ``es.supply.>``): what an outlet's stock change
means to others, announced on the integration stream.

- ``supply.stock_low``: an ingredient's available units fell below the outlet's reorder
  point (its ``before`` level was at or above it, its ``after`` level below). The
  notification service turns it into a staff alert.
- ``supply.availability_changed``: the set of menu items whose standard drink the outlet can
  no longer make (or can make again) changed; the menu consumes it, no polling.

A stock event that leaves every touched ingredient's available units as they were (an
order's reservation committed: on hand and held fall alike) can cross no par level and
changes no item's availability, so it is acknowledged without reading anything.

Both are derived from the aggregate's own events, so the stock change and its announcement
never diverge: a crash before the ack means a redelivery, and the announcements' ids are
derived from the stock event (or the ledger sequence), so JetStream keeps one copy.
"""

from __future__ import annotations

import logging
from typing import Any

from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Handler, Reject
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.streams import SUPPLY, SUPPLY_PO, Stream
from bobaku.services.supply.adapters.repository import CATALOG_TTL_S
from bobaku.services.supply.domain.ledger import STOCK_EVENTS
from bobaku.services.supply.service_layer.handlers import (
    SOURCE,
    SupplyContext,
    book_recorded,
    project_purchase_order,
    project_transfer,
)

log = logging.getLogger(__name__)

RELAY = "supply-relay"
STOCK_LOW = "supply.stock_low"
AVAILABILITY_CHANGED = "supply.availability_changed"


def relay_spec(max_deliveries: int) -> ConsumerSpec:
    return ConsumerSpec(
        durable=RELAY,
        stream=SUPPLY.name,
        filter_subjects=(SUPPLY.wildcard,),
        max_deliveries=max_deliveries,
    )


ARRIVALS = "supply-arrivals"


def arrivals_spec(stream: Stream, max_deliveries: int) -> ConsumerSpec:
    """One per stream: ``supply-arrivals-es-supplypo`` and ``…-es-supplytransfer``."""
    return ConsumerSpec(
        durable=f"{ARRIVALS}-{stream.name.lower().replace('_', '-')}",
        stream=stream.name,
        filter_subjects=(stream.wildcard,),
        max_deliveries=max_deliveries,
    )


def arrivals(supply: SupplyContext) -> Handler:
    """Books the stock of every recorded PO receipt and transfer arrival. The request that
    recorded it books it at once; this only matters when a crash came in between (the
    ledger's reference makes the repeat a no-op)."""

    async def handle(event: Event, _: Delivery) -> None:
        if event.tenant:
            await book_recorded(supply, event.tenant, event.type, dict(event.data))

    return handle


# v2: the lists moved to the collections of ``adapters/lists.py`` (heads updated, pages and
# placement markers insert-only); a new durable replays the streams from the start and so
# rebuilds them. The v1 durables and the ``supply_lists`` collection are no longer read.
LISTS = "supply-lists-v2"


def lists_spec(stream: Stream, max_deliveries: int) -> ConsumerSpec:
    """The list projector, one per stream (``supply-lists-v2-es-supplypo``,
    ``…-es-supplytransfer``). One message in flight across every replica: each list document
    has one writer at a time, and a redelivery comes before the next event."""
    return ConsumerSpec(
        durable=f"{LISTS}-{stream.name.lower().replace('_', '-')}",
        stream=stream.name,
        filter_subjects=(stream.wildcard,),
        max_deliveries=max_deliveries,
        max_ack_pending=1,
        # One at a time anyway: a bigger fetch would wait out its timeout for the rest.
        batch=1,
    )


def lists_projector(supply: SupplyContext, stream: Stream) -> Handler:
    """Moves the document (``es.<kind>.<franchise>.<id>``) to where its status belongs."""
    project = project_purchase_order if stream.name == SUPPLY_PO.name else project_transfer

    async def handle(event: Event, delivery: Delivery) -> None:
        franchise_id, doc_id = event.tenant, delivery.subject.rsplit(".", 1)[-1]
        if not franchise_id:
            raise Reject(f"event {event.id} names no franchise")
        await project(supply, franchise_id, doc_id)

    return handle


def _levels(records: Any) -> dict[str, int]:
    return {str(x["ingredient_id"]): int(x["available"]) for x in records or []}


def relay(bus: EventBus, supply: SupplyContext) -> Handler:
    async def handle(event: Event, delivery: Delivery) -> None:
        if event.type not in STOCK_EVENTS:
            return
        franchise_id, outlet_id = event.tenant, event.data.get("outlet_id")
        if not franchise_id or not outlet_id:
            raise Reject(f"stock event {event.id} names no franchise or outlet")
        if _levels(event.data.get("before")) == _levels(event.data.get("after")):
            return  # no level moved (a commit: on hand and held fell alike): nothing to say
        await _stock_low(bus, supply, event, franchise_id, str(outlet_id))
        await _availability(bus, supply, franchise_id, str(outlet_id))

    return handle


async def _stock_low(
    bus: EventBus, supply: SupplyContext, event: Event, franchise_id: str, outlet_id: str
) -> None:
    before, after = _levels(event.data.get("before")), _levels(event.data.get("after"))
    crossed = [i for i, left in after.items() if i in before]
    if not crossed:
        return
    levels = await supply.repository.par_levels(franchise_id, outlet_id, max_age_s=CATALOG_TTL_S)
    ingredients = await supply.repository.ingredients()
    for ingredient_id in sorted(crossed):
        par = levels.get(ingredient_id)
        if par is None or not (before[ingredient_id] >= par.reorder_at > after[ingredient_id]):
            continue
        ingredient = ingredients.get(ingredient_id)
        pack = ingredient.pack_size if ingredient else 1
        packs = -(-(par.par - after[ingredient_id]) // pack)
        low = new_event(
            STOCK_LOW,
            {
                "franchise_id": franchise_id,
                "outlet_id": outlet_id,
                "ingredient_id": ingredient_id,
                "ingredient_name": ingredient.name if ingredient else ingredient_id,
                "unit": ingredient.unit if ingredient else "pcs",
                "available": after[ingredient_id],
                "reorder_at": par.reorder_at,
                "par": par.par,
                "suggested_packs": packs,
                "suggested_quantity": packs * pack,
                "cause": event.type,
            },
            source=SOURCE,
            tenant=franchise_id,
            event_id=f"low-{event.id}-{ingredient_id}"[:128],
        )
        await bus.publish(low)


async def _availability(
    bus: EventBus, supply: SupplyContext, franchise_id: str, outlet_id: str
) -> None:
    available, seq = await supply.ledgers.read(franchise_id, outlet_id, lambda s: s.availability())
    cookbook = await supply.repository.cookbook()
    unavailable = cookbook.unavailable_items(available)
    announced = await supply.announced.get(franchise_id, outlet_id)
    if announced is not None and (announced[0] == unavailable or announced[1] >= seq):
        return
    was = set(announced[0]) if announced else set()
    changed = new_event(
        AVAILABILITY_CHANGED,
        {
            "franchise_id": franchise_id,
            "outlet_id": outlet_id,
            "unavailable": unavailable,
            "became_unavailable": sorted(set(unavailable) - was),
            "became_available": sorted(was - set(unavailable)),
            "seq": seq,
        },
        source=SOURCE,
        tenant=franchise_id,
        event_id=f"avail-{franchise_id}-{outlet_id}-{seq}",
    )
    await bus.publish(changed)
    await supply.announced.set(franchise_id, outlet_id, unavailable, seq)
