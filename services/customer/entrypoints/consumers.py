"""Event consumers of the customer service.

- ``customer-loyalty-orders`` reads the order aggregates (``ES_ORDER``, ``es.order.>``):
  ``order.payment_completed`` earns points, ``order.refunded`` reverses them. Other order
  events pass by. Redeliveries and repeated events change nothing: the ledger itself
  knows which orders earned and which refunds reversed.
- ``customer-loyalty-projection`` reads the ledgers (``ES_LOYALTY``) into the read models.

(The bus prefixes each durable's name with the deployment id.)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, Handler, Reject
from bobaku.kernel.events import Event
from bobaku.services.customer.domain.commands import EarnPoints, ReversePoints
from bobaku.services.customer.entrypoints.schemas import PLAIN_ID
from bobaku.services.customer.service_layer import handlers
from bobaku.services.customer.service_layer.context import CustomerContext
from bobaku.services.customer.settings import CustomerSettings

ORDER_STREAM = streams.ORDER.name
LOYALTY_STREAM = streams.LOYALTY.name


class _OrderFacts(BaseModel):
    # Consumers tolerate fields they do not know.
    model_config = ConfigDict(extra="ignore", strict=True)

    order_id: str = Field(pattern=PLAIN_ID)
    customer_id: str = Field(pattern=PLAIN_ID)


class PaymentCompleted(_OrderFacts):
    amount: int = Field(ge=0)


class OrderRefunded(_OrderFacts):
    refund_id: str = Field(min_length=1, max_length=128)
    amount: int = Field(ge=0)
    full: bool


def order_consumer(settings: CustomerSettings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="customer-loyalty-orders",
        stream=ORDER_STREAM,
        filter_subjects=(streams.ORDER.wildcard,),
        max_deliveries=settings.event_max_deliveries,
        # Of an order's seven or so messages, loyalty needs two kinds.
        event_types=frozenset({"order.payment_completed", "order.refunded"}),
    )


def projection_consumer(settings: CustomerSettings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="customer-loyalty-projection",
        stream=LOYALTY_STREAM,
        filter_subjects=(streams.LOYALTY.wildcard,),
        max_deliveries=settings.event_max_deliveries,
    )


def loyalty_from_orders(ctx: CustomerContext) -> Handler:
    async def on_order_event(event: Event, delivery: Delivery) -> None:
        try:
            if event.type == "order.payment_completed":
                paid = PaymentCompleted.model_validate(event.data)
                earn = EarnPoints(
                    customer_id=paid.customer_id,
                    order_id=paid.order_id,
                    amount=paid.amount,
                    franchise_id=event.tenant,
                )
                await handlers.earn_points(ctx, earn)
            elif event.type == "order.refunded":
                refund = OrderRefunded.model_validate(event.data)
                reverse = ReversePoints(
                    customer_id=refund.customer_id,
                    order_id=refund.order_id,
                    refund_id=refund.refund_id,
                    amount=refund.amount,
                    full=refund.full,
                )
                await handlers.reverse_points(ctx, reverse)
        except ValidationError as exc:
            # It will never become valid by waiting: dead-letter it with the reason.
            raise Reject(f"{event.type} {event.id} lacks what loyalty needs: {exc}") from exc

    return on_order_event


def ledger_projection(ctx: CustomerContext) -> Handler:
    async def on_ledger_event(event: Event, delivery: Delivery) -> None:
        customer_id = delivery.subject.rsplit(".", 1)[-1]
        await ctx.views.project(customer_id, event, delivery.stream_seq, delivery.index_in_batch)

    return on_ledger_event
