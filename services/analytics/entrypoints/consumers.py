"""The projections' durable consumers: the order aggregates' history (orders, payments as
the order records them, kitchen steps), the loyalty ledger, and the generated order history
of the demo (``seed-history``, order events on a stream of their own).

Both always start at the beginning of their stream (a projection must see all history,
whatever CONSUMERS_START_AT says for others) and are idempotent by construction: an order's
figures are recomputed from its folded facts, and a loyalty event carries a marker.
"""

from __future__ import annotations

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, EventBus
from bobaku.kernel.streams import ensure_streams
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.service_layer.feed import FiguresFeed
from bobaku.services.analytics.service_layer.handlers import live_handler

# What the projections read: the orders, the loyalty ledger and the demo's generated past.
PROJECTED = (
    ("orders", streams.ORDER),
    ("loyalty", streams.LOYALTY),
    ("history", streams.ORDER_HISTORY),
)


def consumer_specs(durable: str) -> tuple[ConsumerSpec, ...]:
    return tuple(
        ConsumerSpec(
            f"{durable}-{name}",
            stream.name,
            (stream.wildcard,),
            max_deliveries=20,
            retry_delays_s=(0.2, 1.0, 5.0),
            batch=128,
        )
        for name, stream in PROJECTED
    )


async def start_consumers(
    bus: EventBus, store: ProjectionStore, durable: str, feed: FiguresFeed | None = None
) -> None:
    # The streams may not exist yet on a fresh server: declare them as their owners do.
    await ensure_streams(bus, *(stream for _, stream in PROJECTED))
    handler = live_handler(store, feed)
    for spec in consumer_specs(durable):
        await bus.consume(spec, handler)
