"""The loyalty projector: keeps ``loyalty_accounts`` and ``loyalty_history`` in step with
the ledgers. It is the only writer of both, and every write is replay-safe: the history
entry is keyed by event id, and the account is recomputed from the ledger itself and stored
only if it is newer than what is there."""

from __future__ import annotations

from bobaku.kernel.events import Event
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.loyalty_views import LoyaltyViews, position_of
from bobaku.services.customer.service_layer.clock import utc_now


class LoyaltyProjector:
    def __init__(self, *, ledgers: LedgerStore, views: LoyaltyViews) -> None:
        self.ledgers = ledgers
        self.views = views

    async def project(self, customer_id: str, event: Event, stream_seq: int, index: int) -> None:
        await self.views.record_entry(customer_id, event, position_of(stream_seq, index))
        # A batch's later events, or a redelivery, find the account already past them.
        if await self.views.account_seq(customer_id) >= stream_seq:
            return
        ledger, last_seq = await self.ledgers.load(customer_id)
        await self.views.save_account(customer_id, ledger, last_seq, utc_now())
