"""Each outlet's stock as an event-sourced aggregate on JetStream.

Subject ``es.stock.<franchise>.<outlet_id>`` in stream ``ES_STOCK``. A change is decided on
the ledger as loaded and appended with the sequence it was loaded at; when another writer
(another replica) got there first the append fails with ``ConcurrencyConflict`` and the
change is decided again on the newer state. That is what keeps concurrent reservations of
the last units from overselling: MongoDB is never asked to arbitrate.

Within one process the ledgers stay in memory and only the events appended since are read
before each decision; a lock per outlet keeps this process's own writers in line so that
they do not waste appends racing each other.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from bobaku.kernel.errors import ConcurrencyConflict, DependencyUnavailable
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.menu.domain.stock import StockFact, StockLedger

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 40


@dataclass
class _Loaded:
    ledger: StockLedger
    seq: int


class StockLedgers:
    def __init__(self, store: AggregateStore, *, source: str, memory: timedelta) -> None:
        self.store = store
        self.source = source
        self.memory = memory
        self._loaded: dict[str, _Loaded] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.conflicts = 0  # appends that lost a race and were decided again

    async def start(self) -> None:
        await self.store.start()

    def subject(self, franchise_id: str, outlet_id: str) -> str:
        return self.store.subject(franchise_id, outlet_id)

    def _apply(self, ledger: StockLedger, event: Event) -> StockLedger:
        return ledger.apply(event.type, event.data, event.timestamp)

    async def _current(self, subject: str, outlet_id: str) -> _Loaded:
        """The ledger with every event appended so far (caller holds the outlet's lock)."""
        loaded = self._loaded.get(subject)
        if loaded is None:
            snap = await self.store.load_state(
                subject,
                lambda: StockLedger(outlet_id, memory=self.memory),
                self._apply,
                encode=lambda ledger: ledger.as_record(),
                decode=lambda r: StockLedger.from_record(r, self.memory),
            )
            loaded = _Loaded(snap.state, snap.last_seq)
            self._loaded[subject] = loaded
            return loaded
        newer = await self.store.load(subject, after_seq=loaded.seq)
        for event in newer.events:
            self._apply(loaded.ledger, event)
        loaded.seq = newer.last_seq
        return loaded

    async def read(self, franchise_id: str, outlet_id: str, view: Callable[[StockLedger], T]) -> T:
        subject = self.subject(franchise_id, outlet_id)
        async with self._locks.setdefault(subject, asyncio.Lock()):
            loaded = await self._current(subject, outlet_id)
            return view(loaded.ledger)

    async def change(
        self,
        franchise_id: str,
        outlet_id: str,
        decide: Callable[[StockLedger], StockFact | None],
        view: Callable[[StockLedger], T],
    ) -> tuple[StockFact | None, T]:
        """Decide on the latest ledger and record the fact, deciding again after a lost race.

        Returns the recorded fact (``None`` when there was nothing to record, e.g. a repeat)
        and ``view`` of the ledger afterwards. Domain exceptions raised by ``decide`` pass.
        """
        subject = self.subject(franchise_id, outlet_id)
        lock = self._locks.setdefault(subject, asyncio.Lock())
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with lock:
                loaded = await self._current(subject, outlet_id)
                fact = decide(loaded.ledger)
                if fact is None:
                    return None, view(loaded.ledger)
                event = self._event(franchise_id, fact)
                try:
                    seq = await self.store.append(subject, [event], loaded.seq)
                except ConcurrencyConflict:
                    self.conflicts += 1
                else:
                    self._apply(loaded.ledger, event)
                    loaded.seq = seq
                    return fact, view(loaded.ledger)
            # Another replica wrote first: back off a little (jittered) and decide again.
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
        raise DependencyUnavailable(
            "the outlet's stock is too busy right now; try again",
            details={"outlet_id": outlet_id, "attempts": MAX_ATTEMPTS},
        )

    def _event(self, franchise_id: str, fact: StockFact) -> Event:
        data: dict[str, Any] = dict(fact.data)
        return new_event(fact.type, data, source=self.source, tenant=franchise_id)
