"""Points lapse: the rules as plain functions, then the expiry job on real NATS and FerretDB
(the calendar in NATS KV, the ledger on JetStream, the reminder on EVENTS)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from customer_testing import CustomerApi
from nats.js.api import DeliverPolicy
from support import eventually

from bobaku.kernel.events import Event
from bobaku.kernel.web import BUS
from bobaku.services.customer.adapters.loyalty_expiry import ExpiryCalendar
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.bootstrap import EXPIRY
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.events import (
    POINTS_EXPIRED,
    LoyaltyEvent,
    PointsEarned,
    PointsRedeemed,
    RedemptionGivenBack,
)
from bobaku.services.customer.domain.loyalty import REWARDS_BY_ID, Ledger
from bobaku.services.customer.service_layer.loyalty_expiry import reminder_id
from bobaku.services.customer.settings import CustomerSettings

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TOPPING = REWARDS_BY_ID["rw-free-topping"]
VALID = 365


def ledger_of(*dated: tuple[datetime, LoyaltyEvent]) -> Ledger:
    ledger = Ledger("c-1")
    for at, fact in dated:
        ledger.apply(fact.type, fact.data, at)
    return ledger


def earn(order: str, points: int) -> PointsEarned:
    return PointsEarned(customer_id="c-1", order_id=order, points=points, amount=points * 1000)


def spend(order: str, points: int) -> PointsRedeemed:
    return PointsRedeemed(
        customer_id="c-1", order_id=order, points=points, discount_amount=0, rewards=[]
    )


def test_points_stay_valid_through_the_day_a_year_after_they_were_earned() -> None:
    earned_at = datetime(2025, 1, 5, 23, 59, tzinfo=UTC)
    assert loyalty.lapse_day(earned_at, 365) == date(2026, 1, 6)
    assert loyalty.lapse_moment(date(2026, 1, 6)) == datetime(2026, 1, 6, tzinfo=UTC)


def test_spending_uses_the_oldest_points_first_so_what_lapses_is_what_is_left() -> None:
    old, newer = NOW - timedelta(days=400), NOW - timedelta(days=200)
    ledger = ledger_of(
        (old, earn("o1", 100)),
        (newer, earn("o2", 80)),
        (newer, spend("o3", 130)),
        (newer, spend("o4", 20)),
        (newer, RedemptionGivenBack(customer_id="c-1", order_id="o4", points=20)),
    )
    # 130 spent: all of o1's 100, then 30 of o2's.
    assert loyalty.lapses(ledger, VALID) == [(loyalty.lapse_day(newer, VALID), 50)]
    assert loyalty.expire(ledger, on=NOW.date(), valid_days=VALID, now=NOW) == []


def test_a_lapse_expires_once_and_never_below_zero() -> None:
    old = NOW - timedelta(days=366)
    ledger = ledger_of((old, earn("o1", 100)), (NOW - timedelta(days=3), earn("o2", 40)))
    today = NOW.date()
    assert loyalty.lapse_day(old, VALID) == today
    [fact, *_tier_change] = loyalty.expire(ledger, on=today, valid_days=VALID, now=NOW)
    assert fact.type == POINTS_EXPIRED
    assert fact.data == {
        "customer_id": "c-1", "points": 100, "lapse": today.isoformat(),
        "earned_before": (today - timedelta(days=VALID)).isoformat(),
    }  # fmt: skip
    ledger.apply(fact.type, fact.data, NOW)
    assert ledger.points == 40
    assert loyalty.expire(ledger, on=today, valid_days=VALID, now=NOW) == []
    # Not before the day has begun.
    tomorrow = today + timedelta(days=1)
    assert loyalty.expire(ledger_of((old, earn("o1", 100))), on=tomorrow, valid_days=VALID,
                          now=NOW) == []  # fmt: skip
    # A refund of points already spent leaves less than the old earning: only what is there.
    short = ledger_of((old, earn("o1", 100)))
    short.reversed = 70
    assert loyalty.expiring_by(short, today, VALID) == 30


# --- the job, on real servers ---------------------------------------------------------------


async def reminders_of(api: CustomerApi, customer_id: str, seen: list[Event]) -> list[Event]:
    return [e for e in seen if e.data["customer_id"] == customer_id]


async def run_the_job(api: CustomerApi) -> None:
    """Step the app's expiry job until it has no days left over (the app's own task may
    step at the same time: the job is safe to run twice)."""
    while await api.app[EXPIRY].step():
        pass


async def test_points_lapse_once_with_one_reminder_before_and_the_balance_drops(
    api: CustomerApi, customer_settings: CustomerSettings
) -> None:
    bus = api.app[BUS]
    notice = customer_settings.loyalty_expiry_notice_days
    now = datetime.now(UTC)
    today = now.date()
    session = await api.register()
    customer_id = session["user"]["id"]
    lapsing_today = now - timedelta(days=VALID + 1)
    # Earned so that their lapse is the newest day the reminder walk reaches.
    lapsing_later = now - timedelta(days=VALID + 1 - notice)
    recent = now - timedelta(days=10)
    ledgers = LedgerStore(bus)
    await ledgers.append_history(
        customer_id,
        [
            (lapsing_today, PointsEarned(customer_id=customer_id, order_id="o-old", points=200,
                                         amount=200_000)),
            (lapsing_later, PointsEarned(customer_id=customer_id, order_id="o-mid", points=50,
                                         amount=50_000)),
            (now - timedelta(days=100), PointsRedeemed(customer_id=customer_id, order_id="o-r",
                                                      points=150, discount_amount=5_000,
                                                      rewards=[TOPPING.as_dict()])),
            (recent, PointsEarned(customer_id=customer_id, order_id="o-new", points=30,
                                  amount=30_000)),
        ],
        expected_seq=0,
    )  # fmt: skip

    # The app's own expiry task may step as soon as the projector has marked the calendar,
    # so the history may be seen before (130) or already after the lapse (80): both are
    # right, and what follows asserts the end state.
    async def projected() -> bool:
        points = (await api.ledger(customer_id)).points
        return points in (130, 80) and (await api.card(customer_id))["current_points"] == points

    await eventually(projected, timeout=10)

    # Every reminder the stream holds (this customer's are picked out): one the app's task
    # sent before this subscription counts as well.
    received: list[Event] = []
    sub = await bus.js.subscribe(
        "events.brand.loyalty.reward_expiring",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        cb=_collector(received),
    )
    try:
        calendar_day = today + timedelta(days=notice)

        async def marked() -> bool:
            due = await api.app[EXPIRY].calendar.due(calendar_day)
            return customer_id in due

        await eventually(marked, timeout=10)
        await run_the_job(api)

        # The oldest points lapsed, less the 150 spent from them: 50, once.
        expired = [e for e in await ledgers.events(customer_id) if e.type == POINTS_EXPIRED]
        assert [(e.data["points"], e.data["lapse"]) for e in expired] == [(50, today.isoformat())]
        summary = await _loyalty(api, session, points=80)
        lapse_mid = loyalty.lapse_day(lapsing_later, VALID)
        assert lapse_mid == calendar_day
        assert summary["next_expiry"] == {
            "points": 50, "expires_at": f"{lapse_mid.isoformat()}T00:00:00Z",
        }  # fmt: skip
        assert [x["points"] for x in summary["expiring_points"]] == [50, 30]
        [entry, *_] = summary["history"]["items"]
        assert (entry["kind"], entry["points"], entry["balance_change"]) == (
            "points_expired", 50, -50,
        )  # fmt: skip

        # The points lapsing in `notice` days: one reminder, naming them and when.
        async def reminded() -> list[Event]:
            return await reminders_of(api, customer_id, received)

        [reminder] = await eventually(reminded, timeout=10)
        assert reminder.id == reminder_id(customer_id, lapse_mid)
        assert reminder.data == {
            "customer_id": customer_id, "reward_id": f"points-{lapse_mid.isoformat()}",
            "reward_name": "BobaKu points", "expires_at": f"{lapse_mid.isoformat()}T00:00:00Z",
            "points": 50,
        }  # fmt: skip

        # A second run changes nothing and tells nobody again, even if the mark that the
        # reminder went out was lost (a crash between the publish and the mark).
        await run_the_job(api)
        calendar = api.app[EXPIRY].calendar
        await calendar.kv.put(f"{calendar.scope}.due.{lapse_mid}.{customer_id}", b"{}")
        await run_the_job(api)
        assert (await calendar.due(lapse_mid))[customer_id] == {"noticed": True}
        await asyncio.sleep(0.5)  # what the stream would deliver has arrived by now
        assert len(await reminders_of(api, customer_id, received)) == 1
        again = [e for e in await ledgers.events(customer_id) if e.type == POINTS_EXPIRED]
        assert len(again) == 1
        assert (await api.ledger(customer_id)).points == 80
        # Today's entry is done with; the reminder's stays until its day comes.
        assert customer_id not in await calendar.due(today)
    finally:
        await sub.unsubscribe()


def _collector(into: list[Event]) -> Any:
    async def collect(msg: Any) -> None:
        into.append(Event.from_json(msg.data))

    return collect


async def _loyalty(api: CustomerApi, session: dict[str, Any], *, points: int) -> dict[str, Any]:
    token = session["tokens"]["access_token"]

    async def probe() -> dict[str, Any] | None:
        status, body = await api.call("GET", "/me/loyalty", token=token)
        assert status == 200, body
        return body["data"] if body["data"]["points"] == points else None

    return await eventually(probe, timeout=10)


@pytest.mark.parametrize("field", ["loyalty_points_valid_days", "loyalty_expiry_notice_days"])
def test_the_expiry_periods_are_settings_with_a_bound(
    customer_settings: CustomerSettings, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        CustomerSettings(**{**customer_settings.model_dump(), field: -1})
    assert CustomerSettings.model_fields[field].default in (365, 14)


async def test_a_longer_validity_keeps_the_calendar_longer(api: CustomerApi) -> None:
    bus = api.app[BUS]
    bucket = f"t_expiry_{secrets.token_hex(4)}"
    try:
        await ExpiryCalendar(bus, "dep", 30, bucket=bucket).start()
        longer = ExpiryCalendar(bus, "dep", 400, bucket=bucket)
        await longer.start()
        info = await bus.js.stream_info(f"KV_{bucket}")
        assert info.config.max_age == longer.ttl_s == (400 + 90) * 86400
        await longer.mark(date(2027, 1, 6), "c-1")
        await longer.mark(date(2027, 1, 6), "c-1")  # a replay keeps the first mark
        await longer.noticed(date(2027, 1, 6), "c-1")
        await longer.mark(date(2027, 1, 6), "c-1")
        assert await longer.due(date(2027, 1, 6)) == {"c-1": {"noticed": True}}
        assert await longer.due(date(2027, 1, 7)) == {}
    finally:
        await bus.js.delete_key_value(bucket)
