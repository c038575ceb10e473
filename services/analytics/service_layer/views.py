"""Read models as the API shows them: every read is by key, over the range asked for.

A report reads one hash per bucket of its range (and, for customers, one per customer who
bought in the range), so its cost follows the range, never the stored history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import percentile, rfm_segment, sales_figures

Granularity = Literal["minute", "hour", "day"]
GRAN = {"minute": "m", "hour": "h", "day": "d"}


@dataclass(frozen=True)
class Period:
    start: date  # inclusive, local dates
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def bucket_names(period: Period, granularity: Granularity, zone: ZoneInfo) -> list[str]:
    if granularity == "day":
        return [d.isoformat() for d in period.dates()]
    step = timedelta(hours=1) if granularity == "hour" else timedelta(minutes=1)
    fmt = "%Y-%m-%dT%H" if granularity == "hour" else "%Y-%m-%dT%H:%M"
    at = datetime.combine(period.start, time(0), zone)
    stop = datetime.combine(period.end + timedelta(days=1), time(0), zone)
    out = []
    while at < stop:
        out.append(at.strftime(fmt))
        at += step
    return out


def _sum(rows: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row)
    return dict(total)


def _change(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in now.items():
        was = before.get(key)
        if isinstance(value, int | float) and isinstance(was, int | float):
            out[key] = round((value - was) / was, 4) if was else None
    return out


async def sales(
    store: ProjectionStore, scope: str, period: Period, granularity: Granularity, compare: bool
) -> dict[str, Any]:
    zone = store.rules.zone
    g = GRAN[granularity]
    names = bucket_names(period, granularity, zone)
    rows = await store.rows([f"s:{scope}:{g}:{b}" for b in names])
    series = [{"bucket": b, **sales_figures(r)} for b, r in zip(names, rows, strict=True)]
    # Totals from day buckets: minute buckets are not kept for ever.
    days = await store.rows([f"s:{scope}:d:{d.isoformat()}" for d in period.dates()])
    totals = sales_figures(_sum(days))
    out: dict[str, Any] = {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "granularity": granularity,
        "totals": totals,
        "series": series,
    }
    if compare:
        prev = period.previous()
        before = await store.rows([f"s:{scope}:d:{d.isoformat()}" for d in prev.dates()])
        previous = sales_figures(_sum(before))
        out["previous"] = {
            "period": {"from": prev.start.isoformat(), "to": prev.end.isoformat()},
            "totals": previous,
            "change": _change(totals, previous),
        }
    return out


async def directory(store: ProjectionStore) -> dict[str, list[str]]:
    """The franchises and outlets that have had orders: ``{franchise: [outlets]}``."""
    (row,) = await store.rows(["x"])
    out: dict[str, list[str]] = {}
    for key in sorted(row):
        kind, _, rest = key.partition(":")
        if kind == "f":
            out.setdefault(rest, [])
        elif kind == "o":
            fid, _, oid = rest.partition(":")
            out.setdefault(fid, []).append(oid)
    return out


async def franchises(store: ProjectionStore, period: Period) -> dict[str, Any]:
    """HQ's roll-up: each franchise's totals and the brand's."""
    ids = sorted(await directory(store))
    dates = period.dates()
    out = []
    for fid in ids:
        rows = await store.rows([f"s:f:{fid}:d:{d.isoformat()}" for d in dates])
        out.append({"franchise_id": fid, **sales_figures(_sum(rows))})
    brand = await store.rows([f"s:b:d:{d.isoformat()}" for d in dates])
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "brand": sales_figures(_sum(brand)),
        "franchises": out,
    }


def _ranked(counts: Mapping[str, int], names: Mapping[str, str], n: int) -> list[dict[str, Any]]:
    return [
        {"id": k, "name": names.get(k, k), "cups": v}
        for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    ]


def _share(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return (
        {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: int(kv[0]))}
        if total
        else {}
    )


async def menu(store: ProjectionStore, scope: str, period: Period, limit: int) -> dict[str, Any]:
    row = _sum(await store.rows([f"m:{scope}:d:{d.isoformat()}" for d in period.dates()]))
    items = {k[2:]: v for k, v in row.items() if k.startswith("q:")}
    revenue = {k[2:]: v for k, v in row.items() if k.startswith("r:")}
    toppings = {k[2:]: v for k, v in row.items() if k.startswith("t:")}
    names = await store.names([*items, *toppings])
    bottom_items = sorted(items.items(), key=lambda kv: (kv[1], kv[0]))[:limit]
    bottom_tops = sorted(toppings.items(), key=lambda kv: (kv[1], kv[0]))[:limit]
    cups = row.get("cups", 0)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "cups": cups,
        "topping_attach_rate": round(row.get("cups_top", 0) / cups, 4) if cups else 0.0,
        "top_items": [
            {**e, "revenue": revenue.get(e["id"], 0)} for e in _ranked(items, names, limit)
        ],
        "bottom_items": [
            {"id": k, "name": names.get(k, k), "cups": v, "revenue": revenue.get(k, 0)}
            for k, v in bottom_items
        ],
        "top_toppings": _ranked(toppings, names, limit),
        "bottom_toppings": [{"id": k, "name": names.get(k, k), "cups": v} for k, v in bottom_tops],
        "sugar_levels": _share({k[2:]: v for k, v in row.items() if k.startswith("s:")}),
        "ice_levels": _share({k[2:]: v for k, v in row.items() if k.startswith("i:")}),
    }


