"""Each outlet's stock as an event-sourced aggregate on JetStream.

Subject ``es.stock.<franchise>.<outlet_id>`` in stream ``ES_STOCK``. A change is decided on
the ledger as loaded and appended with the sequence it was loaded at; when another writer
(another replica) got there first the append fails with ``ConcurrencyConflict`` and the
change is decided again on the newer state. That is what keeps concurrent reservations of
the last units from overselling: MongoDB is never asked to arbitrate.

The kernel's ``LiveAggregates`` does the deciding, appending and retrying; this module says
what an outlet's stock ledger is to it.
"""

from __future__ import annotations

from datetime import timedelta

from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import AggregateStore, LiveAggregates
from bobaku.services.menu.domain.stock import StockLedger


def _apply(ledger: StockLedger, event: Event) -> StockLedger:
    return ledger.apply(event.type, event.data, event.timestamp)


class StockLedgers(LiveAggregates[StockLedger]):
    def __init__(self, store: AggregateStore, *, source: str, memory: timedelta) -> None:
        super().__init__(
            store,
            source=source,
            empty=lambda outlet_id: StockLedger(outlet_id, memory=memory),
            apply=_apply,
            encode=lambda ledger: ledger.as_record(),
            decode=lambda record: StockLedger.from_record(record, memory),
            busy="the outlet's stock",
            key_name="outlet_id",
        )
