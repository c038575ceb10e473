"""The projections' durable consumers: the order aggregates' history (orders, payments as
the order records them, kitchen steps), the loyalty ledgers, and the demo's generated past
of both (``seed-history``, on streams of their own).

Each always starts at the beginning of its stream (a projection must see all history,
whatever CONSUMERS_START_AT says for others) and takes a fetch at a time
(``EventBus.consume_batches``): the batch is folded in memory, written once and acknowledged
after the write; idempotent under redelivery (``adapters/store.py``).
"""

from __future__ import annotations

from bobaku.kernel.bus import ConsumerSpec, EventBus
from bobaku.kernel.streams import aggregate_spec
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.service_layer.feed import FiguresFeed
from bobaku.services.analytics.service_layer.handlers import live_handler
from bobaku.services.analytics.service_layer.sources import PLATFORM, Sources

# Messages per fetch: one transaction per fetch, so larger batches amortise the round trips
# (measured in docs/analytics.md); a batch of an aggregate's commits stays well under
# Redis's comfortable MULTI size.
BATCH = 256


def consumer_specs(durable: str, sources: Sources = PLATFORM) -> tuple[ConsumerSpec, ...]:
    return tuple(
        ConsumerSpec(
            f"{durable}-{name}",
            stream.name,
            (stream.subjects[0],),
            max_deliveries=20,
            retry_delays_s=(0.2, 1.0, 5.0),
            batch=BATCH,
        )
        for name, stream in sources.projected()
    )


async def start_consumers(
    bus: EventBus,
    store: ProjectionStore,
    durable: str,
    feed: FiguresFeed | None = None,
    sources: Sources = PLATFORM,
) -> None:
    # The streams may not exist yet on a fresh server: declare them as their owners do.
    for _, stream in sources.projected():
        await bus.ensure_stream(stream)
    # The payment -> figure lag is the live orders' (not the seeded past's).
    live_orders = aggregate_spec(sources.order).name
    handler = live_handler(store, bus, feed, lag_streams={live_orders})
    for spec in consumer_specs(durable, sources):
        await bus.consume_batches(spec, handler)