def _kitchen_figures(row: Mapping[str, int]) -> dict[str, Any]:
    prep = {int(k[2:]): v for k, v in row.items() if k.startswith("p:")}
    pick = {int(k[2:]): v for k, v in row.items() if k.startswith("u:")}
    n = row.get("pn", 0)
    return {
        "orders": n,
        "payment_to_ready_p50_s": percentile(prep, 0.5),
        "payment_to_ready_p90_s": percentile(prep, 0.9),
        "ready_to_pickup_p50_s": percentile(pick, 0.5),
        "ready_to_pickup_p90_s": percentile(pick, 0.9),
        "picked_up": row.get("un", 0),
        "late": row.get("late", 0),
        "late_share": round(row.get("late", 0) / n, 4) if n else 0.0,
    }


async def kitchen(
    store: ProjectionStore, scope: str, period: Period, granularity: Granularity
) -> dict[str, Any]:
    g = "d" if granularity == "day" else "h"
    names = bucket_names(period, "day" if g == "d" else "hour", store.rules.zone)
    rows = await store.rows([f"k:{scope}:{g}:{b}" for b in names])
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "granularity": "day" if g == "d" else "hour",
        "service_target_s": store.rules.service_target_s,
        "totals": _kitchen_figures(_sum(rows)),
        "series": [
            {"bucket": b, **_kitchen_figures(r)} for b, r in zip(names, rows, strict=True) if r
        ],
    }


def _months(period: Period) -> list[str]:
    out: list[str] = []
    for d in period.dates():
        m = d.strftime("%Y-%m")
        if not out or out[-1] != m:
            out.append(m)
    return out


def _month_index(month: str) -> int:
    y, m = month.split("-")
    return int(y) * 12 + int(m) - 1


