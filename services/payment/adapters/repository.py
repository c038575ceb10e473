"""Payments in the event store: one aggregate per intent, ``es.payment.<fr>.<intent_id>``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.payment.domain.events import PaymentEvent, event_from_data
from bobaku.services.payment.domain.model import Payment, replay


@dataclass
class LoadedPayment:
    franchise_id: str
    intent_id: str
    payment: Payment | None
    # Stream sequence of the last stored event: the expected sequence of the next append.
    version: int
    # The stored envelopes, oldest first (their ids and times: a read-model rebuild).
    events: Sequence[Event] = field(default=(), repr=False)


def domain_events(events: Sequence[Event]) -> list[PaymentEvent]:
    out = []
    for event in events:
        domain = event_from_data(event.type, event.data)
        if domain is not None:
            out.append(domain)
    return out


class PaymentRepository:
    def __init__(self, store: AggregateStore, source: str) -> None:
        self.store = store
        self.source = source

    def subject(self, franchise_id: str, intent_id: str) -> str:
        return self.store.subject(franchise_id, intent_id)

    async def load(
        self, franchise_id: str, intent_id: str, *, reaches: tuple[int, str] | None = None
    ) -> LoadedPayment:
        """The payment as stored; with ``reaches`` (a delivered message's sequence and event
        id), as remembered when that holds the message (``AggregateStore.load``): for
        readers only, a decision must load the stored state."""
        stream = await self.store.load(self.subject(franchise_id, intent_id), reaches=reaches)
        payment = replay(domain_events(stream.events))
        return LoadedPayment(franchise_id, intent_id, payment, stream.last_seq, stream.events)

    async def append(self, loaded: LoadedPayment, events: Sequence[PaymentEvent]) -> int:
        """Store ``events`` if nobody else changed the payment since it was loaded
        (:class:`ConcurrencyConflict` otherwise); several events commit together."""
        envelopes = [
            new_event(e.type, e.data(), source=self.source, tenant=loaded.franchise_id)
            for e in events
        ]
        subject = self.subject(loaded.franchise_id, loaded.intent_id)
        loaded.version = await self.store.append(subject, envelopes, loaded.version)
        return loaded.version
