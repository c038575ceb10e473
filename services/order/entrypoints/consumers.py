"""The order service's event consumers.

- ``order-saga``: every event of an order drives its saga one more step (idempotent steps,
  expected-sequence appends), so a crash anywhere resumes on redelivery.
- ``order-payments``: the payment service's facts (captured, failed, expired, refunded)
  become the order's.
- ``order-projector``: keeps the per-franchise ``orders`` read model (history, kitchen queue)
  as a projection of the aggregate; :func:`rebuild_views` projects every order of the
  stream again when Redis has lost the model (``kernel.listings.ReadModelGuard``).

Notifications are the notification service's: it consumes the same order events.
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


async def start_consumers(bus: EventBus, ctx: OrderContext, *, group: str = "order") -> None:
    # The payment service owns ES_PAYMENT; either service may start first.
    await ensure_streams(bus, streams.PAYMENT)

    # Both order consumers work on the whole order, once per stored message (a commit of
    # several events is one message of one order), from the order as remembered when it
    # already holds that message (OrderRepository.load ``reaches``): the saga's appends
    # check their sequence and the projection is versioned, and a newer message comes to
    # them by itself.
    async def drive_saga(event: Event, delivery: Delivery) -> None:
        if delivery.index_in_batch:
            return
        if event.tenant and (order_id := event.data.get("order_id")):
            await saga.drive(ctx, event.tenant, order_id, reaches=(delivery.stream_seq, event.id))

    async def payment_outcome(event: Event, _: Delivery) -> None:
        await saga.on_payment_event(ctx, event)

    async def project(event: Event, delivery: Delivery) -> None:
        order_id = event.data.get("order_id")
        if delivery.index_in_batch or not event.tenant or not order_id:
            return
        order = await ctx.orders.load(
            event.tenant, order_id, reaches=(delivery.stream_seq, event.id)
        )
        await ctx.views.project(order)

    orders = (streams.ORDER.wildcard,)
    await bus.consume(
        ConsumerSpec(
            f"{group}-saga",
            streams.ORDER.name,
            orders,
            max_deliveries=20,
            retry_delays_s=SAGA_RETRIES,
            ack_wait_s=30,
        ),
        drive_saga,
    )
    await bus.consume(
        ConsumerSpec(
            f"{group}-payments",
            streams.PAYMENT.name,
            (streams.PAYMENT.wildcard,),
            max_deliveries=20,
            retry_delays_s=SAGA_RETRIES,
            ack_wait_s=30,
        ),
        payment_outcome,
    )
    await bus.consume(
        ConsumerSpec(f"{group}-projector", streams.ORDER.name, orders, max_deliveries=10), project
    )


async def rebuild_views(store: AggregateStore, ctx: OrderContext) -> int:
    """Every order of the stream projected again, from its events; returns how many."""
    projected = 0
    for tenant, order_id in await store.aggregates():
        if await ctx.views.project(await ctx.orders.load(tenant, order_id)):
            projected += 1
    return projected
