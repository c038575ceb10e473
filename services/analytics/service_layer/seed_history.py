"""``seed-history``: a realistic past year for the demo brand, replayed through the real
projections.

Each generated order (``domain/history.py``: its cups from the demand model, its events as
the order service writes them) is appended, as one message of its events, to its own
subject on ``ES_ORDERHISTORY`` (``kernel/streams.py``: read by analytics alone, so no
kitchen screen, notification or loyalty ledger acts on a made-up year). The live consumer
folds them as it folds real orders, and the command ends with a rebuild, so the figures are
there at once.

Loyalty goes the way of a real order's (:class:`LoyaltyBook`): each generated customer has a
ledger, and the customer service's own rules (``services/customer/domain/loyalty.py``)
decide on it, at each order's time, what the customer service decides for a real order —
points earned on payment (with the order's franchise), a reward redeemed when the customer
has the points (the order then carries ``order.rewards_redeemed`` and is paid less), the
redemption released when the order is cancelled, points reversed on a refund, tier changes.
The facts of a customer's day are appended as the customer service's ledger store appends
them (one commit on ``es.loyaltyhistory.brand.<customer>``, with the sequence it was
decided at) to ``ES_LOYALTYHISTORY``, which analytics alone reads: no balance of a real
account moves. A ledger starts empty at the first day of the run's window.

Versioned: the history streams' names carry the generator's version
(``kernel/streams.py: HISTORY_VERSION``), and a run first deletes the history streams of
any other version (:func:`retire_other_versions`), so a year an older generator stored is
replaced, never counted beside this one's (its days would otherwise look stored, and their
figures would be the older generator's).

Idempotent: order ids and event ids come from the outlet, day and number, every order
append expects an empty subject (a second run finds its orders stored and adds nothing), a
customer's day is not appended again when the ledger's last commit began at or after it, and a day
whose last order is stored (it is appended after everything else of the day) is skipped
without looking further. Bounded: at most ``MAX_DAYS`` days ending yesterday (today is left
to real orders), demand scaled by ``scale``.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nats.js.errors import NotFoundError

from bobaku.kernel.bus import EventBus, decode_events
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import EventMetadata
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.analytics.domain import history
from bobaku.services.analytics.service_layer.sources import PLATFORM, Sources
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.events import LoyaltyEvent
from bobaku.services.customer.domain.loyalty import Ledger

MAX_DAYS = 400
APPENDS_IN_FLIGHT = 64
# Of the orders whose customer can afford a reward, the share that redeems one.
REDEEM_SHARE = 0.35


@dataclass
class Seeded:
    days: int = 0
    days_skipped: int = 0
    orders: int = 0
    orders_existing: int = 0
    events: int = 0
    loyalty_events: int = 0
    loyalty_existing: int = 0  # facts found stored by an earlier run
    retired: list[str] = field(default_factory=list)  # an older generator's streams, deleted


Dated = list[tuple[datetime, LoyaltyEvent]]


class BookLedger(Ledger):
    """The customer service's ledger, with a cheaper :meth:`after` for a year of decisions.

    Every decision checks the tier on a copy of the ledger with its facts applied; the
    domain deep-copies the whole ledger for that, which for a regular's year of earnings
    made the generation quadratic. This copy shares the earnings and redemptions the facts
    do not touch (applying a fact only replaces or changes those of its own order), so the
    decisions and their result are the same."""

    def after(self, facts: Sequence[LoyaltyEvent], at: datetime) -> Ledger:
        ledger = copy.copy(self)
        ledger.earnings = dict(self.earnings)
        ledger.redemptions = dict(self.redemptions)
        for fact in facts:
            data = fact.data  # (built on each access)
            order_id = data.get("order_id")
            if order_id in ledger.earnings:
                ledger.earnings[order_id] = copy.deepcopy(ledger.earnings[order_id])
            if order_id in ledger.redemptions:
                ledger.redemptions[order_id] = copy.deepcopy(ledger.redemptions[order_id])
            ledger.apply(fact.type, data, at)
        return ledger


@dataclass
class LoyaltyBook:
    """The generated customers' ledgers through the past, decided by the customer
    service's rules at each order's time (deterministic for the seed)."""

    seed: int = 7
    ledgers: dict[str, BookLedger] = field(default_factory=dict)

    def day(self, orders: list[list[Event]]) -> tuple[list[list[Event]], dict[str, Dated]]:
        """The day's orders (those that redeemed a reward now carry it and are paid less)
        and the ledger facts of each customer that day, in time order."""
        facts: dict[str, Dated] = {}
        out = [self._order(order, facts) for order in sorted(orders, key=lambda o: o[0].timestamp)]
        order_ids = {o[0].data["order_id"]: o for o in out}
        return [order_ids[o[0].data["order_id"]] for o in orders], facts

    def _order(self, order: list[Event], facts: dict[str, Dated]) -> list[Event]:
        created = order[0]
        order_id, customer = created.data["order_id"], created.data["customer_id"]
        ledger = self.ledgers.setdefault(customer, BookLedger(customer))
        rng = random.Random(f"{self.seed}-{order_id}-loyalty")
        mine = facts.setdefault(customer, [])

        def record(at: datetime, decided: list[LoyaltyEvent]) -> None:
            for fact in decided:
                ledger.apply(fact.type, fact.data, at)
                mine.append((at, fact))

        subtotal = int(created.data["subtotal_amount"])
        affordable = [
            r
            for r in loyalty.REWARDS
            if r.points_cost <= ledger.points and r.discount_amount * 2 <= subtotal
        ]
        discount = 0
        events = list(order)
        if affordable and rng.random() < REDEEM_SHARE:
            reward = max(affordable, key=lambda r: r.points_cost)
            decided, redemption = loyalty.redeem(
                ledger, order_id=order_id, rewards=[reward], now=created.timestamp
            )
            record(created.timestamp, decided)
            discount = redemption.discount_amount
            events.insert(1, _like(created, "order.rewards_redeemed", created.timestamp, {
                "order_id": order_id, "outlet_id": created.data["outlet_id"],
                "customer_id": customer, "points": redemption.points,
                "discount_amount": discount, "rewards": redemption.result()["rewards"],
            }))  # fmt: skip
        for i, event in enumerate(events):
            if event.type == "order.payment_completed" and discount:
                events[i] = _with(event, amount=int(event.data["amount"]) - discount)
                event = events[i]
            if event.type == "order.refunded" and discount:
                paid = subtotal - discount
                events[i] = _with(event, amount=paid, total_refunded=paid)
                event = events[i]
            at = event.timestamp
            if event.type == "order.cancelled" and discount:
                record(at, loyalty.release(ledger, order_id=order_id, now=at)[0])
            elif event.type == "order.payment_completed":
                record(at, loyalty.earn_for_payment(
                    ledger, order_id=order_id, amount=int(event.data["amount"]), now=at,
                    franchise_id=created.tenant,
                ))  # fmt: skip
            elif event.type == "order.refunded":
                record(at, loyalty.reverse_for_refund(
                    ledger, order_id=order_id, refund_id=event.data["refund_id"],
                    amount=int(event.data["amount"]), full=bool(event.data["full"]), now=at,
                ))  # fmt: skip
        if not mine:
            del facts[customer]
        return events


def _like(model: Event, kind: str, when: datetime, data: dict[str, Any]) -> Event:
    """An order event of the generated order ``model`` belongs to."""
    order_id = model.data["order_id"]
    return model.model_copy(
        update={"id": f"evt-{order_id}-{kind.removeprefix('order.')}", "type": kind,
                "timestamp": when, "data": data}
    )  # fmt: skip


def _with(event: Event, **changes: Any) -> Event:
    return event.model_copy(update={"data": {**event.data, **changes}})


def ledger_events(customer: str, dated: Dated) -> list[Event]:
    """A customer's day of facts as the ledger store stores them, with ids from the facts'
    orders (the same every run)."""
    out = []
    for at, fact in dated:
        ref = fact.data.get("order_id") or customer
        kind = fact.type.removeprefix("loyalty.")
        out.append(
            Event(
                id=f"evt-{ref}-{kind}",
                type=fact.type,
                timestamp=at.replace(microsecond=at.microsecond // 1000 * 1000),
                version="1.0",
                source="analytics-history",
                tenant=None,
                data=fact.data,
                metadata=EventMetadata(correlation_id=str(ref), trace_id=str(ref)),
            )
        )
    return out


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
    sources: Sources = PLATFORM,
) -> Seeded:
    """Append the ``days`` days before ``end`` (a local date, not included)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}")
    if not 0 < scale <= 2:
        raise ValueError("scale must be in (0, 2]")
    done = Seeded(retired=await retire_other_versions(bus, sources))
    store = AggregateStore(bus, sources.order_history)
    ledgers = AggregateStore(bus, sources.loyalty_history)
    await store.start()
    await ledgers.start()
    menu = demo_menu()
    gate = asyncio.Semaphore(APPENDS_IN_FLIGHT)
    book = LoyaltyBook(seed)
    at_seq: dict[str, int] = {}  # each ledger's last sequence, as this run knows it
    # When a ledger's last stored commit (by an earlier run) began: commits up to then are
    # stored already (a customer's days are committed in time order).
    stored_until: dict[str, datetime] = {}

    async def append(order: list[Event]) -> bool:
        subject = store.subject(order[0].tenant, order[0].data["order_id"])
        async with gate:
            try:
                await store.append(subject, order, 0)
            except ConcurrencyConflict:
                return False  # stored by an earlier run
        return True

    async def append_ledger(customer: str, events: list[Event]) -> int:
        subject = ledgers.subject(None, customer)
        async with gate:
            if customer not in at_seq:
                # First commit of this run: a rerun may find this day, or later, stored.
                at_seq[customer], began = await _last_commit(bus, ledgers, subject)
                if began is not None:
                    stored_until[customer] = began
            until = stored_until.get(customer)
            if until is not None and events[0].timestamp <= until:
                done.loyalty_existing += len(events)
                return 0
            at_seq[customer] = await ledgers.append(subject, events, at_seq[customer])
        return len(events)

    for d in range(days):
        day = end - timedelta(days=days - d)
        sales = list(history.generate(day, 1, seed=seed * 100_000 + day.toordinal(), scale=scale))
        orders, facts = book.day(history.day_orders(day, sales, menu, zone, seed))
        done.days += 1
        last = orders[-1] if orders else None
        if last is not None and await store.last_seq(
            store.subject(last[0].tenant, last[0].data["order_id"])
        ):
            done.days_skipped += 1
            done.orders_existing += len(orders)
            done.loyalty_existing += sum(len(dated) for dated in facts.values())
        else:
            stored = list(await asyncio.gather(*(append(o) for o in orders[:-1])))
            written = await asyncio.gather(
                *(append_ledger(c, ledger_events(c, dated)) for c, dated in facts.items())
            )
            done.loyalty_events += sum(written)
            if last is not None:
                stored.append(await append(last))  # last: the day is complete once it is
            done.orders += sum(stored)
            done.orders_existing += len(stored) - sum(stored)
            done.events += sum(len(o) for o, s in zip(orders, stored, strict=True) if s)
        if progress is not None:
            progress(1, days)
    return done


