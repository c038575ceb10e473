"""The supply aggregates on JetStream (kernel ``AggregateStore``).

- Outlet stock: ``es.supply.<franchise>.<outlet_id>`` (stream ``ES_SUPPLY``). A change is
  decided on the ledger as loaded and appended with the sequence it was loaded at; a writer
  that lost the race (another replica appended first) gets ``ConcurrencyConflict`` and
  decides again on the newer state, so two orders racing for the last pearls never both get
  them (the kernel's ``LiveAggregates``).
- Purchase orders ``es.supplypo.<franchise>.<po_id>`` and transfers
  ``es.supplytransfer.<franchise>.<transfer_id>``: small aggregates folded on every load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from bobaku.kernel.events import Event, new_event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.kernel.eventstore import AggregateStore, LiveAggregates
from bobaku.services.supply.domain.ledger import OutletStock


def _apply(ledger: OutletStock, event: Event) -> OutletStock:
    return ledger.apply(event.type, event.data, event.timestamp)


class StockLedgers(LiveAggregates[OutletStock]):
    """Outlet stock: decided, appended and retried by the kernel's ``LiveAggregates``."""

    def __init__(self, store: AggregateStore, *, source: str, memory: timedelta) -> None:
        super().__init__(
            store,
            source=source,
            empty=lambda outlet_id: OutletStock(outlet_id, memory=memory),
            apply=_apply,
            encode=lambda ledger: ledger.as_record(),
            decode=lambda record: OutletStock.from_record(record, memory),
            busy="the outlet's stock",
            key_name="outlet_id",
        )


class Foldable(Protocol):
    @property
    def id(self) -> str: ...

    def apply(self, type: str, data: Any, at: str) -> Any: ...


A = TypeVar("A", bound=Foldable)


class Documents:
    """Purchase orders or transfers: load by folding, append with the loaded sequence."""

    def __init__(self, store: AggregateStore, *, source: str) -> None:
        self.store = store
        self.source = source

    async def start(self) -> None:
        await self.store.start()

    async def load(self, franchise_id: str, doc_id: str, empty: Callable[[], A]) -> tuple[A, int]:
        stream = await self.store.load(self.store.subject(franchise_id, doc_id))
        state = empty()
        for event in stream.events:
            state.apply(event.type, event.data, utc_iso(event.timestamp))
        return state, stream.last_seq

    async def append(
        self, franchise_id: str, doc_id: str, facts: Sequence[tuple[str, dict[str, Any]]], seq: int
    ) -> int:
        events = [new_event(t, d, source=self.source, tenant=franchise_id) for t, d in facts]
        return await self.store.append(self.store.subject(franchise_id, doc_id), events, seq)

    async def create(self, franchise_id: str, doc: A, fact: tuple[str, dict[str, Any]]) -> A:
        """Record a new document's first fact and fold it in, stamped as :meth:`load` would."""
        event = new_event(*fact, source=self.source, tenant=franchise_id)
        await self.store.append(self.store.subject(franchise_id, doc.id), [event], 0)
        doc.apply(event.type, event.data, utc_iso(event.timestamp))
        return doc
