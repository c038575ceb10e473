"""The payment projector: keeps the read models in step with the payment stream.

One durable consumer over ``es.payment.>`` updates, per event (in Redis, see
``adapters/read_models.py``),

- the payment's view in its listings (rebuilt from the aggregate and versioned by its
  stream sequence, so a redelivery or an out-of-order retry never regresses it), and
- the settlement counters of the event's outlet and business day (counted once per event
  id).

It runs only in the process that holds the projector lease, so every counters document has
one writer (see :mod:`bobaku.services.payment.adapters.lease`).

Redis is not where these models are kept safe: the stream is. :func:`rebuild_read_models`
replays every payment of the stream that this instance serves into the views, the
counters and the deadlines (``kernel.listings.ReadModelGuard`` runs it when Redis has lost
them: a flush, a restart without persistence). Each write is idempotent (a view never
regresses, an event is counted once by its id, a deadline is keyed), so it is safe beside
the projector and in every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import tzinfo

from bobaku.kernel.bus import Consumer, ConsumerSpec, Delivery, EventBus, Handler, Reject
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import parse_utc
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.payment.adapters.lease import LeaderLease
from bobaku.services.payment.adapters.read_models import PaymentViews, SettlementCounters
from bobaku.services.payment.adapters.repository import LoadedPayment, PaymentRepository
from bobaku.services.payment.domain.events import PaymentEvent, event_from_data
from bobaku.services.payment.domain.model import Payment
from bobaku.services.payment.domain.settlement import settlement_line
from bobaku.services.payment.service_layer.handlers import PaymentContext, restore_deadlines
from bobaku.services.payment.service_layer.views import payment_view

log = logging.getLogger(__name__)


class PaymentProjector:
    def __init__(
        self,
        payments: PaymentRepository,
        counters: SettlementCounters,
        views: PaymentViews,
        timezone: tzinfo,
    ) -> None:
        self.payments = payments
        self.counters = counters
        self.views = views
        self.timezone = timezone

    async def handle(self, event: Event, delivery: Delivery) -> None:
        try:
            domain = event_from_data(event.type, event.data)
            if domain is None or event.tenant is None:
                return
            # The payment service has almost always just appended this very message
            # itself: the history it remembers answers, with no round trip.
            loaded = await self.payments.load(
                event.tenant, domain.intent_id, reaches=(delivery.stream_seq, event.id)
            )
        except ValueError as exc:
            # Not a payment this service wrote (e.g. a hand-made event in the stream):
            # retrying cannot help, so it goes to the dead letters with the reason.
            raise Reject(str(exc)) from exc
        payment = loaded.payment
        if payment is None:
            return
        await self._save_view(loaded, payment)
        await self._count(event.tenant, payment, domain, event)

    async def project_history(self, loaded: LoadedPayment) -> bool:
        """The payment's view and every one of its events' settlement figures (each counted
        once by its event id); False if there is no payment."""
        payment = loaded.payment
        if payment is None:
            return False
        await self._save_view(loaded, payment)
        for event in loaded.events:
            domain = event_from_data(event.type, event.data)
            if domain is not None:
                await self._count(loaded.franchise_id, payment, domain, event)
        return True

    async def _save_view(self, loaded: LoadedPayment, payment: Payment) -> None:
        await self.views.save(
            loaded.franchise_id,
            payment_view(payment),
            parse_utc(payment.created_at),
            loaded.version,
        )

    async def _count(
        self, franchise_id: str, payment: Payment, domain: PaymentEvent, event: Event
    ) -> None:
        line = settlement_line(domain, payment.provider, event.timestamp, self.timezone)
        if line is not None:
            await self.counters.add(franchise_id, line, event.id)


async def rebuild_read_models(
    store: AggregateStore, projector: PaymentProjector, ctx: PaymentContext
) -> int:
    """Every payment of the stream in this instance's franchise scope projected again, and
    its open deadlines set again; returns how many payments."""
    rebuilt = 0
    for franchise_id, intent_id in await store.aggregates():
        try:
            loaded = await projector.payments.load(franchise_id, intent_id)
        except ValueError:  # not a payment this service wrote (the projector rejects it)
            continue
        if await projector.project_history(loaded):
            assert loaded.payment is not None
            await restore_deadlines(ctx, loaded.payment)
            rebuilt += 1
    return rebuilt


class LeasedConsumer:
    """Runs a consumer only while this process holds ``lease``."""

    def __init__(
        self,
        bus: EventBus,
        spec: ConsumerSpec,
        handler: Handler,
        lease: LeaderLease,
        renew_every_s: float,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.lease = lease
        self.renew_every_s = renew_every_s
        self.consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The first attempt is made before serving, so a lone process projects at once.
        await self._tick()
        self._task = asyncio.create_task(self._run(), name=f"lease:{self.spec.durable}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self._tick()
            except Exception:  # e.g. NATS away while starting the consumer: try next time
                log.exception("projector lease tick failed")

    async def _tick(self) -> None:
        try:
            held = await self.lease.hold()
        except Exception as exc:  # cannot prove we hold it: behave as if we did not
            log.warning("projector lease check failed: %s", exc)
            held = False
        if held and self.consumer is None:
            self.consumer = await self.bus.consume(self.spec, self.handler)
            log.info("projector started", extra={"consumer": self.spec.durable})
        elif not held and self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
            log.warning("projector lease lost; stopped", extra={"consumer": self.spec.durable})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        with contextlib.suppress(Exception):
            await self.lease.release()
