"""The demo's generated past: orders with the events the order service writes, appended to
their own stream once however often the command runs, and counted by the real projections
as the pure model says."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from nats.js.errors import NotFoundError
from support import delete_deployment, eventually

from bobaku.kernel import streams
from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event
from bobaku.kernel.events.registry import default_registry
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain import history
from bobaku.services.analytics.domain.model import (
    Contribution,
    OrderFacts,
    Rules,
    contribution,
    fold,
    merge,
)
from bobaku.services.analytics.entrypoints.consumers import start_consumers
from bobaku.services.analytics.service_layer.handlers import last_seq, rebuild
from bobaku.services.analytics.service_layer.seed_history import (
    Dated,
    LoyaltyBook,
    demo_menu,
    ledger_events,
    retire_other_versions,
    seed_history,
)
from bobaku.services.analytics.service_layer.sources import PLATFORM

ZONE = ZoneInfo("Asia/Jakarta")
# Days in the past that no real order and no other test touches.
END, DAYS, SEED, SCALE = date(2024, 3, 14), 3, 11, 0.2
OLDER_END = date(2023, 9, 1)
# What each generator version makes of one day (its orders' and ledger facts' ids, types,
# times and data): a change to the generator that moves it needs a new HISTORY_VERSION
# (kernel/streams.py) and its digest here, or the year stored by the older generator would
# pass for this one's.
GENERATED_DIGEST = {2: "631dd2bc09047ce5"}


def generated(book: LoyaltyBook, day: date) -> tuple[list[list[Event]], dict[str, Dated]]:
    sales = list(history.generate(day, 1, seed=SEED * 100_000 + day.toordinal(), scale=SCALE))
    return book.day(history.day_orders(day, sales, demo_menu(), ZONE, SEED))


def generated_digest() -> str:
    book = LoyaltyBook(seed=3)
    day = date(2026, 3, 7)
    sales = list(history.generate(day, 1, seed=3, scale=0.3))
    orders, facts = book.day(history.day_orders(day, sales, demo_menu(), ZONE, seed=3))
    events = [e for o in orders for e in o]
    events += [e for c in sorted(facts) for e in ledger_events(c, facts[c])]
    digest = hashlib.sha256()
    for e in events:
        record = [e.id, e.type, e.timestamp.isoformat(), e.tenant, e.data]
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def test_the_generator_makes_what_its_version_says() -> None:
    got = generated_digest()
    assert GENERATED_DIGEST.get(streams.HISTORY_VERSION) == got, (
        f"the generator now makes {got}: bump kernel/streams.py HISTORY_VERSION and record "
        "the digest under it"
    )
    assert streams.ORDER_HISTORY.spec.name == f"ES_ORDERHISTORYV{streams.HISTORY_VERSION}"


async def test_an_older_generators_year_is_deleted_and_never_counted(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    """History stored by an older generator (the unversioned first one, or another version)
    is in streams of its own: the rebuild does not read them and seed-history deletes them,
    so their orders never count beside the current year's."""
    bus = replaying_bus
    franchise = f"fr-oldgen{secrets.token_hex(2)}"
    old_streams = []
    for kind in ("orderhistory", "orderhistoryv1", "loyaltyhistory"):
        older = AggregateStore(bus, kind)
        await older.start()
        old_streams.append(older.spec.name)
        if kind.startswith("order"):
            (order,) = generated(LoyaltyBook(SEED), OLDER_END - timedelta(days=1))[0][:1]
            moved = [e.model_copy(update={"tenant": franchise, "data": {**e.data,
                     "franchise_id": franchise}}) for e in order]  # fmt: skip
            subject = older.subject(franchise, order[0].data["order_id"])
            await older.append(subject, moved, await older.last_seq(subject))
    # Not read by a rebuild ...
    done = await rebuild(bus, store, switch=False)
    try:
        (seen,) = await store.rows(["x"], done.generation)
        assert seen  # (the current streams' orders, other tests' included)
        assert not [key for key in seen if franchise in key]
    finally:
        await store.drop(done.generation)
    # ... and deleted by the next seed-history, which keeps its own streams.
    # (A day before the other test's: a ledger's days are stored in time order.)
    seeded = await seed_history(bus, end=OLDER_END, days=1, zone=ZONE, seed=SEED, scale=SCALE)
    assert set(old_streams) <= set(seeded.retired)
    for name in old_streams:
        with pytest.raises(NotFoundError):
            await bus.js.stream_info(name)
    assert await last_seq(bus, streams.ORDER_HISTORY.spec.name) > 0
    assert await retire_other_versions(bus) == []


def test_the_generated_loyalty_is_decided_by_the_customer_services_rules() -> None:
    """A month at the busiest outlet's scale: customers earn on every paid order, the
    regulars redeem rewards when they have the points (their orders carry the redemption and
    are paid less), cancellations give redeemed points back, refunds take points back."""
    book = LoyaltyBook(seed=5)
    registry = default_registry()
    kinds: Counter[str] = Counter()
    for d in range(30):
        day = date(2026, 8, 1) + timedelta(days=d)
        sales = list(history.generate(day, 1, seed=day.toordinal(), scale=1.0))
        orders, facts = book.day(history.day_orders(day, sales, demo_menu(), ZONE, seed=5))
        for order in orders:
            for event in order:
                registry.validate(event)
            kinds.update(e.type for e in order)
            redeemed = [e for e in order if e.type == "order.rewards_redeemed"]
            paid = [e for e in order if e.type == "order.payment_completed"]
            if redeemed and paid:
                created = order[0].data
                assert paid[0].data["amount"] == (
                    created["subtotal_amount"] - redeemed[0].data["discount_amount"]
                )
        for customer, dated in facts.items():
            for event in ledger_events(customer, dated):
                registry.validate(event)
                kinds[event.type] += 1
    assert kinds["loyalty.points_earned"] == kinds["order.payment_completed"]
    assert kinds["loyalty.points_redeemed"] == kinds["order.rewards_redeemed"] > 20
    assert kinds["loyalty.points_reversed"] > 0
    assert kinds["loyalty.tier_changed"] > 0
    # Nobody spent points they did not have: every ledger's balance stays at or above zero.
    assert min(ledger.points for ledger in book.ledgers.values()) >= 0


