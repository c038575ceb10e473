"""Items the outlet lacks the ingredients for, as the supply service announces them.

The supply service publishes ``supply.availability_changed`` (``events.<fr>.supply.*``)
whenever the set of menu items an outlet cannot make for lack of ingredients changes: the
whole current set, with the sequence of the outlet's stock ledger it reflects. This
consumer (``menu-supply-availability``) keeps the newest set per outlet (an older or
repeated announcement changes nothing) and drops the outlet's cached stock, so the next
menu read shows those items ``sold_out``, and shows them again when a receipt brings the
stock back. No polling: the menu learns it from the event.
"""

from __future__ import annotations

from bobaku.kernel.bus import ConsumerSpec, Delivery, Handler, Reject
from bobaku.kernel.cache import Cache
from bobaku.kernel.db import Databases
from bobaku.kernel.events import Event
from bobaku.kernel.streams import EVENTS
from bobaku.services.menu.adapters.supply_availability import keep_newest
from bobaku.services.menu.service_layer.caching import Tags

SUPPLY_AVAILABILITY = "menu-supply-availability"


def supply_availability_spec(max_deliveries: int) -> ConsumerSpec:
    return ConsumerSpec(
        durable=SUPPLY_AVAILABILITY,
        stream=EVENTS.name,
        filter_subjects=(EVENTS.filter("supply.availability_changed"),),
        max_deliveries=max_deliveries,
        ack_wait_s=5.0,
        # One message in flight across the replicas: each outlet's document has one writer
        # (a conditional update is not atomic on FerretDB 1.24). The announcements are
        # few, one when an outlet's set of makeable items changes.
        max_ack_pending=1,
        batch=1,
    )


def supply_availability(databases: Databases, cache: Cache, tags: Tags) -> Handler:
    async def keep(event: Event, _: Delivery) -> None:
        franchise_id, outlet_id = event.tenant, event.data.get("outlet_id")
        if not franchise_id or not outlet_id:
            raise Reject(f"availability event {event.id} names no franchise or outlet")
        items = [str(i) for i in event.data.get("unavailable", [])]
        seq = int(event.data.get("seq", 0))
        if await keep_newest(databases, franchise_id, str(outlet_id), items, seq):
            await cache.invalidate_tags(tags.stock(str(outlet_id)))

    return keep