async def _last_commit(
    bus: EventBus, store: AggregateStore, subject: str
) -> tuple[int, datetime | None]:
    """The sequence of a subject's last commit and when its first fact happened (0, None if
    the subject is empty)."""
    try:
        raw = await bus.get_last_msg(store.spec.name, subject)
    except NotFoundError:
        return 0, None
    events = decode_events(raw.data or b"", raw.headers)
    return int(raw.seq or 0), events[0].timestamp if events else None


def _unversioned(kind: str) -> str:
    return re.sub(r"v\d+$", "", kind)


async def retire_other_versions(bus: EventBus, sources: Sources = PLATFORM) -> list[str]:
    """Delete the history streams another generator version wrote (``ES_ORDERHISTORY``,
    the unversioned first one, or ``ES_ORDERHISTORYV<n>``, and their loyalty twins) and
    return their names. A projection that counted them drops them at its next rebuild,
    which ``seed-history`` ends with."""
    current = {sources.order_history, sources.loyalty_history}
    patterns = [
        re.compile(rf"^ES_{re.escape(_unversioned(kind).upper())}(V\d+)?$") for kind in current
    ]
    keep = {f"ES_{kind.upper()}" for kind in current}
    retired = []
    for info in await bus.js.streams_info():
        name = info.config.name
        # Only this deployment's streams (kernel/names.py): another's are not ours to retire.
        if not name or bus.names.stream(bus.names.local_stream(name)) != name:
            continue
        local = bus.names.local_stream(name)
        if local not in keep and any(p.match(local) for p in patterns):
            await bus.js.delete_stream(name)
            retired.append(local)
    return sorted(retired)
