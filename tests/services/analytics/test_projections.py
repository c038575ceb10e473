"""The projections fed from the real order and loyalty streams (JetStream) into Redis:
duplicates and late events count once, and a rebuild from the streams equals the live model.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analytics_testing import (
    FR,
    OUTLET,
    at,
    cancelled,
    completed,
    created,
    ev,
    line,
    paid,
    ready,
    refunded,
)
from support import eventually

from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Message
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.entrypoints.consumers import consumer_specs, start_consumers
from bobaku.services.analytics.service_layer import views
from bobaku.services.analytics.service_layer.handlers import ledger_gaps, live_handler, rebuild
from bobaku.services.analytics.service_layer.views import Period

# 03:00 UTC = 10:00 in Jakarta on 2 December.
T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
DAY = Period(T0.date(), T0.date())
SCOPE = f"o:{FR}:{OUTLET}"


async def append(orders: AggregateStore, order: str, *events: Event) -> None:
    subject = orders.subject(FR, order)
    for event in events:
        await orders.append(subject, [event], await orders.last_seq(subject))


async def stored(bus: EventBus, orders: AggregateStore, order: str) -> list[Message]:
    """An order's messages as the stream holds them (what a redelivery hands over again)."""
    subject = orders.subject(FR, order)
    return await ledger_gaps(bus)(orders.spec.name, subject, 0, await orders.last_seq(subject) + 1)


def alone(*events: Event) -> list[Message]:
    """Events as messages that no stream stored (order events need no position)."""
    return [Message([e], Delivery("", "", 0, 1)) for e in events]


