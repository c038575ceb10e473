"""The supply aggregates on JetStream (kernel ``AggregateStore``).

- Outlet stock: ``es.supply.<franchise>.<outlet_id>`` (stream ``ES_SUPPLY``). A change is
  decided on the ledger as loaded and appended with the sequence it was loaded at; a writer
  that lost the race (another replica appended first) gets ``ConcurrencyConflict`` and
  decides again on the newer state, so two orders racing for the last pearls never both get
  them. The ledgers stay in memory; each decision first reads the events appended since.
- Purchase orders ``es.supplypo.<franchise>.<po_id>`` and transfers
  ``es.supplytransfer.<franchise>.<transfer_id>``: small aggregates folded on every load.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from bobaku.kernel.errors import ConcurrencyConflict, DependencyUnavailable
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.supply.domain.ledger import OutletStock, StockFact

T = TypeVar("T")
MAX_ATTEMPTS = 40


@dataclass
class _Loaded:
    ledger: OutletStock
    seq: int


class StockLedgers:
    def __init__(self, store: AggregateStore, *, source: str, memory: timedelta) -> None:
        self.store = store
        self.source = source
        self.memory = memory
        self._loaded: dict[str, _Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.conflicts = 0

    async def start(self) -> None:
        await self.store.start()

    def _apply(self, ledger: OutletStock, event: Event) -> OutletStock:
        return ledger.apply(event.type, event.data, event.timestamp)

    async def _current(self, subject: str, outlet_id: str) -> _Loaded:
        loaded = self._loaded.get(subject)
        if loaded is None:
            snap = await self.store.load_state(
                subject,
                lambda: OutletStock(outlet_id, memory=self.memory),
                self._apply,
                encode=lambda ledger: ledger.as_record(),
                decode=lambda r: OutletStock.from_record(r, self.memory),
            )
            loaded = _Loaded(snap.state, snap.last_seq)
            self._loaded[subject] = loaded
            return loaded
        newer = await self.store.load(subject, after_seq=loaded.seq)
        for event in newer.events:
            self._apply(loaded.ledger, event)
        loaded.seq = newer.last_seq
        return loaded

    async def read(
        self, franchise_id: str, outlet_id: str, view: Callable[[OutletStock], T]
    ) -> tuple[T, int]:
        """``view`` of the ledger as stored now, and the stream sequence it reflects."""
        subject = self.store.subject(franchise_id, outlet_id)
        async with self._locks.setdefault(subject, asyncio.Lock()):
            loaded = await self._current(subject, outlet_id)
            return view(loaded.ledger), loaded.seq

    async def change(
        self,
        franchise_id: str,
        outlet_id: str,
        decide: Callable[[OutletStock], StockFact | None],
        view: Callable[[OutletStock], T],
    ) -> tuple[StockFact | None, T]:
        """Decide on the latest ledger and record the fact, deciding again after a lost
        race. Domain exceptions raised by ``decide`` pass through; nothing is written then."""
        subject = self.store.subject(franchise_id, outlet_id)
        lock = self._locks.setdefault(subject, asyncio.Lock())
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with lock:
                loaded = await self._current(subject, outlet_id)
                fact = decide(loaded.ledger)
                if fact is None:
                    return None, view(loaded.ledger)
                event = new_event(fact.type, fact.data, source=self.source, tenant=franchise_id)
                try:
                    seq = await self.store.append(subject, [event], loaded.seq)
                except ConcurrencyConflict:
                    self.conflicts += 1
                else:
                    self._apply(loaded.ledger, event)
                    loaded.seq = seq
                    return fact, view(loaded.ledger)
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
        raise DependencyUnavailable(
            "the outlet's stock is too busy right now; try again",
            details={"outlet_id": outlet_id, "attempts": MAX_ATTEMPTS},
        )


class Foldable(Protocol):
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
