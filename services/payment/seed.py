"""Demo seed of the payment service.

Payments come from orders, so the demo needs no payment data: seeding makes sure the
payment event stream and every index the service relies on exist (platform indexes, and the
franchise indexes of the demo franchises). Running it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases, IndexCatalog
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.settings import Settings
from bobaku.services.payment.adapters import documents, read_models

# The demo brand's franchises (the menu service seeds them and their outlets).
DEMO_FRANCHISES = ("fr-jakarta", "fr-bandung")


async def seed_demo(
    settings: Settings, franchise_ids: Sequence[str] = DEMO_FRANCHISES
) -> dict[str, Any]:
    catalog = IndexCatalog()
    catalog.declare(*documents.INDEXES, *read_models.INDEXES)
    bus = await EventBus.connect(settings)
    try:
        store = AggregateStore(bus, "payment")
        await store.start()
    finally:
        await bus.close()
    databases = Databases.from_settings(settings, catalog)
    try:
        await databases.start()
        for franchise_id in franchise_ids:
            await databases.franchise(franchise_id)
    finally:
        await databases.close()
    return {"stream": store.spec.name, "franchises": list(franchise_ids)}
