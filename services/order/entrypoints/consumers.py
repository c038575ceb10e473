"""The order service's event consumers.

- ``order-saga``: every stored message of an order is projected into the per-franchise
  ``orders`` read model (history, kitchen queue) and then drives the order's saga one more
  step (idempotent steps, expected-sequence appends), so a crash anywhere resumes on
  redelivery. One consumer for both: each message is delivered, decoded and acked once
  (they were two consumers of the same messages, each with its own delivery and ack).
- ``order-payments``: the payment service's facts (captured, failed, expired, refunded)
  become the order's.

:func:`rebuild_views` projects every order of the stream again when Redis has lost the
model (``kernel.listings.ReadModelGuard``). Notifications are the notification service's:
it consumes the same order events.
"""

from __future__ import annotations

import logging

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus
from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.streams import ensure_streams
from bobaku.services.order.service_layer import saga
from bobaku.services.order.service_layer.context import OrderContext

log = logging.getLogger(__name__)

# The saga retries a failing step for a long while (an upstream may be restarting) before
# giving up to the dead-letter stream.
SAGA_RETRIES = (0.2, 1.0, 2.0, 5.0, 10.0)
PAYMENT_FACTS = frozenset(
    {"payment.captured", "payment.failed", "payment.expired", "payment.refunded"}
)


async def start_consumers(bus: EventBus, ctx: OrderContext, *, group: str = "order") -> None:
    # The payment service owns ES_PAYMENT; either service may start first.
    await ensure_streams(bus, streams.PAYMENT)

    # The consumer works on the whole order, once per stored message (a commit of several
    # events is one message of one order), from the order as remembered when it already
    # holds that message (OrderRepository.load ``reaches``): the saga's appends check their
    # sequence and the projection is versioned, and a newer message comes by itself.
    async def on_order(event: Event, delivery: Delivery) -> None:
        order_id = event.data.get("order_id")
        if delivery.index_in_batch or not event.tenant or not order_id:
            return
        reaches = (delivery.stream_seq, event.id)
        order = await ctx.orders.load(event.tenant, order_id, reaches=reaches)
        # The projection first, so a saga step waiting out an upstream's outage (its
        # retries below) never holds the read model back; a read model that cannot be
        # written (Redis down) does not hold the saga back either: the saga runs all the
        # same, and the projection's error then has the message delivered again (the bus
        # logs it), when the projection (versioned) is tried again.
        failed: Exception | None = None
        try:
            await ctx.views.project(order)
        except Exception as exc:  # Redis: the saga goes on, the message comes back
            failed = exc
        await saga.drive(ctx, event.tenant, order_id, reaches=reaches)
        if failed is not None:
            raise failed

    async def payment_outcome(event: Event, _: Delivery) -> None:
        await saga.on_payment_event(ctx, event)

    await bus.consume(
        ConsumerSpec(
            f"{group}-saga",
            streams.ORDER.name,
            (streams.ORDER.wildcard,),
            max_deliveries=20,
            retry_delays_s=SAGA_RETRIES,
            ack_wait_s=30,
        ),
        on_order,
    )
    await bus.consume(
        ConsumerSpec(
            f"{group}-payments",
            streams.PAYMENT.name,
            (streams.PAYMENT.wildcard,),
            max_deliveries=20,
            retry_delays_s=SAGA_RETRIES,
            ack_wait_s=30,
            # The facts that become the order's (saga.on_payment_event); an intent's other
            # messages (created, voided, disputes…) are acked unread. The order's own
            # messages drive its saga, so none of them is needed as a nudge.
            event_types=PAYMENT_FACTS,
        ),
        payment_outcome,
    )


async def rebuild_views(store: AggregateStore, ctx: OrderContext) -> int:
    """Every order of the stream projected again, from its events; returns how many."""
    projected = 0
    for tenant, order_id in await store.aggregates():
        if await ctx.views.project(await ctx.orders.load(tenant, order_id)):
            projected += 1
    return projected
