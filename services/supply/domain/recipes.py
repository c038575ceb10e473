"""Ingredients, recipes and what one order needs of each ingredient.

Quantities are integers in the ingredient's unit (``g``, ``ml`` or ``pcs``), so no rounding
error accumulates in a ledger. A recipe is per menu item and size; each of its lines either
stays fixed (tea, milk, the cup, the lid, the straw), or scales with the drink's sugar level
(syrups) or ice level (ice): ``ceil(quantity * level / 100)``, rounded up so that a
reservation never holds less than the barista will use. Each topping adds its own lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

UNITS = ("g", "ml", "pcs")
Unit = Literal["g", "ml", "pcs"]
Scale = Literal["sugar", "ice"]
DEFAULT_SIZE = "regular"
# An order line without a level is made at the standard recipe (100%).
STANDARD_LEVEL = 100


@dataclass(frozen=True)
class Ingredient:
    id: str
    name: str
    unit: Unit
    pack_size: int  # units per pack the supplier sells
    unit_cost: int  # rupiah per pack
    supplier_id: str | None = None
    shelf_life_days: int | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "unit": self.unit,
            "pack_size": self.pack_size,
            "unit_cost": self.unit_cost,
            "supplier_id": self.supplier_id,
            "shelf_life_days": self.shelf_life_days,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Ingredient:
        return cls(
            id=str(r.get("id") or r["_id"]),
            name=str(r["name"]),
            unit=r["unit"],
            pack_size=int(r["pack_size"]),
            unit_cost=int(r["unit_cost"]),
            supplier_id=r.get("supplier_id"),
            shelf_life_days=r.get("shelf_life_days"),
        )

    def overridden(self, override: Mapping[str, Any] | None) -> Ingredient:
        """The franchise's own supplier and price, where it set them."""
        if not override:
            return self
        return Ingredient(
            self.id,
            self.name,
            self.unit,
            self.pack_size,
            self.unit_cost if override.get("unit_cost") is None else int(override["unit_cost"]),
            override.get("supplier_id") or self.supplier_id,
            self.shelf_life_days,
        )


@dataclass(frozen=True)
class RecipeLine:
    ingredient_id: str
    quantity: int
    scales_with: Scale | None = None

    def amount(self, sugar_level: int, ice_level: int) -> int:
        if self.scales_with is None:
            return self.quantity
        level = sugar_level if self.scales_with == "sugar" else ice_level
        return -(-self.quantity * level // 100)  # ceiling without floats

    def as_record(self) -> dict[str, Any]:
        return {
            "ingredient_id": self.ingredient_id,
            "quantity": self.quantity,
            "scales_with": self.scales_with,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> RecipeLine:
        return cls(str(r["ingredient_id"]), int(r["quantity"]), r.get("scales_with"))


def lines_from(records: Iterable[Mapping[str, Any]]) -> tuple[RecipeLine, ...]:
    return tuple(RecipeLine.from_record(r) for r in records)


@dataclass(frozen=True)
class Recipe:
    """What one drink of ``menu_id`` in ``size`` takes (toppings not included)."""

    menu_id: str
    size: str
    lines: tuple[RecipeLine, ...]


@dataclass(frozen=True)
class OrderLine:
    menu_id: str
    quantity: int
    sugar_level: int = STANDARD_LEVEL
    ice_level: int = STANDARD_LEVEL
    toppings: tuple[str, ...] = ()
    size: str = DEFAULT_SIZE


@dataclass(frozen=True)
class Cookbook:
    """Every recipe and topping recipe, as HQ defined them."""

    recipes: Mapping[tuple[str, str], Recipe] = field(default_factory=dict)
    toppings: Mapping[str, tuple[RecipeLine, ...]] = field(default_factory=dict)

    def recipe(self, menu_id: str, size: str = DEFAULT_SIZE) -> Recipe | None:
        return self.recipes.get((menu_id, size))

    def needs(self, lines: Sequence[OrderLine]) -> dict[str, int]:
        """Units of each ingredient the order takes. Items without a recipe take nothing
        (the menu may sell things supply does not track); see :meth:`untracked`."""
        total: dict[str, int] = {}
        for line in lines:
            per_drink: dict[str, int] = {}
            recipe = self.recipe(line.menu_id, line.size)
            for part in recipe.lines if recipe else ():
                amount = part.amount(line.sugar_level, line.ice_level)
                per_drink[part.ingredient_id] = per_drink.get(part.ingredient_id, 0) + amount
            for topping in line.toppings:
                for part in self.toppings.get(topping, ()):
                    amount = part.amount(line.sugar_level, line.ice_level)
                    per_drink[part.ingredient_id] = per_drink.get(part.ingredient_id, 0) + amount
            for ingredient_id, amount in per_drink.items():
                total[ingredient_id] = total.get(ingredient_id, 0) + amount * line.quantity
        return {k: v for k, v in sorted(total.items()) if v > 0}

    def untracked(self, lines: Sequence[OrderLine]) -> list[str]:
        return sorted({x.menu_id for x in lines if self.recipe(x.menu_id, x.size) is None})

    def unavailable_items(self, can_supply: Mapping[str, int | None]) -> list[str]:
        """Menu items one standard drink (100% sugar and ice, no toppings, regular size) of
        which the stock cannot cover. ``can_supply``: units left per tracked ingredient."""
        out = []
        for menu_id, size in sorted(self.recipes):
            if size != DEFAULT_SIZE:
                continue
            need = self.needs([OrderLine(menu_id, 1)])
            for ingredient_id, amount in need.items():
                left = can_supply.get(ingredient_id)
                if left is not None and left < amount:
                    out.append(menu_id)
                    break
        return out


def forecast_use(
    cookbook: Cookbook,
    cups: Mapping[str, Sequence[float]],
    days_of: Mapping[str, int],
) -> dict[str, int]:
    """Units of each ingredient the forecast cups take over each ingredient's ``days_of``
    (its supplier's lead time): the standard drink's recipe (regular, 100 % sugar and ice,
    no toppings) times the cups of the first that many days, rounded up once at the end."""
    use: dict[str, float] = {}
    for menu_id, daily in sorted(cups.items()):
        per_cup = cookbook.needs([OrderLine(menu_id=menu_id, quantity=1)])
        for ingredient_id, amount in per_cup.items():
            days = days_of.get(ingredient_id, 0)
            use[ingredient_id] = use.get(ingredient_id, 0.0) + amount * sum(daily[:days])
    return {i: math.ceil(round(v, 6)) for i, v in sorted(use.items()) if v > 0}