async def customers(store: ProjectionStore, scope: str, period: Period) -> dict[str, Any]:
    """New vs returning per day, RFM segments and cohort retention, within ``scope``; a
    customer's history is the one in the scope's franchise (or the brand, for HQ)."""
    zone = store.rules.zone
    dates = period.dates()
    day_rows = await store.rows([f"c:{scope}:d:{d.isoformat()}" for d in dates])
    who = sorted({c for row in day_rows for c, v in row.items() if v > 0})
    history_scope = "b" if scope == "b" else f"f:{scope.split(':')[1]}"
    histories = await store.rows([f"u:{history_scope}:{c}" for c in who])
    end = datetime.combine(period.end + timedelta(days=1), time(0), zone).timestamp()
    first_day: dict[str, str] = {}
    rfm: Counter[str] = Counter()
    for customer, row in zip(who, histories, strict=True):
        stamps = {k[2:]: v for k, v in row.items() if k.startswith("t:")}
        if not stamps:
            continue
        first = min(stamps.values())
        first_day[customer] = datetime.fromtimestamp(first, zone).date().isoformat()
        upto = [o for o, t in stamps.items() if t < end]
        if upto:
            last = max(stamps[o] for o in upto)
            money = sum(row.get(f"n:{o}", 0) for o in upto)
            rfm[rfm_segment(int((end - last) // 86400), len(upto), money)] += 1
    daily = []
    for d, row in zip(dates, day_rows, strict=True):
        buyers = [c for c, v in row.items() if v > 0]
        new = sum(1 for c in buyers if first_day.get(c) == d.isoformat())
        if buyers:
            daily.append({"day": d.isoformat(), "new": new, "returning": len(buyers) - new})
    months = _months(period)
    month_rows = await store.rows([f"c:{scope}:M:{m}" for m in months])
    active = {
        m: {c for c, v in r.items() if v > 0} for m, r in zip(months, month_rows, strict=True)
    }
    cohorts = []
    for m in months:
        members = {c for c in active[m] if first_day.get(c, "")[:7] == m}
        if not members:
            continue
        retention = [
            round(len(members & active[later]) / len(members), 4)
            for later in months
            if _month_index(later) > _month_index(m)
        ]
        cohorts.append({"cohort": m, "customers": len(members), "retention": retention})
    new_total = sum(1 for c in who if first_day.get(c, "") >= period.start.isoformat())
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "customers": len(who),
        "new": new_total,
        "returning": len(who) - new_total,
        "daily": daily,
        "rfm_segments": dict(sorted(rfm.items())),
        "cohorts": cohorts,
        "loyalty": await loyalty(store, scope, period),
    }


async def loyalty(store: ProjectionStore, scope: str, period: Period) -> dict[str, Any]:
    """Loyalty points in the period, per day, and the liability.

    Brand (HQ): the ledgers' points issued, redeemed, reversed, released and expired, and the
    outstanding balance of every ledger (all time: the liability). Points are the brand's:
    a customer earns at one franchise and spends at another, so a franchise sees the points
    its orders issued (the ledger names the order's franchise) and, like an outlet, the
    points redeemed on its own paid orders (from the orders), and no liability of its own.
    """
    dates = period.dates()
    sales_rows = await store.rows([f"s:{scope}:d:{d.isoformat()}" for d in dates])
    on_orders = [r.get("pts_redeemed", 0) for r in sales_rows]
    if scope.startswith("o:"):
        ledger_rows: list[dict[str, int]] = [{} for _ in dates]
        total: dict[str, int] | None = None
    else:
        rows = await store.rows(
            [f"l:{scope}:d:{d.isoformat()}" for d in dates] + [f"l:{scope}:total"]
        )
        ledger_rows, total = rows[:-1], rows[-1]
    got = _sum(ledger_rows)
    out: dict[str, Any] = {
        # The ledger names an earning's franchise, not its outlet.
        "issued": None if scope.startswith("o:") else got.get("issued", 0),
        "redeemed_on_orders": sum(on_orders),
        "daily": [
            {
                "day": d.isoformat(),
                "issued": None if scope.startswith("o:") else row.get("issued", 0),
                "redeemed": row.get("redeemed", 0) if scope == "b" else n,
            }
            for d, row, n in zip(dates, ledger_rows, on_orders, strict=True)
        ],
    }
    if scope == "b" and total is not None:
        out.update(
            redeemed=got.get("redeemed", 0),
            reversed=got.get("reversed", 0),
            released=got.get("released", 0),
            expired=got.get("expired", 0),
            outstanding_points=total.get("issued", 0)
            - total.get("reversed", 0)
            - total.get("redeemed", 0)
            + total.get("released", 0)
            - total.get("expired", 0),
        )
    return out


async def forecast(
    store: ProjectionStore, scope: str, today: date, days: int, limit: int
) -> dict[str, Any]:
    """The ``days`` days after today for the outlet's ``limit`` best-selling items (last 28 days),
    daily with a band and hourly, from the last 16 weeks of the menu read model."""
    import asyncio

    from bobaku.services.analytics.service_layer import forecast as fc

    history_days = 16 * 7
    # History up to and including today; the forecast starts tomorrow.
    first = today - timedelta(days=history_days - 1)
    past = [first + timedelta(days=i) for i in range(history_days)]
    rows = await store.rows([f"m:{scope}:d:{d.isoformat()}" for d in past])
    recent: Counter[str] = Counter()
    for row in rows[-28:]:
        recent.update({k[2:]: v for k, v in row.items() if k.startswith("q:")})
    chosen = [item for item, _ in sorted(recent.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]
    names = await store.names(chosen)
    hours = bucket_names(Period(today - timedelta(days=27), today), "hour", store.rules.zone)
    hourly_rows = await store.rows([f"s:{scope}:h:{h}" for h in hours])
    profile = fc.hour_profile(
        [float(r.get("items", 0)) for r in hourly_rows], (today - timedelta(days=27)).weekday()
    )

    def run() -> list[fc.DailyForecast]:
        return [
            fc.forecast_daily([float(r.get(f"q:{item}", 0)) for r in rows], days) for item in chosen
        ]

    results = await asyncio.to_thread(run)
    ahead = [today + timedelta(days=i + 1) for i in range(days)]
    items = []
    total = [0.0] * days
    for item, result in zip(chosen, results, strict=True):
        total = [t + m for t, m in zip(total, result.mean, strict=True)]
        items.append(
            {
                "id": item,
                "name": names.get(item, item),
                "daily": [
                    {
                        "day": d.isoformat(),
                        "cups": round(m, 1),
                        "low": round(lo, 1),
                        "high": round(hi, 1),
                    }
                    for d, m, lo, hi in zip(
                        ahead, result.mean, result.low, result.high, strict=True
                    )
                ],
            }
        )
    spread = fc.forecast_hourly(total, profile, ahead[0].weekday())
    hourly = [
        {"hour": f"{ahead[i // 24].isoformat()}T{i % 24:02d}", "cups": round(v, 2)}
        for i, v in enumerate(spread)
    ]
    return {
        "from": ahead[0].isoformat(),
        "days": days,
        "method": "holt-winters (statsmodels), weekly season; hourly by the outlet's hour profile",
        "items": items,
        "hourly": hourly,
    }
