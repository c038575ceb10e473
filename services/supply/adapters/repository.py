"""Supply documents in MongoDB. Every read and write is by ``_id``; nothing here grows with
stored history (FerretDB scans on any other filter).

Platform database (HQ, brand-wide): ``supply_ingredients``, ``supply_suppliers``,
``supply_recipes`` (``_id`` = ``<menu_id>:<size>``), ``supply_topping_recipes`` and
``supply_reservation_places`` (which outlet holds an order's reservation, so release and
commit find it by order id alone).

Franchise database: ``supply_ingredient_overrides`` (the franchise's supplier and price),
``supply_suppliers`` (its own suppliers) and ``supply_par_levels`` (per outlet). What the
relay last announced per outlet is in NATS KV (``adapters/announcements.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases, IndexCatalog
from bobaku.services.supply.domain.purchasing import ParLevel
from bobaku.services.supply.domain.recipes import Cookbook, Ingredient, Recipe, lines_from

INGREDIENTS = "supply_ingredients"
SUPPLIERS = "supply_suppliers"
RECIPES = "supply_recipes"
TOPPING_RECIPES = "supply_topping_recipes"
RESERVATION_PLACES = "supply_reservation_places"
# Reservation places this process wrote and keeps in memory (an order's commit or release
# reads its place; most come within minutes of the reserve).
PLACES_REMEMBERED = 20_000
OVERRIDES = "supply_ingredient_overrides"
PAR_LEVELS = "supply_par_levels"

# Only `_id` is ever queried, so no secondary index is declared.
INDEXES = IndexCatalog()

# The whole catalog is a few dozen documents read together; kept this long in memory.
CATALOG_TTL_S = 2.0


def _strip(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    out["id"] = doc["_id"]
    return out


class SupplyRepository:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases
        self._cookbook: tuple[float, Cookbook] | None = None
        self._ingredients: tuple[float, dict[str, Ingredient]] | None = None
        self._par_levels: dict[tuple[str, str], tuple[float, dict[str, ParLevel]]] = {}
        self._places: dict[str, tuple[str, str]] = {}  # oldest first

    # --- HQ catalog ----------------------------------------------------------------------

    async def put_ingredient(self, ingredient: Ingredient) -> bool:
        record = ingredient.as_record()
        record.pop("id")
        result = await self.databases.platform[INGREDIENTS].replace_one(
            {"_id": ingredient.id}, record, upsert=True
        )
        self._ingredients = None
        return result.upserted_id is not None

    async def ingredients(self) -> dict[str, Ingredient]:
        cached = self._ingredients
        if cached and time.monotonic() - cached[0] < CATALOG_TTL_S:
            return cached[1]
        found = {
            doc["_id"]: Ingredient.from_record(doc)
            async for doc in self.databases.platform[INGREDIENTS].find({})
        }
        self._ingredients = (time.monotonic(), found)
        return found

    async def put_supplier(self, franchise_id: str | None, supplier: dict[str, Any]) -> bool:
        db = (
            self.databases.platform
            if franchise_id is None
            else await self.databases.franchise(franchise_id)
        )
        body = {k: v for k, v in supplier.items() if k != "id"}
        result = await db[SUPPLIERS].replace_one({"_id": supplier["id"]}, body, upsert=True)
        return result.upserted_id is not None

    async def supplier(self, franchise_id: str, supplier_id: str) -> dict[str, Any] | None:
        """The franchise's own supplier of that id, else HQ's."""
        db = await self.databases.franchise(franchise_id)
        doc = await db[SUPPLIERS].find_one({"_id": supplier_id})
        if doc is not None:
            return {**_strip(doc), "owner": "franchise"}
        doc = await self.databases.platform[SUPPLIERS].find_one({"_id": supplier_id})
        return {**_strip(doc), "owner": "hq"} if doc else None

    async def suppliers(self, franchise_id: str | None) -> list[dict[str, Any]]:
        out = [
            {**_strip(d), "owner": "hq"}
            async for d in self.databases.platform[SUPPLIERS].find({}).sort("_id", 1)
        ]
        if franchise_id is not None:
            db = await self.databases.franchise(franchise_id)
            out += [{**_strip(d), "owner": "franchise"} async for d in db[SUPPLIERS].find({})]
        return out

    async def put_recipe(self, recipe: Recipe) -> bool:
        result = await self.databases.platform[RECIPES].replace_one(
            {"_id": f"{recipe.menu_id}:{recipe.size}"},
            {
                "menu_id": recipe.menu_id,
                "size": recipe.size,
                "lines": [x.as_record() for x in recipe.lines],
            },
            upsert=True,
        )
        self._cookbook = None
        return result.upserted_id is not None

    async def put_topping_recipe(self, topping_id: str, lines: list[dict[str, Any]]) -> bool:
        result = await self.databases.platform[TOPPING_RECIPES].replace_one(
            {"_id": topping_id}, {"lines": lines}, upsert=True
        )
        self._cookbook = None
        return result.upserted_id is not None

    async def cookbook(self) -> Cookbook:
        cached = self._cookbook
        if cached and time.monotonic() - cached[0] < CATALOG_TTL_S:
            return cached[1]
        platform = self.databases.platform
        recipes = {
            (d["menu_id"], d["size"]): Recipe(d["menu_id"], d["size"], lines_from(d["lines"]))
            async for d in platform[RECIPES].find({})
        }
        toppings = {
            d["_id"]: lines_from(d["lines"]) async for d in platform[TOPPING_RECIPES].find({})
        }
        book = Cookbook(recipes, toppings)
        self._cookbook = (time.monotonic(), book)
        return book

    # --- franchise overrides -------------------------------------------------------------

    async def put_override(
        self, franchise_id: str, ingredient_id: str, fields: dict[str, Any]
    ) -> None:
        db = await self.databases.franchise(franchise_id)
        await db[OVERRIDES].replace_one({"_id": ingredient_id}, fields, upsert=True)

    async def franchise_ingredients(self, franchise_id: str) -> dict[str, Ingredient]:
        """HQ's ingredients with the franchise's own suppliers and prices applied."""
        db = await self.databases.franchise(franchise_id)
        overrides = {d["_id"]: d async for d in db[OVERRIDES].find({})}
        return {i: x.overridden(overrides.get(i)) for i, x in (await self.ingredients()).items()}

    # --- par levels ----------------------------------------------------------------------

    async def put_par_levels(
        self, franchise_id: str, outlet_id: str, levels: Mapping[str, ParLevel]
    ) -> None:
        db = await self.databases.franchise(franchise_id)
        body = {i: {"par": p.par, "reorder_at": p.reorder_at} for i, p in levels.items()}
        await db[PAR_LEVELS].replace_one({"_id": outlet_id}, {"levels": body}, upsert=True)
        self._par_levels[(franchise_id, outlet_id)] = (time.monotonic(), dict(levels))

    async def par_levels(
        self, franchise_id: str, outlet_id: str, *, max_age_s: float = 0.0
    ) -> dict[str, ParLevel]:
        """The outlet's par levels as stored; with ``max_age_s``, as read (or written) by this
        process at most that long ago. The stock-low check after every stock movement reads
        them twice per order: a change made on another replica reaches it within
        ``max_age_s``, one made here at once."""
        key = (franchise_id, outlet_id)
        cached = self._par_levels.get(key)
        if max_age_s and cached and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        db = await self.databases.franchise(franchise_id)
        doc = await db[PAR_LEVELS].find_one({"_id": outlet_id})
        levels = {
            i: ParLevel(int(v["par"]), int(v["reorder_at"]))
            for i, v in (doc or {}).get("levels", {}).items()
        }
        self._par_levels[key] = (time.monotonic(), levels)
        return levels

    # --- where each reservation lives ----------------------------------------------------

    async def place_reservation(
        self, order_id: str, franchise_id: str, outlet_id: str
    ) -> tuple[str, str]:
        """Remember the outlet of an order's reservation; the first one named wins. An
        insert (never an update: this collection has a document per order ever placed, and
        FerretDB scans the collection on any update); a repeat finds the first by ``_id``."""
        places = self.databases.platform[RESERVATION_PLACES]
        try:
            await places.insert_one(
                {"_id": order_id, "franchise_id": franchise_id, "outlet_id": outlet_id}
            )
        except DuplicateKeyError:
            place = await self.reservation_place(order_id)
            if place is not None:
                return place
            raise
        self._remember_place(order_id, (franchise_id, outlet_id))
        return franchise_id, outlet_id

    async def reservation_place(self, order_id: str) -> tuple[str, str] | None:
        # A place never changes once written, so the one this process wrote (the commit
        # usually follows the reserve within seconds) is answered from memory: FerretDB
        # scans the whole collection even for an _id read (docs/performance.md, "Growth").
        if (place := self._places.get(order_id)) is not None:
            return place
        doc = await self.databases.platform[RESERVATION_PLACES].find_one({"_id": order_id})
        return (doc["franchise_id"], doc["outlet_id"]) if doc else None

    def _remember_place(self, order_id: str, place: tuple[str, str]) -> None:
        self._places[order_id] = place
        while len(self._places) > PLACES_REMEMBERED:
            self._places.pop(next(iter(self._places)))
