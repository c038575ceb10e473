"""A realistic year of demand for the demo brand, generated (deterministic for a seed).

Cups sold per outlet x item x hour come from a Poisson draw around a rate made of:

- the outlet's size and opening hours (mall outlets 10:00-22:00; the airport kiosk around
  the clock, with a night trough);
- an hour-of-day shape (lunch and after-school/after-work peaks);
- weekday vs weekend (malls busier on weekends);
- the rainy season (November-March: fewer cups, more so in the afternoon downpours);
- Ramadan (2026-02-18 to 2026-03-19): almost nothing by day, a rush after iftar;
- a seasonal item launched mid-year that ramps up and keeps selling;
- each item's popularity.

The backtest (``service_layer/forecast.py``) and the demo seed (``seed-history``) both use it:
:func:`day_orders` turns a day's cups into orders with the events the order service writes
(customers who come back, toppings, sugar and ice, payment methods, kitchen times,
cancellations and refunds), deterministic for the day and the seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import EventMetadata, utc_iso

RAMADAN_2026 = (date(2026, 2, 18), date(2026, 3, 19))
SEASONAL_ITEM = "m021"
SEASONAL_LAUNCH = date(2026, 7, 1)

# Popularity of the demo menu's items (cups per outlet-hour at rate 1).
ITEMS: dict[str, float] = {
    "m001": 1.0, "m002": 0.8, "m003": 0.55, "m004": 0.45, "m005": 0.35, "m011": 0.3,
    "m012": 0.25, "m024": 0.2, SEASONAL_ITEM: 0.6,
}  # fmt: skip


@dataclass(frozen=True)
class DemoOutlet:
    franchise_id: str
    outlet_id: str
    size: float
    around_the_clock: bool = False


OUTLETS = (
    DemoOutlet("fr-jakarta", "outlet-01", 1.0),
    DemoOutlet("fr-jakarta", "outlet-02", 1.3),
    DemoOutlet("fr-jakarta", "outlet-03", 0.8),
    DemoOutlet("fr-bandung", "outlet-04", 0.9),
    DemoOutlet("fr-bandung", "outlet-05", 0.6),
    DemoOutlet("fr-jakarta", "outlet-06", 0.7, around_the_clock=True),
)

# Relative demand by hour of day (local time) for a mall outlet open 10-22.
MALL_HOURS = {
    10: 0.4, 11: 0.7, 12: 1.2, 13: 1.1, 14: 0.8, 15: 0.9, 16: 1.1, 17: 1.0, 18: 0.9,
    19: 1.0, 20: 0.9, 21: 0.6,
}  # fmt: skip
# The kiosk: flights at dawn and in the evening, a trough at night.
KIOSK_HOURS = {h: 0.15 if 1 <= h <= 3 else 0.35 if h in (0, 4) else 0.8 for h in range(24)} | {
    5: 1.1,
    6: 1.2,
    7: 1.0,
    17: 1.0,
    18: 1.1,
    19: 1.1,
}


def in_ramadan(day: date) -> bool:
    return RAMADAN_2026[0] <= day <= RAMADAN_2026[1]


def rainy(day: date) -> bool:
    return day.month in (11, 12, 1, 2, 3)


def rate(outlet: DemoOutlet, item: str, day: date, hour: int) -> float:
    """Expected cups of ``item`` at ``outlet`` in that local hour."""
    shape = (KIOSK_HOURS if outlet.around_the_clock else MALL_HOURS).get(hour, 0.0)
    if shape == 0.0:
        return 0.0
    weekend = day.weekday() >= 5
    r = outlet.size * ITEMS[item] * shape
    if not outlet.around_the_clock:
        r *= 1.35 if weekend else 1.0
        r *= 1.15 if day.weekday() == 4 and hour >= 17 else 1.0  # Friday evenings
    if rainy(day):
        r *= 0.7 if 14 <= hour <= 17 else 0.88
    if in_ramadan(day):
        r *= 1.9 if hour >= 18 else 0.25
    if item == SEASONAL_ITEM:
        if day < SEASONAL_LAUNCH:
            return 0.0
        weeks = (day - SEASONAL_LAUNCH).days / 7
        r *= 1.6 * math.exp(-weeks / 20) + 0.4  # a launch spike that settles
    return r


@dataclass(frozen=True)
class Sale:
    outlet: DemoOutlet
    item: str
    day: date
    hour: int
    cups: int


def generate(
    start: date, days: int, seed: int = 7, outlets: tuple[DemoOutlet, ...] = OUTLETS,
    items: tuple[str, ...] = tuple(ITEMS), scale: float = 1.0,
) -> Iterator[Sale]:  # fmt: skip
    """Hourly sales in ``[start, start + days)``, hours without a sale left out."""
    rng = random.Random(seed)
    for d in range(days):
        day = start + timedelta(days=d)
        for outlet in outlets:
            for item in items:
                for hour in range(24):
                    lam = rate(outlet, item, day, hour) * scale
                    cups = _poisson(rng, lam) if lam > 0 else 0
                    if cups:
                        yield Sale(outlet, item, day, hour, cups)


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small rates, normal approximation for large)."""
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def daily_series(
    sales: Iterator[Sale], start: date, days: int
) -> dict[tuple[str, str], list[float]]:
    """Cups per day for each (outlet, item), over ``days`` days from ``start``."""
    out: dict[tuple[str, str], list[float]] = {}
    for s in sales:
        series = out.setdefault((s.outlet.outlet_id, s.item), [0.0] * days)
        series[(s.day - start).days] += s.cups
    return out