async def settled(bus: EventBus) -> bool:
    """The analytics consumers have nothing pending or unacknowledged."""
    for spec in consumer_specs("analytics"):
        info = await bus.js.consumer_info(spec.stream, f"{bus.deployment_id}-{spec.durable}")
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def test_figures_from_the_streams_count_duplicates_and_late_events_once(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    bus = replaying_bus
    orders = AggregateStore(bus, "order")
    await start_consumers(bus, store, "analytics")
    tag = secrets.token_hex(3)
    a, b, c = (f"ord-an-{tag}-{i}" for i in range(3))
    lines = [line("m001", 2, 41000, ["t001"]), line("m002", 1, 30000, [])]
    # a: paid, made and picked up; its ready step is stored before its payment (late).
    await append(orders, a, created(a, T0, lines))
    await append(orders, a, ready(a, T0 + timedelta(seconds=500)))
    await append(orders, a, paid(a, T0 + timedelta(seconds=30), 112000))
    await append(orders, a, completed(a, T0 + timedelta(seconds=560)))
    # b: paid then refunded in part; c: cancelled before payment.
    await append(orders, b, created(b, T0 + timedelta(minutes=5), lines, customer="u-2"))
    await append(orders, b, paid(b, T0 + timedelta(minutes=6), 112000, customer="u-2"))
    await append(orders, b, refunded(b, T0 + timedelta(hours=3), 12000, 12000, full=False))
    await append(orders, c, created(c, T0 + timedelta(minutes=9), lines[:1]), cancelled(c, T0))

    async def sales() -> dict[str, Any]:
        report = await views.sales(store, SCOPE, DAY, "day", compare=False)
        return dict(report["totals"])

    async def counted() -> bool:
        return (await sales())["placed"] == 3 and await settled(bus)

    await eventually(counted, timeout=20)
    expected = {
        "orders": 2, "placed": 3, "cancelled": 1, "gross": 224000, "discounts": 0,
        "refunds": 12000, "refunded_orders": 1, "net": 212000, "items": 6,
        "average_basket": 106000, "items_per_order": 3.0, "cancellation_rate": 0.3333,
        "payment_methods": {"gopay": 2},
    }  # fmt: skip
    assert await sales() == expected

    # The same messages again, in one batch and then each alone (a redelivery after the
    # write, before the ack): nothing moves.
    gen = await store.generation()
    again = [m for order in (a, b, c) for m in await stored(bus, orders, order)]
    assert await store.apply(again, gen) == []
    for message in reversed(again):
        assert await store.apply([message], gen) == []
    assert await sales() == expected

    kitchen = await views.kitchen(store, SCOPE, DAY, "hour")
    # a: 470 s payment→ready (past the 300 s target), 60 s to pick-up; b was never made.
    assert kitchen["totals"]["orders"] == 1
    assert kitchen["totals"]["late_share"] == 1.0
    assert kitchen["totals"]["payment_to_ready_p50_s"] == 480.0
    assert kitchen["totals"]["ready_to_pickup_p90_s"] == 75.0
    menu = await views.menu(store, SCOPE, DAY, 5)
    top = menu["top_items"][0]
    # (The name is the one on the item's newest order in the streams, which other tests share.)
    assert (top["id"], top["cups"], top["revenue"]) == ("m001", 4, 164000)
    assert menu["topping_attach_rate"] == 0.6667
    customers = await views.customers(store, f"f:{FR}", DAY)
    assert (customers["customers"], customers["new"], customers["returning"]) == (2, 2, 0)

    # A rebuild from the streams, side by side with the live model, equals it key for key.
    async def rebuilt_equals_live() -> bool:
        before = await store.dump(gen)
        done = await rebuild(bus, store, switch=False)
        after = await store.dump(done.generation)
        await store.drop(done.generation)
        return bool(before == after and before == await store.dump(gen))

    assert await eventually(rebuilt_equals_live, timeout=30, interval=0.5)


async def test_loyalty_points_count_once_and_a_redemption_moves_the_liability(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    bus = replaying_bus
    ledger = AggregateStore(bus, "loyalty")
    customer = f"u-an-{secrets.token_hex(3)}"
    subject = ledger.subject(None, customer)
    await start_consumers(bus, store, "analytics")

    def fact(kind: str, points: int, order: str = "1", **data: Any) -> Event:
        body = {"customer_id": customer, "order_id": f"ord-{customer}-{order}", "points": points}
        return at(new_event(kind, {**body, **data}, source="customer-service"), T0)

    async def commit(*events: Event) -> None:
        await ledger.append(subject, list(events), await ledger.last_seq(subject))

    async def brand() -> dict[str, Any]:
        return await views.loyalty(store, "b", DAY)

    # Other tests' ledgers share the stream: the fresh store replays them first.
    await eventually(lambda: settled(bus), timeout=60, interval=0.2)
    before = (await brand())["outstanding_points"]
    await commit(fact("loyalty.points_earned", 120, amount=120000, franchise_id=FR))
    await eventually(lambda: _is(brand(), "outstanding_points", before + 120), timeout=20)

    reward = {"id": "rw-topping", "name": "Topping", "points_cost": 50, "discount_amount": 10000}
    await commit(fact("loyalty.points_redeemed", 50, "2", discount_amount=10000, rewards=[reward]))
    # A redemption lowers the liability by its points, and counts as redeemed that day.
    await eventually(lambda: _is(brand(), "outstanding_points", before + 70), timeout=20)
    await commit(fact("loyalty.redemption_released", 50, "2"))
    await eventually(lambda: _is(brand(), "outstanding_points", before + 120), timeout=20)
    await commit(fact("loyalty.points_reversed", 30, refund_id="rf-1", refunded_amount=30000))
    await eventually(lambda: _is(brand(), "outstanding_points", before + 90), timeout=20)
    # Points that lapse unspent leave the liability too.
    lapsed = {"lapse": "2026-12-02", "earned_before": "2025-12-02"}
    await commit(fact("loyalty.points_expired", 40, **lapsed))
    await eventually(lambda: _is(brand(), "outstanding_points", before + 50), timeout=20)
    await eventually(lambda: settled(bus), timeout=20)

    # Every message again, out of order (a redelivery after the write): nothing moves;
    # the last one alone first, whose predecessors are all applied, then the rest.
    gen = await store.generation()
    messages = await ledger_gaps(bus)(ledger.spec.name, subject, 0, 10**9)
    assert len(messages) == 5
    figures = await brand()
    for batch in ([messages[-1]], messages[:-1], messages):
        await store.apply(batch, gen)
    assert await brand() == figures
    # The franchise sees what its orders issued, not a liability of its own.
    franchise = await views.loyalty(store, f"f:{FR}", DAY)
    assert franchise["issued"] >= 120
    assert "outstanding_points" not in franchise

    # A rebuild from the streams equals the live model, loyalty ledgers included.
    async def rebuilt_equals_live() -> bool:
        live = await store.dump(gen, "l")
        done = await rebuild(bus, store, switch=False)
        again = await store.dump(done.generation, "l")
        await store.drop(done.generation)
        return bool(live == again and f"l:f:{FR}:total" in live)

    assert await eventually(rebuilt_equals_live, timeout=30, interval=0.5)


async def test_a_ledger_message_whose_predecessor_was_not_applied_has_the_gap_filled(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    """Redelivery can hand a ledger's later commit over before an earlier one (the earlier
    failed and waits for its retry): the gap is read from the stream, and the earlier one
    counts nothing when it comes."""
    bus = replaying_bus
    ledger = AggregateStore(bus, "loyalty")
    customer = f"u-gap-{secrets.token_hex(3)}"
    subject = ledger.subject(None, customer)
    for i, points in enumerate((10, 20, 40)):
        body = {"customer_id": customer, "order_id": f"ord-{i}", "points": points,
                "amount": points * 1000}  # fmt: skip
        event = at(new_event("loyalty.points_earned", body, source="customer-service"), T0)
        await ledger.append(subject, [event], await ledger.last_seq(subject))
    messages = await ledger_gaps(bus)(ledger.spec.name, subject, 0, 10**9)
    gen = await store.generation()
    fill = ledger_gaps(bus)
    await store.apply([messages[2]], gen, fill=fill)  # the first two are read from the stream
    (total,) = await store.rows(["l:b:total"], gen)
    assert total["issued"] == 70
    await store.apply([messages[0]], gen, fill=fill)
    await store.apply(messages[:2], gen, fill=fill)
    assert await store.rows(["l:b:total"], gen) == [{"issued": 70}]


async def test_a_batch_written_but_not_acknowledged_counts_once_when_redelivered(
    replaying_bus: EventBus, store: ProjectionStore
) -> None:
    """A crash between the batch's write and its acknowledgement: the batch is handed over
    again (here the handler raises once after writing; the consumer retries each message),
    and nothing counts twice."""
    bus = replaying_bus
    tag = secrets.token_hex(3)
    orders = AggregateStore(bus, f"crash{tag}")  # a stream of its own, read from its start
    await orders.start()
    ids = [f"ord-crash-{tag}-{i}" for i in range(6)]
    lines = [line("m003", 1, 25000, [])]
    when = T0 + timedelta(hours=2)
    for order in ids:
        await append(orders, order, created(order, when, lines), paid(order, when, 25000))
    crashed: list[int] = []
    handler = live_handler(store, bus)

    async def crashing(messages: list[Message]) -> None:
        await handler(messages)
        if not crashed:
            crashed.append(len(messages))
            raise RuntimeError("killed after the write, before the ack")

    spec = ConsumerSpec(
        f"crash-{tag}", orders.spec.name, (orders.spec.subjects[0],), max_deliveries=5,
        retry_delays_s=(0.05,), batch=256,
    )  # fmt: skip
    consumer = await bus.consume_batches(spec, crashing)

    async def sales() -> dict[str, Any]:
        report = await views.sales(store, SCOPE, Period(when.date(), when.date()), "day", False)
        return dict(report["totals"])

    async def done() -> bool:
        info = await bus.js.consumer_info(orders.spec.name, consumer.spec.durable)
        return bool(crashed) and not info.num_pending and not info.num_ack_pending

    try:
        await eventually(done, timeout=30)
        assert crashed[0] >= 2  # the whole batch was written, then handed over again
        day = Period(when.date(), when.date())
        totals = await sales()
        assert (totals["placed"], totals["orders"], totals["gross"]) == (6, 6, 150000)
        menu = await views.menu(store, SCOPE, day, 5)
        assert [(i["id"], i["cups"]) for i in menu["top_items"]] == [("m003", 6)]
    finally:
        await consumer.stop(grace_s=2)
        await bus.js.delete_stream(orders.spec.name)


async def _is(report: Any, key: str, value: int) -> bool:
    return bool((await report)[key] == value)


async def test_customers_segments_cohorts_and_menu_preferences_from_the_stored_figures(
    store: ProjectionStore,
) -> None:
    """Through the projection's own write path into Redis: a regular since October (four
    orders), a newcomer in December, a lapsed customer from October who never came back."""
    gen = await store.generation()
    tag = secrets.token_hex(3)
    oct1, nov = datetime(2026, 10, 1, 4, tzinfo=UTC), datetime(2026, 11, 10, 4, tzinfo=UTC)
    dec = datetime(2026, 12, 1, 4, tzinfo=UTC)
    plain = [line("m002", 1, 30000, [], sugar=0)]
    topped = [line("m001", 1, 41000, ["t001"], sugar=50)]
    visits = [
        ("u-regular", oct1, topped), ("u-regular", nov, plain),
        ("u-regular", dec, topped), ("u-regular", dec + timedelta(hours=2), topped),
        ("u-new", dec + timedelta(hours=1), plain), ("u-gone", oct1 + timedelta(hours=3), plain),
    ]  # fmt: skip
    for i, (who, when, lines) in enumerate(visits):
        order = f"ord-cu-{tag}-{i}"
        amount = sum(x["subtotal"] for x in lines)
        events = (created(order, when, lines, customer=who), paid(order, when, amount, who))
        assert await store.apply(alone(*events), gen)

    period = Period(date(2026, 10, 1), date(2026, 12, 2))
    report = await views.customers(store, f"f:{FR}", period)
    assert (report["customers"], report["new"], report["returning"]) == (3, 3, 0)
    # Recency at 2 December: the regular is a champion, the newcomer new, the lapsed one
    # (one order, 62 days ago) needs attention.
    assert report["rfm_segments"] == {"champions": 1, "need_attention": 1, "new": 1}
    assert report["cohorts"] == [
        {"cohort": "2026-10", "customers": 2, "retention": [0.5, 0.5]},
        {"cohort": "2026-12", "customers": 1, "retention": []},
    ]
    # December alone: the regular is returning, the newcomer new.
    december = await views.customers(store, f"f:{FR}", Period(date(2026, 12, 1), date(2026, 12, 2)))
    assert (december["new"], december["returning"]) == (1, 1)
    assert december["daily"] == [{"day": "2026-12-01", "new": 1, "returning": 1}]

    menu = await views.menu(store, f"o:{FR}:{OUTLET}", period, 5)
    assert menu["cups"] == 6
    assert menu["topping_attach_rate"] == 0.5
    assert menu["sugar_levels"] == {"0": 0.5, "50": 0.5}
    assert menu["ice_levels"] == {"30": 1.0}
    assert menu["top_toppings"] == [{"id": "t001", "name": "t001", "cups": 3}]
    assert [e["id"] for e in menu["bottom_items"]] == ["m001", "m002"]  # 3 cups each: by id


async def test_points_redeemed_on_an_outlets_paid_orders_show_at_its_level(
    store: ProjectionStore,
) -> None:
    """Rewards bought with points lower the order's total (a discount) and count as points
    redeemed at the outlet and franchise that took the order, once it is paid; an order
    cancelled before payment redeemed nothing (the ledger gives the points back)."""
    gen = await store.generation()
    tag = secrets.token_hex(3)
    kept, dropped = f"ord-rw-{tag}-1", f"ord-rw-{tag}-2"
    lines = [line("m001", 1, 41000, [])]
    reward = [{"id": "rw-free-topping", "name": "Free topping", "discount_amount": 5000}]

    def redeemed(order: str) -> Event:
        return ev(order, "order.rewards_redeemed", T0, points=150, discount_amount=5000,
                  rewards=reward)  # fmt: skip

    await store.apply(alone(created(kept, T0, lines), redeemed(kept), paid(kept, T0, 36000)), gen)
    await store.apply(alone(created(dropped, T0, lines), redeemed(dropped)), gen)
    await store.apply(alone(cancelled(dropped, T0)), gen)
    for scope in (SCOPE, f"f:{FR}"):
        report = await views.loyalty(store, scope, DAY)
        assert report["redeemed_on_orders"] == 150, scope
        assert report["daily"] == [{"day": DAY.start.isoformat(), "issued": report["issued"],
                                    "redeemed": 150}]  # fmt: skip
    assert (await views.loyalty(store, SCOPE, DAY))["issued"] is None
    totals = (await views.sales(store, SCOPE, DAY, "day", compare=False))["totals"]
    assert (totals["gross"], totals["discounts"], totals["net"]) == (41000, 5000, 36000)
