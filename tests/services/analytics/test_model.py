"""What an order contributes, as pure functions of its events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from analytics_testing import FR, OUTLET, cancelled, completed, created, line, paid, ready, refunded

from bobaku.kernel.events import Event
from bobaku.services.analytics.domain.model import (
    OrderFacts,
    Rules,
    contribution,
    difference,
    fold,
    merge,
    percentile,
    sales_figures,
)

RULES = Rules(zone=ZoneInfo("Asia/Jakarta"), service_target_s=300)
# 02:30 UTC is 09:30 in Jakarta: the bucket is Jakarta's, not UTC's.
T0 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 06:30 on 1 December in Jakarta
NOW = T0.timestamp() + 3600
DAY = f"s:o:{FR}:{OUTLET}:d:2026-12-01"


def facts_of(events: list[Event]) -> OrderFacts:
    facts = OrderFacts("o1")
    for event in events:
        facts = fold(facts, event)
    return facts


def order_events() -> list[Event]:
    lines = [line("m001", 2, 41000, ["t001", "t003"]), line("m002", 1, 30000, [], sugar=0)]
    return [
        created("o1", T0, lines, discount=10000),
        paid("o1", T0 + timedelta(seconds=20), 102000),
        ready("o1", T0 + timedelta(seconds=20 + 400)),
        completed("o1", T0 + timedelta(seconds=20 + 400 + 50)),
    ]


def test_sales_land_in_the_jakarta_day_and_hour_of_the_order() -> None:
    c = contribution(facts_of(order_events()), RULES, NOW)
    assert c[DAY] == {
        "placed": 1, "orders": 1, "gross": 112000, "discounts": 10000, "items": 3, "pm:gopay": 1,
    }  # fmt: skip
    assert f"s:o:{FR}:{OUTLET}:h:2026-12-01T06" in c
    assert f"s:o:{FR}:{OUTLET}:m:2026-12-01T06:30" in c
    assert c["s:b:d:2026-12-01"] == c[f"s:f:{FR}:d:2026-12-01"] == c[DAY]
    figures = sales_figures(c[DAY])
    assert (figures["net"], figures["average_basket"], figures["items_per_order"]) == (
        102000, 102000, 3.0,
    )  # fmt: skip


def test_the_facts_do_not_depend_on_the_order_events_arrive_in_or_on_repeats() -> None:
    events = order_events()
    expected = contribution(facts_of(events), RULES, NOW)
    for shuffled in itertools.permutations(events):
        assert contribution(facts_of([*shuffled, *shuffled[:2]]), RULES, NOW) == expected


def test_menu_kitchen_and_customer_figures() -> None:
    c = contribution(facts_of(order_events()), RULES, NOW)
    menu = c[f"m:o:{FR}:{OUTLET}:d:2026-12-01"]
    assert menu["q:m001"] == 2
    assert menu["q:m002"] == 1
    assert (menu["cups"], menu["cups_top"], menu["t:t001"], menu["s:50"], menu["s:0"]) == (
        3, 2, 2, 2, 1,
    )  # fmt: skip
    kitchen = c[f"k:o:{FR}:{OUTLET}:h:2026-12-01T06"]
    # 400 s from payment to ready (bin 26 of 15 s), past the 300 s target; 50 s to pick-up.
    assert kitchen == {"p:26": 1, "pn": 1, "late": 1, "u:3": 1, "un": 1}
    assert c[f"c:f:{FR}:d:2026-12-01"] == {"u-1": 1}
    assert c[f"u:f:{FR}:u-1"] == {"t:o1": int(T0.timestamp()), "n:o1": 102000}


def test_a_refund_moves_refunds_net_and_the_customer_money_and_nothing_else() -> None:
    events = order_events()
    before = contribution(facts_of(events), RULES, NOW)
    part = refunded("o1", T0 + timedelta(days=2), 30000, 30000, full=False)
    after = contribution(facts_of([*events, part]), RULES, NOW)
    diff = difference(before, after)
    assert diff[DAY] == {"refunds": 30000, "refunded_orders": 1}
    assert diff[f"u:f:{FR}:u-1"] == {"n:o1": -30000}
    assert not any(k.startswith(("m:", "k:", "c:")) for k in diff)
    # Refunded in full: the order no longer counts as bought (menu, customers) at all.
    full = refunded("o1", T0 + timedelta(days=3), 72000, 102000, full=True)
    gone = difference(after, contribution(facts_of([*events, part, full]), RULES, NOW))
    assert gone[DAY] == {"refunds": 72000}
    assert gone[f"m:o:{FR}:{OUTLET}:d:2026-12-01"]["q:m001"] == -2
    assert gone[f"c:f:{FR}:d:2026-12-01"] == {"u-1": -1}


def test_a_cancelled_unpaid_order_counts_as_placed_and_cancelled_only() -> None:
    events = [created("o1", T0, [line("m001", 1, 41000, [])]), cancelled("o1", T0)]
    c = contribution(facts_of(events), RULES, NOW)
    assert c[DAY] == {"placed": 1, "cancelled": 1}
    assert sales_figures(c[DAY])["cancellation_rate"] == 1.0
    assert not any(k.startswith(("m:", "k:", "c:", "u:")) for k in c)


def test_events_before_the_creation_count_nothing_until_it_arrives() -> None:
    early = fold(OrderFacts("o1"), paid("o1", T0, 41000))
    assert contribution(early, RULES, NOW) == {}


def test_minute_buckets_older_than_the_retention_are_not_kept() -> None:
    later = T0.timestamp() + 3 * 86400
    c = contribution(facts_of(order_events()), RULES, later)
    assert not any(":m:" in k for k in c)
    assert DAY in c


def test_percentiles_from_the_histogram_and_merging_contributions() -> None:
    assert percentile({0: 5, 3: 4, 10: 1}, 0.5) == 15.0
    assert percentile({0: 5, 3: 4, 10: 1}, 0.9) == 60.0
    assert percentile({}, 0.5) is None
    total: dict[str, dict[str, int]] = {}
    merge(total, {"a": {"x": 2}})
    merge(total, {"a": {"x": -2, "y": 1}})
    assert total == {"a": {"y": 1}}


def test_an_event_without_the_fields_its_type_promises_changes_nothing() -> None:
    good = created("o1", T0, [line("m001", 1, 41000, [])])
    broken = good.model_copy(update={"data": {"order_id": "o1", "outlet_id": OUTLET}})
    assert fold(OrderFacts("o1"), broken) == OrderFacts("o1")
    # The order's real events still count in full around it.
    events = [broken, good, paid("o1", T0, 41000), good.model_copy(update={"data": {}})]
    assert contribution(facts_of(events), RULES, NOW)[DAY]["placed"] == 1


def test_all_time_rows_carry_every_order_and_the_kitchen_queue_is_the_days() -> None:
    """The exported counters' rows (``:all``) hold what the day's do, whatever the day; an
    order paid and not ready waits in its day's kitchen row until it is ready."""
    events = order_events()
    c = contribution(facts_of(events), RULES, NOW)
    for scope in ("b", f"f:{FR}", f"o:{FR}:{OUTLET}"):
        assert c[f"s:{scope}:all"] == c[f"s:{scope}:d:2026-12-01"]
    kitchen = c[f"k:o:{FR}:{OUTLET}:all"]
    # 400 s from payment to ready and 50 s to pick-up, summed in milliseconds.
    assert kitchen == {
        "p:26": 1,
        "pn": 1,
        "late": 1,
        "u:3": 1,
        "un": 1,
        "pms": 400_000,
        "ums": 50_000,
    }
    waiting = contribution(facts_of(events[:2]), RULES, NOW)  # paid, not ready
    assert waiting[f"k:o:{FR}:{OUTLET}:d:2026-12-01"] == {"wait": 1}
    assert "wait" not in c[f"k:o:{FR}:{OUTLET}:d:2026-12-01"]
    # Refunded in full while in the kitchen: not waiting any more.
    gone = [*events[:2], refunded("o1", T0 + timedelta(minutes=2), 102000, 102000, full=True)]
    assert f"k:o:{FR}:{OUTLET}:d:2026-12-01" not in contribution(facts_of(gone), RULES, NOW)