def hourly_series(
    sales: Iterator[Sale], start: date, days: int
) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for s in sales:
        series = out.setdefault((s.outlet.outlet_id, s.item), [0.0] * (days * 24))
        series[(s.day - start).days * 24 + s.hour] += s.cups
    return out


# --- orders: the year as the order service would have written it ---------------------------

# How people pay (the order service's methods) and what they choose.
PAYMENT_MIX = (("gopay", 0.38), ("ovo", 0.22), ("qris", 0.18), ("dana", 0.1), ("shopeepay", 0.07),
               ("card", 0.05))  # fmt: skip
SUGAR_MIX = ((0, 0.1), (25, 0.2), (50, 0.4), (75, 0.15), (100, 0.15))
ICE_MIX = ((0, 0.1), (30, 0.3), (50, 0.3), (100, 0.3))
CANCEL_SHARE = 0.03  # placed, never paid
REFUND_SHARE = 0.01  # paid, refunded in full
CUSTOMERS_PER_FRANCHISE = 4000


@dataclass(frozen=True)
class MenuEntry:
    name: str
    price: int
    toppings: tuple[tuple[str, int], ...]  # (id, price) the item offers


def _pick(rng: random.Random, mix: tuple[tuple[Any, float], ...]) -> Any:
    x, acc = rng.random(), 0.0
    for value, share in mix:
        acc += share
        if x < acc:
            return value
    return mix[-1][0]


def order_id_of(outlet_id: str, day: date, n: int) -> str:
    return f"hist-{outlet_id}-{day:%Y%m%d}-{n:04d}"


def day_orders(
    day: date,
    sales: list[Sale],
    menu: dict[str, MenuEntry],
    zone: ZoneInfo,
    seed: int = 7,
) -> list[list[Event]]:
    """The orders of one day (deterministic for the day and seed), each as the list of its
    events in the order the order service writes them: created, paid, ready, completed
    (or cancelled before payment; some refunded after pick-up)."""
    rng = random.Random(f"{seed}-{day.isoformat()}")
    out: list[list[Event]] = []
    counters: dict[str, int] = {}
    for sale in sales:
        left = sale.cups
        while left > 0:
            qty = min(left, 2 if rng.random() < 0.3 else 1)
            left -= qty
            n = counters.get(sale.outlet.outlet_id, 0) + 1
            counters[sale.outlet.outlet_id] = n
            minute, second = rng.randrange(60), rng.randrange(60)
            at = datetime.combine(day, time(sale.hour, minute, second), zone).astimezone(UTC)
            out.append(_order(rng, sale, qty, menu, order_id_of(sale.outlet.outlet_id, day, n), at))
    return out


