"""The effective menu of an outlet and the price of an order there.

An outlet's menu is decided in layers: the HQ catalog (items, base prices, seasons) →
the franchise's price overrides → the outlet's own availability and opening hours → its
stock. :class:`OutletCatalog` holds the first three layers (what the cache keeps); the clock
and the stock levels are applied on every read, so a cached catalog never serves a season
or an opening hour that has since begun or ended.

Pricing rule (docs/contracts.md): ``unit_price`` = the item's price at the outlet (franchise
override, else HQ base price) + the prices of its chosen toppings; ``subtotal = unit_price
* quantity``; the quote's ``total`` is the sum of the subtotals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bobaku.services.menu.domain.model import Category, MenuItem, Outlet, Topping

MAX_QUANTITY_PER_LINE = 20
MAX_TOPPINGS_PER_DRINK = 5

# Why an item cannot be ordered right now, in the order the layers are checked.
OUT_OF_SEASON = "out_of_season"
UNAVAILABLE_AT_OUTLET = "unavailable_at_outlet"
SOLD_OUT = "sold_out"

StockLeft = Mapping[str, int]
"""Units left per tracked item (items not listed are not counted: unlimited)."""


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class OutletCatalog:
    """Everything that decides an outlet's menu except the clock and the stock."""

    outlet: Outlet
    categories: tuple[Category, ...]
    items: tuple[MenuItem, ...]
    toppings: Mapping[str, Topping]
    franchise_prices: Mapping[str, int]
    unavailable_here: frozenset[str]

    def item(self, item_id: str) -> MenuItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def price_of(self, item: MenuItem) -> int:
        return self.franchise_prices.get(item.id, item.base_price)

    def toppings_of(self, item: MenuItem) -> list[Topping]:
        return [self.toppings[t] for t in item.topping_ids if t in self.toppings]

    def why_unavailable(self, item: MenuItem, stock: StockLeft, now: datetime) -> str | None:
        if not item.in_season(now):
            return OUT_OF_SEASON
        # An outlet without the item's station (say, no blender) cannot make it.
        if item.id in self.unavailable_here or item.station not in self.outlet.stations:
            return UNAVAILABLE_AT_OUTLET
        left = stock.get(item.id)
        if left is not None and left <= 0:
            return SOLD_OUT
        return None

    def as_record(self) -> dict[str, Any]:
        def season(item: MenuItem) -> dict[str, str] | None:
            if item.season is None:
                return None
            return {"starts_at": iso(item.season.starts_at), "ends_at": iso(item.season.ends_at)}

        return {
            "outlet": self.outlet.as_record(),
            "categories": [c.as_record() for c in self.categories],
            "items": [{**i.as_record(), "season": season(i)} for i in self.items],
            "toppings": [t.as_record() for t in self.toppings.values()],
            "franchise_prices": dict(self.franchise_prices),
            "unavailable_here": sorted(self.unavailable_here),
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> OutletCatalog:
        toppings = [Topping.from_record(t) for t in r["toppings"]]
        return cls(
            outlet=Outlet.from_record(r["outlet"]),
            categories=tuple(Category.from_record(c) for c in r["categories"]),
            items=tuple(MenuItem.from_record(i) for i in r["items"]),
            toppings={t.id: t for t in toppings},
            franchise_prices={str(k): int(v) for k, v in r["franchise_prices"].items()},
            unavailable_here=frozenset(r["unavailable_here"]),
        )


def item_view(
    catalog: OutletCatalog, item: MenuItem, stock: StockLeft, now: datetime
) -> dict[str, Any]:
    reason = catalog.why_unavailable(item, stock, now)
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "category_id": item.category_id,
        "price": catalog.price_of(item),
        "available": reason is None,
        "unavailable_reason": reason,
        "station": item.station,
        "prep_seconds": item.prep_seconds,
        "options": {
            "sugar_levels": list(item.sugar_levels),
            "ice_levels": list(item.ice_levels),
            "toppings": [t.as_record() for t in catalog.toppings_of(item)],
        },
        "seasonal": item.seasonal,
        "season": (
            {"starts_at": iso(item.season.starts_at), "ends_at": iso(item.season.ends_at)}
            if item.season
            else None
        ),
    }


def effective_menu(catalog: OutletCatalog, stock: StockLeft, now: datetime) -> dict[str, Any]:
    """The outlet's menu at ``now``: categories in order, each with its items."""
    outlet = catalog.outlet
    open_now = outlet.open_at(now)
    categories = []
    for category in sorted(catalog.categories, key=lambda c: (c.position, c.id)):
        items = [
            item_view(catalog, item, stock, now)
            for item in sorted(catalog.items, key=lambda i: i.id)
            if item.category_id == category.id
        ]
        if items:
            categories.append({"id": category.id, "name": category.name, "items": items})
    return {
        "outlet": {
            "id": outlet.id,
            "franchise_id": outlet.franchise_id,
            "name": outlet.name,
            "open_now": open_now,
        },
        "open_now": open_now,
        "as_of": iso(now),
        "categories": categories,
    }


