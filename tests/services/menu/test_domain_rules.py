"""The menu's rules without any server: hours, seasons and pricing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bobaku.services.menu.domain.menu import (
    InvalidOrder,
    ItemsUnavailable,
    OrderLine,
    OutletCatalog,
    OutletClosed,
    price_order,
)
from bobaku.services.menu.domain.model import (
    Category,
    MenuItem,
    Outlet,
    Season,
    Shift,
    Topping,
    WeeklyHours,
    parse_clock,
)

JAKARTA_NOON = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # Tuesday 12:00 WIB


def jakarta(hour: int, minute: int = 0, day: int = 24) -> datetime:
    """An instant given as Jakarta wall-clock time (UTC+7) on a day of November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


def catalog(**overrides: object) -> OutletCatalog:
    toppings = [Topping("t001", "Pearl", 5000), Topping("t003", "Cheese Foam", 8000)]
    fields: dict[str, object] = {
        "outlet": Outlet("outlet-1", "fr-a", "BobaKu A"),
        "categories": (Category("c01", "Milk Tea"),),
        "items": (
            MenuItem("m001", "Brown Sugar Boba Milk Tea", "c01", 28000,
                     topping_ids=("t001", "t003")),
        ),
        "toppings": {t.id: t for t in toppings},
        "franchise_prices": {},
        "unavailable_here": frozenset(),
    }  # fmt: skip
    fields.update(overrides)
    return OutletCatalog(**fields)  # type: ignore[arg-type]


def test_the_briefs_order_costs_two_times_the_drink_and_its_toppings() -> None:
    line = OrderLine("m001", 2, sugar_level=50, ice_level=30, toppings=("t001", "t003"))
    quote = price_order(catalog(), {}, JAKARTA_NOON, [line])
    assert quote.lines[0].unit_price == 28000 + 5000 + 8000
    assert quote.lines[0].subtotal == quote.total == 2 * (28000 + 5000 + 8000) == 82000


def test_a_franchise_price_replaces_the_hq_price_and_toppings_still_add() -> None:
    quote = price_order(
        catalog(franchise_prices={"m001": 26000}),
        {},
        JAKARTA_NOON,
        [OrderLine("m001", 1, toppings=("t001",))],
    )
    assert (quote.lines[0].base_price, quote.lines[0].unit_price) == (26000, 31000)


def test_levels_left_out_take_the_normal_level() -> None:
    line = price_order(catalog(), {}, JAKARTA_NOON, [OrderLine("m001", 1)]).lines[0]
    assert (line.sugar_level, line.ice_level) == (100, 100)


def test_every_invalid_field_is_named_at_once() -> None:
    lines = [
        OrderLine("m001", 0, sugar_level=40, ice_level=35, toppings=("t001", "t002", "t001")),
        OrderLine("m404", 1),
    ]
    with pytest.raises(InvalidOrder) as caught:
        price_order(catalog(), {}, JAKARTA_NOON, lines)
    assert [p.field for p in caught.value.problems] == [
        "items.0.quantity",
        "items.0.customizations.sugar_level",
        "items.0.customizations.ice_level",
        "items.0.customizations.toppings.1",
        "items.0.customizations.toppings.2",
        "items.1.menu_id",
    ]


def test_a_closed_outlet_quotes_nothing() -> None:
    with pytest.raises(OutletClosed):
        price_order(catalog(), {}, jakarta(22, 0), [OrderLine("m001", 1)])


def test_an_item_is_unavailable_out_of_season_disabled_at_the_outlet_or_sold_out() -> None:
    past = Season(JAKARTA_NOON - timedelta(days=60), JAKARTA_NOON - timedelta(days=1))
    items = (
        MenuItem("m001", "Brown Sugar Boba Milk Tea", "c01", 28000),
        MenuItem("m002", "Mango Sago", "c01", 30000, season=past),
        MenuItem("m003", "Thai Tea", "c01", 23000),
        MenuItem("m004", "Popping Yakult", "c01", 26000),
    )
    here = catalog(items=items, unavailable_here=frozenset({"m003"}))
    stock = {"m004": 0, "m001": 3}
    lines = [OrderLine(i.id, 1) for i in items]
    with pytest.raises(ItemsUnavailable) as caught:
        price_order(here, stock, JAKARTA_NOON, lines)
    assert [(i["menu_id"], i["reason"]) for i in caught.value.items] == [
        ("m002", "out_of_season"),
        ("m003", "unavailable_at_outlet"),
        ("m004", "sold_out"),
    ]


def test_an_outlet_without_the_items_station_cannot_make_it() -> None:
    kiosk = Outlet("outlet-9", "fr-a", "BobaKu Kiosk", stations=("tea_bar",))
    smoothie = MenuItem("m020", "Taro Boba Smoothie", "c01", 29000, station="blender")
    here = catalog(outlet=kiosk, items=(smoothie,))
    assert here.why_unavailable(smoothie, {}, JAKARTA_NOON) == "unavailable_at_outlet"


def test_a_season_includes_its_start_and_excludes_its_end() -> None:
    season = Season(JAKARTA_NOON, JAKARTA_NOON + timedelta(days=1))
    assert season.contains(JAKARTA_NOON)
    assert not season.contains(JAKARTA_NOON - timedelta(seconds=1))
    assert not season.contains(JAKARTA_NOON + timedelta(days=1))


def test_daily_hours_are_read_in_the_outlets_time_zone() -> None:
    outlet = Outlet("outlet-1", "fr-a", "BobaKu A", hours=WeeklyHours.daily("10:00", "22:00"))
    assert not outlet.open_at(jakarta(9, 59))
    assert outlet.open_at(jakarta(10, 0))
    assert outlet.open_at(jakarta(21, 59))
    assert not outlet.open_at(jakarta(22, 0))
    makassar = Outlet("outlet-2", "fr-a", "BobaKu B", timezone="Asia/Makassar")  # UTC+8
    assert makassar.open_at(jakarta(21, 30)) is False  # 22:30 there


def test_a_late_shift_runs_past_midnight_into_the_next_day() -> None:
    hours = WeeklyHours({"fri": (Shift(parse_clock("18:00"), parse_clock("02:00")),)})
    friday, saturday = 27, 28
    outlet = Outlet("outlet-1", "fr-a", "Night Boba", hours=hours)
    assert outlet.open_at(jakarta(23, 30, friday))
    assert outlet.open_at(jakarta(1, 59, saturday))
    assert not outlet.open_at(jakarta(2, 0, saturday))
    assert not outlet.open_at(jakarta(23, 0, saturday))


def test_overlapping_or_empty_periods_are_refused() -> None:
    bad = WeeklyHours(
        {
            "mon": (Shift(600, 900), Shift(840, 1200)),
            "tue": (Shift(600, 600),),
            "xyz": (Shift(600, 700),),
        }
    )
    assert [day for day, _ in bad.problems()] == ["mon", "tue", "xyz"]
    assert WeeklyHours({"mon": (Shift(600, 840), Shift(900, 1320))}).problems() == []
