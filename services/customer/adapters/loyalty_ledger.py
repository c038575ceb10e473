"""The loyalty ledgers on JetStream: one aggregate per customer, ``es.loyalty.brand.<id>``.

Appends carry the sequence the decision was made on; a concurrent writer makes the append
fail with :class:`~bobaku.kernel.errors.ConcurrencyConflict` instead of overspending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.customer.domain.events import LoyaltyEvent
from bobaku.services.customer.domain.loyalty import Ledger

SOURCE = "customer-service"


class LedgerStore:
    def __init__(self, bus: EventBus) -> None:
        self.store = AggregateStore(bus, "loyalty")

    async def start(self) -> None:
        await self.store.start()

    def subject(self, customer_id: str) -> str:
        return self.store.subject(None, customer_id)

    async def load(self, customer_id: str) -> tuple[Ledger, int]:
        """The customer's ledger and the sequence it was read at (0: no history yet)."""
        loaded = await self.store.load_state(
            self.subject(customer_id),
            lambda: Ledger(customer_id),
            lambda ledger, event: ledger.apply(event.type, event.data, event.timestamp),
        )
        return loaded.state, loaded.last_seq

    async def events(self, customer_id: str) -> list[Event]:
        return (await self.store.load(self.subject(customer_id))).events

    async def append(
        self, customer_id: str, facts: Sequence[LoyaltyEvent], *, expected_seq: int
    ) -> int:
        """Commit ``facts`` atomically if the ledger is still at ``expected_seq``."""
        events = [new_event(f.type, f.data, source=SOURCE) for f in facts]
        return await self.store.append(self.subject(customer_id), events, expected_seq)

    async def append_history(
        self, customer_id: str, dated: Sequence[tuple[datetime, LoyaltyEvent]], *, expected_seq: int
    ) -> int:
        """Commit facts that happened in the past (the seed's history), each at its time."""
        events = [
            new_event(f.type, f.data, source=SOURCE).model_copy(
                update={"timestamp": at.replace(microsecond=at.microsecond // 1000 * 1000)}
            )
            for at, f in dated
        ]
        return await self.store.append(self.subject(customer_id), events, expected_seq)
