"""The demo brand's supply: HQ suppliers and ingredients, a recipe for each of the 24 demo
drinks and each of the 10 toppings, opening stock and par levels at the 6 demo outlets.

This replaces the menu's whole-item counts (the special and the popping-boba drinks) with
ingredient stock: those drinks now run out when their mango purée or popping boba does.

Idempotent: catalog documents are added only where missing, and each outlet's opening
stock is one stock take (it sets levels, it does not add), done once per deployment.

``python -m bobaku.services.supply.seed`` seeds the deployment its settings point at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.settings import Settings
from bobaku.services.supply.adapters.aggregates import StockLedgers
from bobaku.services.supply.adapters.repository import (
    INDEXES,
    INGREDIENTS,
    PAR_LEVELS,
    RECIPES,
    SUPPLIERS,
    TOPPING_RECIPES,
)
from bobaku.services.supply.bootstrap import STOCK_KIND
from bobaku.services.supply.domain.ledger import OutletStock, StockFact
from bobaku.services.supply.service_layer.handlers import SOURCE
from bobaku.services.supply.settings import SupplySettings

SEED_MARKS = "supply_seed_marks"

SUPPLIERS_LIST = [
    ("sup-boba-nusantara", "PT Boba Nusantara", "021-5550101", 2),
    ("sup-susu-segar", "CV Susu Segar Lembang", "022-5550202", 1),
    ("sup-teh-walini", "PT Perkebunan Teh Walini", "022-5550303", 3),
    ("sup-kemasan-jaya", "PT Kemasan Jaya Plastindo", "021-5550404", 4),
    ("sup-buah-segar", "UD Buah Segar Kramat Jati", "021-5550505", 1),
]

# id, name, unit, units per pack, rupiah per pack, supplier, shelf life (days)
INGREDIENT_LIST = [
    ("tapioca-pearl", "Tapioca pearls (raw)", "g", 3000, 90000, "sup-boba-nusantara", 180),
    ("brown-sugar-syrup", "Brown sugar syrup", "ml", 2500, 85000, "sup-boba-nusantara", 90),
    ("cane-syrup", "Cane sugar syrup", "ml", 2500, 45000, "sup-boba-nusantara", 180),
    ("palm-sugar-syrup", "Palm sugar syrup", "ml", 1000, 55000, "sup-boba-nusantara", 90),
    ("fresh-milk", "Fresh milk", "ml", 1000, 22000, "sup-susu-segar", 7),
    ("creamer", "Non-dairy creamer", "g", 1000, 40000, "sup-boba-nusantara", 365),
    ("condensed-milk", "Sweetened condensed milk", "ml", 1000, 35000, "sup-susu-segar", 180),
    ("cheese-foam-mix", "Salted cheese foam mix", "g", 1000, 150000, "sup-susu-segar", 30),
    ("assam-tea", "Assam black tea leaves", "g", 500, 75000, "sup-teh-walini", 365),
    ("jasmine-tea", "Jasmine green tea leaves", "g", 500, 80000, "sup-teh-walini", 365),
    ("oolong-tea", "Roasted oolong tea leaves", "g", 500, 95000, "sup-teh-walini", 365),
    ("thai-tea-mix", "Thai tea mix", "g", 400, 60000, "sup-teh-walini", 365),
    ("matcha-powder", "Uji matcha powder", "g", 500, 250000, "sup-teh-walini", 180),
    ("taro-powder", "Taro powder", "g", 1000, 120000, "sup-boba-nusantara", 365),
    ("hokkaido-caramel", "Hokkaido caramel sauce", "ml", 1000, 80000, "sup-boba-nusantara", 120),
    ("espresso-beans", "Espresso beans", "g", 1000, 220000, "sup-teh-walini", 90),
    ("ice", "Tube ice", "g", 10000, 25000, "sup-buah-segar", 1),
    ("lychee-syrup", "Lychee syrup", "ml", 1000, 65000, "sup-buah-segar", 180),
    ("passion-fruit-puree", "Passion fruit purée", "ml", 1000, 75000, "sup-buah-segar", 14),
    ("strawberry-jam", "Strawberry jam", "ml", 1000, 80000, "sup-buah-segar", 60),
    ("mango-puree", "Mango purée", "ml", 1000, 70000, "sup-buah-segar", 14),
    ("blueberry-syrup", "Blueberry syrup", "ml", 1000, 70000, "sup-buah-segar", 180),
    ("lemon", "Fresh lemon", "pcs", 50, 60000, "sup-buah-segar", 14),
    ("yakult", "Yakult bottle (65 ml)", "pcs", 50, 100000, "sup-susu-segar", 30),
    ("pomelo", "Pomelo pulp", "g", 1000, 45000, "sup-buah-segar", 5),
    ("oreo-crumb", "Oreo crumble", "g", 1000, 90000, "sup-boba-nusantara", 180),
    ("pudding", "Egg pudding", "g", 1000, 60000, "sup-boba-nusantara", 7),
    ("grass-jelly", "Grass jelly (cincau)", "g", 1000, 30000, "sup-boba-nusantara", 7),
    ("aloe-vera", "Aloe vera cubes", "g", 1000, 40000, "sup-boba-nusantara", 30),
    ("red-bean", "Sweet red bean", "g", 1000, 45000, "sup-boba-nusantara", 14),
    ("coconut-jelly", "Coconut jelly (nata de coco)", "g", 1000, 35000, "sup-boba-nusantara", 60),
    ("popping-boba", "Popping boba", "g", 3200, 170000, "sup-boba-nusantara", 90),
    ("sago", "Sago pearls", "g", 1000, 30000, "sup-boba-nusantara", 180),
    ("cup-500", "Cup 500 ml (PP)", "pcs", 1000, 450000, "sup-kemasan-jaya", None),
    ("dome-lid", "Dome lid", "pcs", 1000, 250000, "sup-kemasan-jaya", None),
    ("flat-lid", "Flat lid", "pcs", 1000, 200000, "sup-kemasan-jaya", None),
    ("boba-straw", "Boba straw (wrapped)", "pcs", 1000, 150000, "sup-kemasan-jaya", None),
]  # fmt: skip

Line = tuple[str, int, str | None]
PACKAGING: list[Line] = [("cup-500", 1, None), ("flat-lid", 1, None), ("boba-straw", 1, None)]
DOME: list[Line] = [("cup-500", 1, None), ("dome-lid", 1, None), ("boba-straw", 1, None)]
ICE = ("ice", 180, "ice")
BLENDED_ICE = ("ice", 220, "ice")


def _milk_tea(*base: Line, syrup: str = "cane-syrup", amount: int = 30) -> list[Line]:
    return [*base, (syrup, amount, "sugar"), ICE, *PACKAGING]


# One regular drink of each demo item. Quantities in g / ml / pcs; "sugar" lines scale
# with the sugar level, "ice" lines with the ice level (rounded up per drink).
RECIPES_LIST: dict[str, list[Line]] = {
    "m001": [("assam-tea", 8, None), ("fresh-milk", 150, None), ("tapioca-pearl", 60, None),
             ("brown-sugar-syrup", 45, "sugar"), ICE, *DOME],
    "m002": _milk_tea(("assam-tea", 8, None), ("creamer", 20, None), ("fresh-milk", 100, None),
                      ("tapioca-pearl", 50, None)),
    "m003": _milk_tea(("taro-powder", 30, None), ("jasmine-tea", 5, None),
                      ("fresh-milk", 150, None)),
    "m004": _milk_tea(("thai-tea-mix", 15, None), ("condensed-milk", 30, None),
                      ("creamer", 10, None)),
    "m005": _milk_tea(("matcha-powder", 8, None), ("fresh-milk", 180, None)),
    "m006": _milk_tea(("assam-tea", 8, None), ("hokkaido-caramel", 25, None),
                      ("fresh-milk", 150, None)),
    "m007": [("fresh-milk", 200, None), ("tapioca-pearl", 60, None),
             ("brown-sugar-syrup", 45, "sugar"), ICE, *DOME],
    "m008": [("matcha-powder", 6, None), ("fresh-milk", 180, None), ("tapioca-pearl", 60, None),
             ("brown-sugar-syrup", 45, "sugar"), ICE, *DOME],
    "m009": _milk_tea(("jasmine-tea", 6, None), ("lychee-syrup", 40, None)),
    "m010": _milk_tea(("jasmine-tea", 6, None), ("passion-fruit-puree", 50, None)),
    "m011": _milk_tea(("yakult", 1, None), ("strawberry-jam", 40, None),
                      ("popping-boba", 40, None), amount=15),
    "m012": _milk_tea(("yakult", 1, None), ("mango-puree", 60, None), amount=15),
    "m013": _milk_tea(("assam-tea", 6, None), ("lemon", 1, None)),
    "m014": _milk_tea(("oolong-tea", 7, None), ("cheese-foam-mix", 40, None),
                      ("fresh-milk", 20, None)),
    "m015": _milk_tea(("jasmine-tea", 6, None), ("cheese-foam-mix", 40, None),
                      ("fresh-milk", 20, None)),
    "m016": _milk_tea(("strawberry-jam", 40, None), ("assam-tea", 4, None),
                      ("cheese-foam-mix", 40, None), ("fresh-milk", 20, None)),
    "m017": _milk_tea(("espresso-beans", 18, None), ("fresh-milk", 150, None),
                      syrup="palm-sugar-syrup", amount=30),
    "m018": _milk_tea(("espresso-beans", 18, None), ("fresh-milk", 150, None),
                      ("tapioca-pearl", 50, None), syrup="brown-sugar-syrup", amount=30),
    "m019": _milk_tea(("espresso-beans", 18, None), amount=20),
    "m020": [("taro-powder", 40, None), ("fresh-milk", 150, None), ("tapioca-pearl", 50, None),
             ("cane-syrup", 30, "sugar"), BLENDED_ICE, *DOME],
    "m021": [("mango-puree", 120, None), ("pomelo", 30, None), ("sago", 30, None),
             ("fresh-milk", 80, None), ("cane-syrup", 20, "sugar"), BLENDED_ICE, *DOME],
    "m022": [("oreo-crumb", 30, None), ("fresh-milk", 180, None), ("creamer", 20, None),
             ("cane-syrup", 30, "sugar"), BLENDED_ICE, *DOME],
    "m023": [("matcha-powder", 8, None), ("fresh-milk", 180, None), ("creamer", 10, None),
             ("cane-syrup", 30, "sugar"), BLENDED_ICE, *DOME],
    "m024": _milk_tea(("lemon", 1, None), ("blueberry-syrup", 40, None),
                      ("popping-boba", 40, None), amount=20),
}  # fmt: skip

TOPPING_RECIPES_LIST: dict[str, list[Line]] = {
    "t001": [("tapioca-pearl", 50, None)],
    "t002": [("pudding", 50, None)],
    "t003": [("cheese-foam-mix", 30, None), ("fresh-milk", 20, None)],
    "t004": [("grass-jelly", 50, None)],
    "t005": [("aloe-vera", 40, None)],
    "t006": [("red-bean", 40, None)],
    "t007": [("coconut-jelly", 40, None)],
    "t008": [("popping-boba", 40, None)],
    "t009": [("sago", 40, None)],
    "t010": [("oreo-crumb", 20, None)],
}

DEMO_OUTLETS = {
    "outlet-01": "fr-jakarta",
    "outlet-02": "fr-jakarta",
    "outlet-03": "fr-jakarta",
    "outlet-04": "fr-bandung",
    "outlet-05": "fr-bandung",
    "outlet-06": "fr-jakarta",  # the airport kiosk, open around the clock
}

# Opening stock in packs, about a busy day's worth (the rest: 3 packs each). Mango purée
# and popping boba are short, as the menu's limited drinks were: about 40 specials and
# 30-60 popping drinks.
OPENING_PACKS = {
    "fresh-milk": 40,
    "ice": 10,
    "tapioca-pearl": 5,
    "brown-sugar-syrup": 4,
    "cane-syrup": 4,
    "cheese-foam-mix": 5,
    "cup-500": 2,
    "flat-lid": 2,
    "dome-lid": 2,
    "boba-straw": 2,
}
OPENING_UNITS = {"mango-puree": 4800, "popping-boba": 2400}


def _lines(lines: list[Line]) -> list[dict[str, Any]]:
    return [{"ingredient_id": i, "quantity": q, "scales_with": s} for i, q, s in lines]


def opening_stock() -> dict[str, int]:
    out = {}
    for ingredient_id, _, _, pack, *_ in INGREDIENT_LIST:
        out[ingredient_id] = OPENING_UNITS.get(
            ingredient_id, OPENING_PACKS.get(ingredient_id, 3) * pack
        )
    return out


def par_levels() -> dict[str, dict[str, int]]:
    """Order back up to the opening level when an ingredient falls below 40 % of it."""
    return {i: {"par": n, "reorder_at": n * 2 // 5} for i, n in opening_stock().items()}


def _count(ref: str, stock: dict[str, int]) -> Callable[[OutletStock], StockFact | None]:
    return lambda ledger: ledger.count(ref, stock)


def _nothing(_: OutletStock) -> None:
    return None


async def _insert_missing(collection: Any, doc_id: str, fields: dict[str, Any]) -> bool:
    result = await collection.update_one({"_id": doc_id}, {"$setOnInsert": fields}, upsert=True)
    return result.upserted_id is not None


async def seed_demo(settings: Settings) -> dict[str, int]:
    databases = Databases.from_settings(settings, INDEXES)
    await databases.start()
    bus = await EventBus.connect(settings)
    try:
        return await seed_supply(databases, bus, deployment=settings.deployment_id)
    finally:
        await bus.close()
        await databases.close()


async def seed_supply(databases: Databases, bus: EventBus, *, deployment: str) -> dict[str, int]:
    platform = databases.platform
    added = {"suppliers": 0, "ingredients": 0, "recipes": 0, "toppings": 0, "outlets": 0}
    for sid, name, phone, lead in SUPPLIERS_LIST:
        body: dict[str, Any] = {"name": name, "phone": phone, "email": None, "lead_time_days": lead}
        added["suppliers"] += await _insert_missing(platform[SUPPLIERS], sid, body)
    for iid, name, unit, pack, cost, supplier, shelf in INGREDIENT_LIST:
        body = {
            "name": name,
            "unit": unit,
            "pack_size": pack,
            "unit_cost": cost,
            "supplier_id": supplier,
            "shelf_life_days": shelf,
        }
        added["ingredients"] += await _insert_missing(platform[INGREDIENTS], iid, body)
    for menu_id, lines in RECIPES_LIST.items():
        body = {"menu_id": menu_id, "size": "regular", "lines": _lines(lines)}
        added["recipes"] += await _insert_missing(platform[RECIPES], f"{menu_id}:regular", body)
    for topping_id, lines in TOPPING_RECIPES_LIST.items():
        body = {"lines": _lines(lines)}
        added["toppings"] += await _insert_missing(platform[TOPPING_RECIPES], topping_id, body)
    ledgers = StockLedgers(AggregateStore(bus, STOCK_KIND), source=SOURCE, memory=timedelta(7))
    await ledgers.start()
    marks = platform[SEED_MARKS]
    stock = opening_stock()
    for outlet_id, franchise_id in DEMO_OUTLETS.items():
        db = await databases.franchise(franchise_id)
        await _insert_missing(db[PAR_LEVELS], outlet_id, {"levels": par_levels()})
        mark = f"stock:{outlet_id}"
        if await marks.find_one({"_id": mark}):
            continue
        await ledgers.change(
            franchise_id, outlet_id, _count(f"seed-{deployment}-{outlet_id}", stock), _nothing
        )
        await _insert_missing(marks, mark, {"at": datetime.now(UTC)})
        added["outlets"] += 1
    return added


async def _main() -> None:
    added = await seed_demo(SupplySettings())
    print("supply demo seeded:", ", ".join(f"{n} {k}" for k, n in added.items()))


if __name__ == "__main__":
    asyncio.run(_main())
