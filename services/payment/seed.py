"""Demo seed of the payment service.

Payments come from orders, so the demo needs no payment data: seeding makes sure the
payment event stream exists. Its read models are in Redis (``adapters/read_models.py``) and
its MongoDB documents are read by ``_id`` only, so there are no indexes to make. Running it
again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.settings import Settings

# The demo brand's franchises (the menu service seeds them and their outlets).
DEMO_FRANCHISES = ("fr-jakarta", "fr-bandung")


async def seed_demo(
    settings: Settings, franchise_ids: Sequence[str] = DEMO_FRANCHISES
) -> dict[str, Any]:
    bus = await EventBus.connect(settings)
    try:
        store = AggregateStore(bus, "payment")
        await store.start()
    finally:
        await bus.close()
    return {"stream": store.spec.name, "franchises": list(franchise_ids)}
