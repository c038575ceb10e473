"""The brand catalog and the outlets, in the business's words.

Plain Python: no I/O, no clock. Every function that depends on the time takes ``now`` (an
aware datetime), so the rules about seasons and opening hours can be checked with any date.
Records (``as_record`` / ``from_record``) are the JSON-friendly shapes stored in MongoDB and
in the cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bobaku.kernel.events.envelope import parse_utc

ITEM_ID = re.compile(r"^m[0-9]{3,6}$")
TOPPING_ID = re.compile(r"^t[0-9]{3,6}$")
CATEGORY_ID = re.compile(r"^c[0-9]{2,4}$")
FRANCHISE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")

# Where a drink is made in the kitchen; the kitchen display groups tickets by station.
STATIONS = ("tea_bar", "toppings", "blender")
DEFAULT_SUGAR_LEVELS = (0, 25, 50, 75, 100)
DEFAULT_ICE_LEVELS = (0, 30, 50, 100)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Asia/Jakarta"
MINUTES_PER_DAY = 24 * 60


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _when(value: Any) -> datetime:
    """A stored instant: a datetime (MongoDB) or an ISO-8601 string (the cache)."""
    if isinstance(value, datetime):
        return value
    return parse_utc(str(value))


@dataclass(frozen=True)
class Topping:
    id: str
    name: str
    price: int

    def as_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Topping:
        return cls(str(r["id"]), str(r["name"]), int(r["price"]))


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    position: int = 0

    def as_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "position": self.position}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Category:
        return cls(str(r["id"]), str(r["name"]), int(r.get("position", 0)))


@dataclass(frozen=True)
class Season:
    """The window in which a seasonal item is sold: from ``starts_at``, until ``ends_at``."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("a season's bounds must carry a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("a season must end after it starts")

    def contains(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def as_record(self) -> dict[str, Any]:
        return {"starts_at": self.starts_at, "ends_at": self.ends_at}

    @classmethod
    def from_record(cls, r: Mapping[str, Any] | None) -> Season | None:
        if not r:
            return None
        return cls(_when(r["starts_at"]), _when(r["ends_at"]))


@dataclass(frozen=True)
class MenuItem:
    """A drink of the brand catalog, as HQ defines it."""

    id: str
    name: str
    category_id: str
    base_price: int
    station: str = "tea_bar"
    prep_seconds: int = 120
    description: str = ""
    sugar_levels: tuple[int, ...] = DEFAULT_SUGAR_LEVELS
    ice_levels: tuple[int, ...] = DEFAULT_ICE_LEVELS
    topping_ids: tuple[str, ...] = ()
    season: Season | None = None
    active: bool = True

    @property
    def seasonal(self) -> bool:
        return self.season is not None

    @property
    def default_sugar_level(self) -> int:
        """Normal sweetness (100) where offered, else the sweetest level the item has."""
        return 100 if 100 in self.sugar_levels else max(self.sugar_levels)

    @property
    def default_ice_level(self) -> int:
        return 100 if 100 in self.ice_levels else max(self.ice_levels)

    def in_season(self, now: datetime) -> bool:
        return self.season is None or self.season.contains(now)

    def changed(self, **changes: Any) -> MenuItem:
        return replace(self, **changes)

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category_id": self.category_id,
            "base_price": self.base_price,
            "station": self.station,
            "prep_seconds": self.prep_seconds,
            "description": self.description,
            "sugar_levels": list(self.sugar_levels),
            "ice_levels": list(self.ice_levels),
            "topping_ids": list(self.topping_ids),
            "season": self.season.as_record() if self.season else None,
            "active": self.active,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> MenuItem:
        return cls(
            id=str(r["id"]),
            name=str(r["name"]),
            category_id=str(r["category_id"]),
            base_price=int(r["base_price"]),
            station=str(r.get("station", "tea_bar")),
            prep_seconds=int(r.get("prep_seconds", 120)),
            description=str(r.get("description", "")),
            sugar_levels=tuple(int(x) for x in r.get("sugar_levels", DEFAULT_SUGAR_LEVELS)),
            ice_levels=tuple(int(x) for x in r.get("ice_levels", DEFAULT_ICE_LEVELS)),
            topping_ids=tuple(str(x) for x in r.get("topping_ids", ())),
            season=Season.from_record(r.get("season")),
            active=bool(r.get("active", True)),
        )


def parse_clock(text: str) -> int:
    """``"HH:MM"`` → minutes after midnight; ``"24:00"`` is the end of the day."""
    match = re.fullmatch(r"([0-9]{2}):([0-9]{2})", text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day like '10:00'")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return hours * 60 + minutes


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class Shift:
    """One opening period of a day. A period that closes at or before it opens (e.g.
    18:00-02:00) runs past midnight into the next day."""

    opens: int
    closes: int

    @property
    def past_midnight(self) -> bool:
        return self.closes <= self.opens

    def as_record(self) -> dict[str, str]:
        return {"open": format_clock(self.opens), "close": format_clock(self.closes)}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Shift:
        return cls(parse_clock(str(r["open"])), parse_clock(str(r["close"])))


@dataclass(frozen=True)
class WeeklyHours:
    """Opening periods per weekday (``mon`` … ``sun``); a day without periods is closed."""

    days: Mapping[str, tuple[Shift, ...]] = field(default_factory=dict)

    @classmethod
    def daily(cls, opens: str, closes: str) -> WeeklyHours:
        shift = Shift(parse_clock(opens), parse_clock(closes))
        return cls({day: (shift,) for day in WEEKDAYS})

    def problems(self) -> list[tuple[str, str]]:
        """``(day, problem)`` for each day whose periods make no sense."""
        out: list[tuple[str, str]] = []
        for day, shifts in self.days.items():
            if day not in WEEKDAYS:
                out.append((day, f"unknown day; use one of {', '.join(WEEKDAYS)}"))
                continue
            if any(s.opens == s.closes for s in shifts):
                out.append((day, "a period must not open and close at the same time"))
                continue
            if any(s.opens >= MINUTES_PER_DAY for s in shifts):
                # 24:00 is the end of a day: a period may close then, never open then.
                out.append((day, "a period must open before 24:00"))
                continue
            spans = sorted(
                (s.opens, s.closes if not s.past_midnight else MINUTES_PER_DAY) for s in shifts
            )
            if sum(1 for s in shifts if s.past_midnight) > 1 or any(
                later[0] < earlier[1] for earlier, later in pairwise(spans)
            ):
                out.append((day, "periods overlap"))
        return out

    def is_open(self, local: datetime) -> bool:
        """Whether the outlet is open at ``local`` (a time in the outlet's own zone)."""
        minute = local.hour * 60 + local.minute
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        for shift in self.days.get(today, ()):
            if shift.past_midnight:
                if minute >= shift.opens:
                    return True
            elif shift.opens <= minute < shift.closes:
                return True
        return any(
            shift.past_midnight and minute < shift.closes for shift in self.days.get(yesterday, ())
        )

    def as_record(self) -> dict[str, list[dict[str, str]]]:
        return {
            day: [s.as_record() for s in self.days[day]] for day in WEEKDAYS if day in self.days
        }

    def rows(self) -> list[dict[str, str]]:
        """The stored form: one ``{day, open, close}`` row per period, in week order. A whole
        array is replaced by ``$set`` alike on MongoDB and FerretDB, where an embedded
        document keyed by day was not (FerretDB 1.24 kept the old days' keys)."""
        return [{"day": day, **s.as_record()} for day in WEEKDAYS for s in self.days.get(day, ())]

    @classmethod
    def from_record(cls, r: Mapping[str, Iterable[Mapping[str, Any]]]) -> WeeklyHours:
        return cls({day: tuple(Shift.from_record(s) for s in shifts) for day, shifts in r.items()})

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> WeeklyHours:
        days: dict[str, list[Shift]] = {}
        for row in rows:
            days.setdefault(str(row["day"]), []).append(Shift.from_record(row))
        return cls({day: tuple(shifts) for day, shifts in days.items()})


def _stored_hours(value: Any) -> WeeklyHours:
    """Rows as stored (:meth:`WeeklyHours.rows`), or day → periods (older documents, records)."""
    return (
        WeeklyHours.from_record(value)
        if isinstance(value, Mapping)
        else WeeklyHours.from_rows(value)
    )


@dataclass(frozen=True)
class Outlet:
    """A shop of one franchise, with where it is, when it is open and its kitchen stations."""

    id: str
    franchise_id: str
    name: str
    address: str = ""
    phone: str = ""
    city: str = ""
    timezone: str = DEFAULT_TIMEZONE
    hours: WeeklyHours = field(default_factory=lambda: WeeklyHours.daily("10:00", "22:00"))
    stations: tuple[str, ...] = STATIONS

    def local_time(self, now: datetime) -> datetime:
        return now.astimezone(ZoneInfo(self.timezone))

    def open_at(self, now: datetime) -> bool:
        return self.hours.is_open(self.local_time(now))

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "franchise_id": self.franchise_id,
            "name": self.name,
            "address": self.address,
            "phone": self.phone,
            "city": self.city,
            "timezone": self.timezone,
            "opening_hours": self.hours.as_record(),
            "stations": list(self.stations),
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Outlet:
        return cls(
            id=str(r["id"]),
            franchise_id=str(r["franchise_id"]),
            name=str(r["name"]),
            address=str(r.get("address", "")),
            phone=str(r.get("phone", "")),
            city=str(r.get("city", "")),
            timezone=str(r.get("timezone") or DEFAULT_TIMEZONE),
            hours=_stored_hours(r.get("opening_hours") or {}),
            stations=tuple(str(s) for s in r.get("stations", STATIONS)),
        )


def item_problems(
    item: MenuItem, *, categories: Iterable[str], toppings: Iterable[str]
) -> list[tuple[str, str]]:
    """``(field, problem)`` for each way ``item`` breaks the catalog's rules."""
    out: list[tuple[str, str]] = []
    if item.category_id not in set(categories):
        out.append(("category_id", f"no category {item.category_id!r} in the catalog"))
    if item.station not in STATIONS:
        out.append(("station", f"station must be one of {', '.join(STATIONS)}"))
    known = set(toppings)
    for i, topping in enumerate(item.topping_ids):
        if topping not in known:
            out.append((f"topping_ids.{i}", f"no topping {topping!r} in the catalog"))
    if len(set(item.topping_ids)) != len(item.topping_ids):
        out.append(("topping_ids", "a topping is listed twice"))
    for name, levels in (("sugar_levels", item.sugar_levels), ("ice_levels", item.ice_levels)):
        if not levels:
            out.append((name, "offer at least one level"))
        elif len(set(levels)) != len(levels):
            out.append((name, "a level is listed twice"))
        elif any(not 0 <= level <= 100 for level in levels):
            out.append((name, "levels are percentages from 0 to 100"))
    return out