# --- pricing an order -----------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    """One line as the customer asked for it. Levels not given take the item's default."""

    menu_id: str
    quantity: int
    sugar_level: int | None = None
    ice_level: int | None = None
    toppings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str
    value: Any = None


@dataclass(frozen=True)
class PricedLine:
    menu_id: str
    name: str
    base_price: int
    unit_price: int
    quantity: int
    sugar_level: int
    ice_level: int
    toppings: tuple[Topping, ...]
    subtotal: int
    station: str
    prep_seconds: int


@dataclass(frozen=True)
class Quote:
    outlet: Outlet
    lines: tuple[PricedLine, ...]
    total: int


class InvalidOrder(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))
        self.problems = list(problems)


class OutletClosed(Exception):
    pass


class ItemsUnavailable(Exception):
    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        super().__init__(", ".join(f"{i['menu_id']} ({i['reason']})" for i in items))
        self.items = list(items)


def order_problems(catalog: OutletCatalog, lines: Sequence[OrderLine]) -> list[Problem]:
    """Every way the lines break the menu's rules, each naming its field."""
    problems: list[Problem] = []
    if not lines:
        problems.append(Problem("items", "an order needs at least one item"))
    for i, line in enumerate(lines):
        at = f"items.{i}"
        if not 1 <= line.quantity <= MAX_QUANTITY_PER_LINE:
            problems.append(
                Problem(
                    f"{at}.quantity",
                    f"quantity must be from 1 to {MAX_QUANTITY_PER_LINE}",
                    line.quantity,
                )
            )
        item = catalog.item(line.menu_id)
        if item is None:
            problems.append(
                Problem(f"{at}.menu_id", "no such item on this outlet's menu", line.menu_id)
            )
            continue
        custom = f"{at}.customizations"
        if line.sugar_level is not None and line.sugar_level not in item.sugar_levels:
            problems.append(
                Problem(
                    f"{custom}.sugar_level",
                    f"{item.name} comes with sugar levels {list(item.sugar_levels)}",
                    line.sugar_level,
                )
            )
        if line.ice_level is not None and line.ice_level not in item.ice_levels:
            problems.append(
                Problem(
                    f"{custom}.ice_level",
                    f"{item.name} comes with ice levels {list(item.ice_levels)}",
                    line.ice_level,
                )
            )
        if len(line.toppings) > MAX_TOPPINGS_PER_DRINK:
            problems.append(
                Problem(
                    f"{custom}.toppings",
                    f"at most {MAX_TOPPINGS_PER_DRINK} toppings per drink",
                    len(line.toppings),
                )
            )
        seen: set[str] = set()
        for j, topping in enumerate(line.toppings):
            if topping in seen:
                problems.append(
                    Problem(f"{custom}.toppings.{j}", f"topping {topping} is listed twice", topping)
                )
            elif topping not in item.topping_ids or topping not in catalog.toppings:
                problems.append(
                    Problem(
                        f"{custom}.toppings.{j}",
                        f"topping {topping} is not offered with {item.name}",
                        topping,
                    )
                )
            seen.add(topping)
    return problems


def price_order(
    catalog: OutletCatalog, stock: StockLeft, now: datetime, lines: Sequence[OrderLine]
) -> Quote:
    """Price ``lines`` at the outlet now, or say why they cannot be ordered.

    Checked in this order: the lines themselves (:class:`InvalidOrder`), the opening hours
    (:class:`OutletClosed`), then each item's availability (:class:`ItemsUnavailable`).
    """
    problems = order_problems(catalog, lines)
    if problems:
        raise InvalidOrder(problems)
    if not catalog.outlet.open_at(now):
        raise OutletClosed(f"{catalog.outlet.name} is closed now")
    unavailable = []
    for i, line in enumerate(lines):
        item = catalog.item(line.menu_id)
        assert item is not None  # checked above
        reason = catalog.why_unavailable(item, stock, now)
        if reason is not None:
            unavailable.append(
                {"index": i, "menu_id": item.id, "name": item.name, "reason": reason}
            )
    if unavailable:
        raise ItemsUnavailable(unavailable)
    priced = tuple(price_line(catalog, line) for line in lines)
    return Quote(catalog.outlet, priced, sum(p.subtotal for p in priced))


def price_line(catalog: OutletCatalog, line: OrderLine) -> PricedLine:
    item = catalog.item(line.menu_id)
    assert item is not None
    toppings = tuple(catalog.toppings[t] for t in line.toppings)
    base = catalog.price_of(item)
    unit = base + sum(t.price for t in toppings)
    return PricedLine(
        menu_id=item.id,
        name=item.name,
        base_price=base,
        unit_price=unit,
        quantity=line.quantity,
        sugar_level=item.default_sugar_level if line.sugar_level is None else line.sugar_level,
        ice_level=item.default_ice_level if line.ice_level is None else line.ice_level,
        toppings=toppings,
        subtotal=unit * line.quantity,
        station=item.station,
        # The line's whole preparation time: the kitchen makes its cups one after another.
        prep_seconds=item.prep_seconds * line.quantity,
    )