def _order(
    rng: random.Random, sale: Sale, qty: int, menu: dict[str, MenuEntry], order_id: str,
    at: datetime,
) -> list[Event]:  # fmt: skip
    entry = menu[sale.item]
    outlet = sale.outlet
    # A few regulars, many occasional: low numbers come back often.
    customer = f"hist-{outlet.franchise_id}-{int(CUSTOMERS_PER_FRANCHISE * rng.random() ** 2):04d}"
    toppings = [t for t in entry.toppings if rng.random() < 0.25][:2]
    unit = entry.price + sum(p for _, p in toppings)
    line = {
        "menu_id": sale.item, "name": entry.name, "unit_price": unit, "base_price": entry.price,
        "quantity": qty, "subtotal": unit * qty,
        "customizations": {
            "sugar_level": _pick(rng, SUGAR_MIX), "ice_level": _pick(rng, ICE_MIX),
            "toppings": [t for t, _ in toppings],
        },
    }  # fmt: skip
    total = unit * qty
    method = _pick(rng, PAYMENT_MIX)
    base = {"order_id": order_id, "customer_id": customer}
    where = {**base, "outlet_id": outlet.outlet_id}

    def event(kind: str, when: datetime, data: dict[str, Any]) -> Event:
        return Event(
            id=f"evt-{order_id}-{kind.removeprefix('order.')}",
            type=kind,
            timestamp=when.replace(microsecond=when.microsecond // 1000 * 1000),
            version="1.0",
            source="analytics-history",
            tenant=outlet.franchise_id,
            data=data,
            metadata=EventMetadata(correlation_id=order_id, trace_id=order_id),
        )

    events = [
        event("order.created", at, {
            **where, "user_id": customer, "franchise_id": outlet.franchise_id,
            "items": [{"menu_id": sale.item, "quantity": qty}], "lines": [line],
            "subtotal_amount": total, "discount_amount": 0, "total_amount": total,
            "payment_method": method, "status": "pending_payment",
        }),
    ]  # fmt: skip
    if rng.random() < CANCEL_SHARE:
        when = at + timedelta(seconds=rng.randrange(30, 300))
        events.append(event("order.cancelled", when, {**where, "reason": "changed my mind",
                                                      "by": customer}))  # fmt: skip
        return events
    paid = at + timedelta(seconds=rng.randrange(10, 90))
    # Busier hours make slower drinks: 2-6 minutes, a long tail past the 10-minute target.
    prep = rng.gauss(240, 80) + (rng.expovariate(1 / 300) if rng.random() < 0.08 else 0)
    ready = paid + timedelta(seconds=max(60.0, prep))
    picked = ready + timedelta(seconds=rng.expovariate(1 / 120) + 15)
    events += [
        event("order.payment_completed", paid, {
            **base, "intent_id": f"pay-{order_id}", "transaction_id": f"txn-{order_id}",
            "amount": total, "paid_at": utc_iso(paid),
        }),
        event("order.ready", ready, {**where, "by": f"staff.{outlet.outlet_id}"}),
        event("order.completed", picked, {**where, "by": f"staff.{outlet.outlet_id}"}),
    ]  # fmt: skip
    if rng.random() < REFUND_SHARE:
        when = picked + timedelta(hours=rng.randrange(1, 48))
        events.append(event("order.refunded", when, {
            **base, "refund_id": f"rf-{order_id}", "amount": total, "total_refunded": total,
            "full": True,
        }))  # fmt: skip
    return events
