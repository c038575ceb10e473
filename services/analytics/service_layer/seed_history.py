"""``seed-history``: a realistic past year for the demo brand, replayed through the real
projections.

Each generated order (``domain/history.py``: its cups from the demand model, its events as
the order service writes them) is appended, as one message of its events, to its own
subject on ``ES_ORDERHISTORY`` (``kernel/streams.py``: read by analytics alone, so no
kitchen screen, notification or loyalty ledger acts on a made-up year). The live consumer
folds them as it folds real orders, and the command ends with a rebuild, so the figures are
there at once.

Idempotent: order ids and event ids come from the outlet, day and number, every append
expects an empty subject (a second run finds its orders stored and adds nothing), and a day
whose last order is stored is skipped without looking further. Bounded: at most
``MAX_DAYS`` days ending yesterday (today is left to real orders), demand scaled by
``scale``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bobaku.kernel import streams
from bobaku.kernel.bus import EventBus
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.analytics.domain import history

MAX_DAYS = 400
APPENDS_IN_FLIGHT = 64
KIND = "orderhistory"


@dataclass
class Seeded:
    days: int = 0
    days_skipped: int = 0
    orders: int = 0
    orders_existing: int = 0
    events: int = 0


def demo_menu() -> dict[str, history.MenuEntry]:
    """The demo brand's items the history sells, with their names, prices and toppings (as
    the menu service seeds them)."""
    from bobaku.services.menu.seed import TOPPING_LIST, demo_items

    prices = {t.id: t.price for t in TOPPING_LIST}
    items = {i.id: i for i in demo_items(datetime.now(UTC))}
    return {
        item_id: history.MenuEntry(
            items[item_id].name,
            items[item_id].base_price,
            tuple((t, prices[t]) for t in items[item_id].topping_ids if t in prices),
        )
        for item_id in history.ITEMS
    }


async def seed_history(
    bus: EventBus,
    *,
    end: date,
    days: int,
    zone: ZoneInfo,
    seed: int = 7,
    scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> Seeded:
    """Append the ``days`` days before ``end`` (a local date, not included)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}")
    if not 0 < scale <= 2:
        raise ValueError("scale must be in (0, 2]")
    store = AggregateStore(bus, KIND)
    assert store.spec == streams.ORDER_HISTORY.spec
    await store.start()
    menu = demo_menu()
    done = Seeded()
    gate = asyncio.Semaphore(APPENDS_IN_FLIGHT)

    async def append(order: list[Event]) -> bool:
        subject = store.subject(order[0].tenant, order[0].data["order_id"])
        async with gate:
            try:
                await store.append(subject, order, 0)
            except ConcurrencyConflict:
                return False  # stored by an earlier run
        return True

    for d in range(days):
        day = end - timedelta(days=days - d)
        sales = list(history.generate(day, 1, seed=seed * 100_000 + day.toordinal(), scale=scale))
        orders = history.day_orders(day, sales, menu, zone, seed)
        done.days += 1
        last = orders[-1] if orders else None
        if last is not None and await store.last_seq(
            store.subject(last[0].tenant, last[0].data["order_id"])
        ):
            done.days_skipped += 1
            done.orders_existing += len(orders)
        else:
            stored = await asyncio.gather(*(append(o) for o in orders))
            done.orders += sum(stored)
            done.orders_existing += len(stored) - sum(stored)
            done.events += sum(len(o) for o, s in zip(orders, stored, strict=True) if s)
        if progress is not None:
            progress(1, days)
    return done