def test_a_day_of_orders_is_deterministic_valid_and_has_what_a_real_day_has() -> None:
    day = date(2026, 3, 7)  # a Saturday in Ramadan
    sales = list(history.generate(day, 1, seed=3))
    orders = history.day_orders(day, sales, demo_menu(), ZONE, seed=3)
    assert orders == history.day_orders(day, sales, demo_menu(), ZONE, seed=3)
    assert sum(o[0].data["lines"][0]["quantity"] for o in orders) == sum(s.cups for s in sales)
    registry = default_registry()
    for order in orders:
        for event in order:
            registry.validate(event)
    kinds = Counter(e.type for o in orders for e in o)
    assert kinds["order.created"] == len(orders)
    assert 0 < kinds["order.cancelled"] < 0.1 * len(orders)
    assert kinds["order.payment_completed"] == kinds["order.ready"] == kinds["order.completed"]
    customers = Counter(o[0].data["customer_id"] for o in orders)
    assert max(customers.values()) > 1  # some come back
    # Ramadan: the evening after iftar outsells the day.
    hours = Counter(
        o[0].timestamp.astimezone(ZONE).hour
        for o in orders
        if o[0].data["outlet_id"] != "outlet-06"
    )
    assert sum(hours[h] for h in range(18, 22)) > sum(hours[h] for h in range(10, 17))


async def test_seed_history_stores_each_order_once_and_the_projections_count_it(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    bus = replaying_bus
    first = await seed_history(bus, end=END, days=DAYS, zone=ZONE, seed=SEED, scale=SCALE)
    again = await seed_history(bus, end=END, days=DAYS, zone=ZONE, seed=SEED, scale=SCALE)
    total = first.orders + first.orders_existing
    assert total > 50
    assert (again.orders, again.events, again.days_skipped) == (0, 0, DAYS)
    assert again.orders_existing == total
    # Every paid order earned points (a day stored before had its ledgers stored too).
    assert first.loyalty_events + first.loyalty_existing > total / 2
    assert again.loyalty_events == 0

    # What the pure model says those orders make, brand-wide, per day.
    days = [END - timedelta(days=DAYS - d) for d in range(DAYS)]
    rules = Rules(zone=ZONE, service_target_s=store.rules.service_target_s)
    expected: Contribution = {}
    book = LoyaltyBook(SEED)
    for day in days:
        orders, facts = generated(book, day)
        for order in orders:
            order_facts = OrderFacts(order[0].data["order_id"])
            for event in order:
                order_facts = fold(order_facts, event)
            merge(expected, contribution(order_facts, rules, 0.0))
        for customer, dated in facts.items():
            for event in ledger_events(customer, dated):
                day_key = f"l:b:d:{event.timestamp.astimezone(ZONE).date().isoformat()}"
                kind = {"loyalty.points_earned": "issued", "loyalty.points_redeemed": "redeemed",
                        "loyalty.points_reversed": "reversed",
                        "loyalty.redemption_released": "released"}.get(event.type)  # fmt: skip
                if kind:
                    merge(expected, {day_key: {kind: int(event.data["points"])}})
    keys = [f"{kind}:b:d:{day.isoformat()}" for day in days for kind in ("s", "m", "k", "l")]
    assert sum(expected[f"s:b:d:{d.isoformat()}"]["placed"] for d in days) == total

    # The live consumer reads the history stream as it reads orders.
    await start_consumers(bus, store, "analytics")

    async def counted() -> bool:
        return await store.rows(keys) == [expected.get(k, {}) for k in keys]

    await eventually(counted, timeout=60, interval=0.5)

    # A rebuild from the streams (orders and ledgers) equals the live model on those days.
    gen = await store.generation()
    done = await rebuild(bus, store, switch=False)
    try:
        assert await store.rows(keys, done.generation) == await store.rows(keys, gen)
    finally:
        await store.drop(done.generation)


async def test_a_benchmark_seeds_and_rebuilds_on_streams_of_its_own(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    """What lets ``make bench-analytics`` run beside the suite: as a deployment of its own
    (kernel/names.py) its year goes to its own streams and its rebuild reads only those,
    leaving the suite's streams (which the suite seeds and rebuilds from) as they were."""
    suite = replaying_bus
    bus = EventBus(suite.nc, deployment_id=f"t{secrets.token_hex(3)}")
    assert not {bus.names.stream(n) for n in PLATFORM.names} & set(PLATFORM.names)
    suite_before = {name: await last_seq(suite, name) for name in PLATFORM.names}
    try:
        seeded = await seed_history(
            bus, end=date(2024, 6, 2), days=1, zone=ZONE, seed=SEED, scale=0.1
        )
        assert seeded.orders > 0
        assert seeded.loyalty_events > 0
        done = await rebuild(bus, store, switch=False)
        assert done.orders == seeded.orders
        assert set(done.upto) == set(PLATFORM.names)
        assert {name: await last_seq(suite, name) for name in PLATFORM.names} == suite_before
        (day,) = await store.rows(["s:b:d:2024-06-01"], done.generation)
        assert day["placed"] == seeded.orders
    finally:
        await bus.stop_consumers(grace_s=2)
        await delete_deployment(suite.js, bus.names)
