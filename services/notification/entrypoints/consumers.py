"""The notification service's consumers.

- ``notification-events``: one handler for the platform's events, bound to each stream
  they live on (ES_ORDER, ES_PAYMENT, ES_LOYALTY, and EVENTS for ``supply.stock_low`` and
  ``loyalty.reward_expiring``); idempotent per event id (Redis claim), and the
  notification's cause-derived id makes a replay harmless even past the claim's lifetime.
- ``notification-<channel>``: one per channel on the NOTIFICATIONS stream, each with its
  own back-off, so SMTP being down never delays a push or an in-app message.
- ``notification-late``: timers for orders past their service target.
"""

from __future__ import annotations

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Handler, StreamSpec
from bobaku.kernel.events import Event
from bobaku.kernel.idempotency import ProcessedEvents, idempotent
from bobaku.services.notification.service_layer.delivery import Deliverer
from bobaku.services.notification.service_layer.notify import Notifier
from bobaku.services.notification.settings import NotificationSettings

NOTIFICATIONS = StreamSpec(
    "NOTIFICATIONS",
    ("ntf.>",),
    "the notification service's delivery jobs (ntf.deliver.<channel>) and timers",
    max_age_s=7 * 24 * 3600,
)
# The streams events come from, and what to take from each.
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("orders", streams.ORDER.name, (streams.ORDER.wildcard,)),
    ("payments", streams.PAYMENT.name, (streams.PAYMENT.wildcard,)),
    ("loyalty", streams.LOYALTY.name, (streams.LOYALTY.wildcard,)),
    (
        "integration",
        streams.EVENTS.name,
        (
            streams.EVENTS.filter("supply.stock_low"),
            streams.EVENTS.filter("loyalty.reward_expiring"),
        ),
    ),
)
RETRIES = (0.5, 2.0, 10.0, 30.0)


async def start(
    bus: EventBus,
    notifier: Notifier,
    deliverer: Deliverer,
    processed: ProcessedEvents,
    settings: NotificationSettings,
) -> None:
    async def on_event(event: Event, delivery: Delivery) -> None:
        # An order event's place in ES_ORDER lets a late check read only what follows it.
        at = delivery.stream_seq if delivery.stream == streams.ORDER.name else None
        await notifier.on_event(event, stream_seq=at)

    handler = idempotent(processed, on_event)
    for name, stream, subjects in SOURCES:
        await _consume(
            bus,
            settings.notification_workers,
            ConsumerSpec(
                f"notification-{name}",
                stream,
                subjects,
                max_deliveries=10,
                retry_delays_s=RETRIES,
                ack_wait_s=60,
            ),
            handler,
        )

    async def on_late(event: Event, _: Delivery) -> None:
        await notifier.on_late_check(event)

    await bus.consume(
        ConsumerSpec(
            "notification-late",
            NOTIFICATIONS.name,
            ("ntf.check.late",),
            max_deliveries=50,
            retry_delays_s=RETRIES,
        ),
        on_late,
    )
    channel_specs = {
        "in_app": (settings.in_app_retry_delays_s, settings.in_app_tries),
        "email": (settings.email_retry_delays_s, settings.email_tries),
        "push": (settings.push_retry_delays_s, settings.push_tries),
    }
    for channel, (delays, tries) in channel_specs.items():
        await _consume(
            bus,
            settings.notification_workers,
            ConsumerSpec(
                f"notification-{channel}",
                NOTIFICATIONS.name,
                (f"ntf.deliver.{channel}",),
                # Our own attempt count decides failure; the margin covers deferrals
                # (quiet hours) and rate-limit waits, which do not use up a try.
                max_deliveries=tries + 20,
                retry_delays_s=delays,
                ack_wait_s=max(60.0, settings.smtp_timeout_s * 3, settings.push_timeout_s * 6),
                batch=16,
            ),
            deliverer.handle,
        )


async def _consume(bus: EventBus, workers: int, spec: ConsumerSpec, handler: Handler) -> None:
    """Several pullers on one durable: JetStream hands each message to one of them."""
    for _ in range(workers):
        await bus.consume(spec, handler)
