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

The backtest (``service_layer/forecast.py``) and the demo seed (``seed-history``) both use it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

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
