"""Telling the live feeds that figures moved: ``analytics.figures_moved`` on EVENTS.

The hub routes it to the franchise's operations feed and to each outlet's kitchen feed
(``hub/channel_routes.py``); a dashboard that sees it reloads its figures from the API, so
what it shows is always the projection's, never a sum kept in the browser. Events are
coalesced: at most one per franchise every ``interval_s``, naming the outlets and orders
whose events were applied since the last one. The event is a hint: one that cannot be
published is logged and dropped (the next movement, or a reload, shows the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import new_event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.services.analytics.domain.model import OrderFacts

log = logging.getLogger(__name__)

FIGURES_MOVED = "analytics.figures_moved"
MAX_ORDERS = 200  # the schema's bound on order_ids


@dataclass
class _Pending:
    outlets: set[str] = field(default_factory=set)
    orders: dict[str, None] = field(default_factory=dict)  # insertion-ordered set


class FiguresFeed:
    def __init__(self, bus: EventBus, interval_s: float = 0.5) -> None:
        self.bus = bus
        self.interval_s = interval_s
        self._pending: dict[str, _Pending] = {}
        self._task: asyncio.Task[None] | None = None

    def moved(self, facts: OrderFacts) -> None:
        """The events of this order moved figures (called after they are stored)."""
        if not facts.franchise_id:
            return
        p = self._pending.setdefault(facts.franchise_id, _Pending())
        if facts.outlet_id:
            p.outlets.add(facts.outlet_id)
        p.orders.pop(facts.order_id, None)
        p.orders[facts.order_id] = None
        while len(p.orders) > MAX_ORDERS:
            p.orders.pop(next(iter(p.orders)))

    async def flush(self) -> int:
        """Publish what is pending, one event per franchise; returns how many."""
        pending, self._pending = self._pending, {}
        sent = 0
        now = utc_iso(datetime.now(UTC))
        for franchise, p in sorted(pending.items()):
            event = new_event(
                FIGURES_MOVED,
                {
                    "franchise_id": franchise,
                    "outlet_ids": sorted(p.outlets),
                    "order_ids": list(p.orders),
                    "moved_at": now,
                },
                source="analytics",
                tenant=franchise,
            )
            try:
                await self.bus.publish(event)
                sent += 1
            except Exception:  # a hint lost is a reload later, never a wrong figure
                log.warning("could not publish figures_moved", exc_info=True)
        return sent

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-figures-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self._pending:
                await self.flush()
