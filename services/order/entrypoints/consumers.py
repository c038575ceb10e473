"""The order service's event consumers.

- ``order-saga``: every event of an order drives its saga one more step (idempotent steps,
  expected-sequence appends), so a crash anywhere resumes on redelivery.
- ``order-payments``: the payment service's facts (captured, failed, expired, refunded)
  become the order's.
- ``order-projector``: keeps the per-franchise ``orders`` read model (history, kitchen queue)
  as a projection of the aggregate, rebuilt from the stream when needed.
- ``order-notifier``: asks for in-app notifications when an order is accepted, ready, refunded.
"""

from __future__ import annotations

import logging
from typing import Any

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.streams import ensure_streams
from bobaku.services.order.service_layer import saga
from bobaku.services.order.service_layer.context import OrderContext

log = logging.getLogger(__name__)

# The saga retries a failing step for a long while (an upstream may be restarting) before
# giving up to the dead-letter stream.
SAGA_RETRIES = (0.2, 1.0, 2.0, 5.0, 10.0)
NOTIFY_ON = {
    "order.being_prepared": "order_accepted",
    "order.ready": "order_ready",
    "order.refunded": "refund_done",
}


async def start_consumers(
    bus: EventBus, ctx: OrderContext, customers: ServiceClient, *, group: str = "order"
) -> None:
    # The payment service owns ES_PAYMENT; either service may start first.
    await ensure_streams(bus, streams.PAYMENT)

    async def drive_saga(event: Event, _: Delivery) -> None:
        if event.tenant and (order_id := event.data.get("order_id")):
            await saga.drive(ctx, event.tenant, order_id)

    async def payment_outcome(event: Event, _: Delivery) -> None:
        await saga.on_payment_event(ctx, event)

    async def project(event: Event, _: Delivery) -> None:
        order_id = event.data.get("order_id")
        if not event.tenant or not order_id:
            return
        await ctx.views.project(await ctx.orders.load(event.tenant, order_id))

    async def notify(event: Event, _: Delivery) -> None:
        kind = NOTIFY_ON.get(event.type)
        if kind is None or not event.tenant:
            return
        user_id = event.data["customer_id"]
        profile: dict[str, Any] = await customers.request("GET", f"/internal/customers/{user_id}")
        if not profile.get("notifications", {}).get("in_app", True):
            return
        note = new_event(
            "notification.requested",
            {
                "user_id": user_id,
                "kind": kind,
                "order_id": event.data["order_id"],
                "language": profile.get("language", "id"),
            },
            source="order-service",
            tenant=event.tenant,
            # Derived from the cause, so a redelivered event cannot notify twice.
            event_id=f"ntf-{event.id}",
        )
        await bus.publish(note)

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
    await bus.consume(
        ConsumerSpec(
            f"{group}-notifier",
            streams.ORDER.name,
            orders,
            max_deliveries=10,
            retry_delays_s=(1.0, 5.0),
        ),
        notify,
    )
