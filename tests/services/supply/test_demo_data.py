"""The demo brand's supply data (services/supply/seed.py) against the demo menu
(services/menu/seed.py): every drink and topping the menu sells has a recipe, every recipe
names ingredients HQ defines, and the opening stock lets each outlet make every drink, with
the specials short as the menu's counted items were."""

from __future__ import annotations

from datetime import UTC, datetime

from bobaku.services.menu.seed import TOPPING_LIST, demo_items, demo_outlets
from bobaku.services.supply.domain.recipes import Cookbook, OrderLine, Recipe, lines_from
from bobaku.services.supply.seed import (
    DEMO_OUTLETS,
    INGREDIENT_LIST,
    RECIPES_LIST,
    SUPPLIERS_LIST,
    TOPPING_RECIPES_LIST,
    _lines,
    opening_stock,
    par_levels,
)


def _cookbook() -> Cookbook:
    recipes = {
        (m, "regular"): Recipe(m, "regular", lines_from(_lines(lines)))
        for m, lines in RECIPES_LIST.items()
    }
    toppings = {t: lines_from(_lines(lines)) for t, lines in TOPPING_RECIPES_LIST.items()}
    return Cookbook(recipes, toppings)


def test_every_demo_drink_and_topping_has_a_recipe_of_defined_ingredients() -> None:
    items = demo_items(datetime(2026, 12, 1, tzinfo=UTC))
    assert {i.id for i in items} == set(RECIPES_LIST)
    assert {t.id for t in TOPPING_LIST} == set(TOPPING_RECIPES_LIST)
    assert {o.id for o in demo_outlets()} == set(DEMO_OUTLETS)
    ingredients = {i[0]: i for i in INGREDIENT_LIST}
    suppliers = {s[0] for s in SUPPLIERS_LIST}
    assert len(ingredients) == len(INGREDIENT_LIST) == 37
    assert {i[5] for i in INGREDIENT_LIST} <= suppliers
    for owner, lines in [*RECIPES_LIST.items(), *TOPPING_RECIPES_LIST.items()]:
        for ingredient_id, quantity, scales in lines:
            assert ingredient_id in ingredients, (owner, ingredient_id)
            assert quantity > 0, (owner, ingredient_id)
            assert scales in (None, "sugar", "ice"), (owner, ingredient_id)
    # Every drink takes a cup, and a lid and a straw.
    for menu_id, lines in RECIPES_LIST.items():
        names = {x[0] for x in lines}
        assert {"cup-500", "boba-straw"} <= names, menu_id
        assert names & {"flat-lid", "dome-lid"}, menu_id
    # Each drink's toppings in the menu have their recipes.
    for item in items:
        assert set(item.topping_ids) <= set(TOPPING_RECIPES_LIST), item.id


def test_the_opening_stock_makes_every_drink_with_the_specials_short() -> None:
    book = _cookbook()
    stock = opening_stock()
    assert book.unavailable_items(stock) == []
    # Par is the opening level, reorder at 40 % of it.
    assert all(p["reorder_at"] == p["par"] * 2 // 5 for p in par_levels().values())

    def cups(menu_id: str) -> int:
        need = book.needs([OrderLine(menu_id, 1)])
        return min(stock[i] // n for i, n in need.items())

    # The menu's counted specials: the mango drinks and the popping-boba ones run out first.
    assert cups("m021") == 40  # mango pomelo sago: 4,800 ml of purée at 120 ml
    assert cups("m011") == 60  # 2,400 g of popping boba at 40 g
    assert cups("m024") == 60
    # The everyday drinks last a busy day: 187 brown sugar boba milk teas, then the three
    # packs of assam tea (1,500 g at 8 g a cup) are gone (pearls would last 250).
    assert cups("m001") == 1500 // 8
