"""The demo brand's menu seed: what it loads, and that loading it twice changes nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from menu_testing import MenuService

from bobaku.kernel.db import Databases
from bobaku.kernel.settings import Settings
from bobaku.services.menu.adapters.repository import INDEXES
from bobaku.services.menu.seed import seed_demo

COLLECTIONS = ("menu_categories", "menu_toppings", "menu_items", "outlets")


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(settings: Settings) -> AsyncIterator[tuple[Settings, Databases]]:
    """A deployment of its own that nothing has seeded yet."""
    own = settings.model_copy(update={"mongodb_db_prefix": f"{settings.mongodb_db_prefix}s"})
    databases = Databases.from_settings(own, INDEXES)
    yield own, databases
    for name in await databases.client.list_database_names():
        if name.startswith(own.mongodb_db_prefix + "_"):
            await databases.client.drop_database(name)
    await databases.close()


async def contents(databases: Databases) -> dict[str, Any]:
    found: dict[str, Any] = {
        name: [d async for d in databases.platform[name].find().sort("_id", 1)]
        for name in COLLECTIONS
    }
    for franchise in ("fr-jakarta", "fr-bandung"):
        db = await databases.franchise(franchise)
        found[franchise] = [d async for d in db["franchise_prices"].find().sort("_id", 1)]
    return found


async def test_seeding_twice_adds_the_demo_once_and_then_nothing(
    fresh: tuple[Settings, Databases],
) -> None:
    settings, databases = fresh
    first = await seed_demo(settings)
    assert first == {
        "categories": 6,
        "toppings": 10,
        "items": 24,
        "outlets": 6,
        "prices": 2,
    }
    seeded = await contents(databases)
    second = await seed_demo(settings)
    assert set(second.values()) == {0}
    assert await contents(databases) == seeded


async def test_the_demo_brand_has_its_outlets_menu_toppings_and_bandung_prices(
    menu: MenuService,
) -> None:
    _, body = await menu.call("GET", "/outlets?limit=100&franchise_id=fr-jakarta")
    assert [o["name"] for o in body["data"]["items"]] == [
        "BobaKu Gandaria City",
        "BobaKu Grand Indonesia",
        "BobaKu Kota Kasablanka",
        "BobaKu Soekarno-Hatta T3 (24 jam)",
    ]
    gandaria = body["data"]["items"][0]
    assert gandaria["phone"] == "021-55678923"
    assert gandaria["address"].startswith("Gandaria City Mall Lt. 2")
    assert gandaria["stations"] == ["tea_bar", "toppings", "blender"]
    _, bandung = await menu.call("GET", "/outlets?franchise_id=fr-bandung")
    assert [o["name"] for o in bandung["data"]["items"]] == [
        "BobaKu Paris Van Java",
        "BobaKu Braga",
    ]

    _, shown = await menu.call("GET", "/outlets/outlet-01/menu")
    categories = {c["name"]: c["items"] for c in shown["data"]["categories"]}
    assert set(categories) >= {"Milk Tea", "Fruit Tea", "Brown Sugar", "Cheese Foam", "Coffee",
                               "Blended"}  # fmt: skip
    items = {i["id"]: i for c in categories.values() for i in c}
    assert len([i for i in items if re.fullmatch(r"m0[0-9]{2}", i)]) >= 20  # not the tests' own
    assert (items["m001"]["name"], items["m001"]["price"]) == ("Brown Sugar Boba Milk Tea", 28000)
    special = items["m021"]
    assert (special["name"], special["seasonal"], special["available"]) == (
        "Mango Sago Summer Special",
        True,
        True,
    )
    _, toppings = await menu.call("GET", "/toppings?limit=100")
    by_id = {t["id"]: t for t in toppings["data"]["items"]}
    assert len(by_id) >= 8
    assert (by_id["t001"]["name"], by_id["t001"]["price"]) == ("Pearl", 5000)
    assert (by_id["t003"]["name"], by_id["t003"]["price"]) == ("Cheese Foam", 8000)
    assert (await menu.menu_item("outlet-04", "m001"))["price"] == 26000
    assert (await menu.menu_item("outlet-04", "m003"))["price"] == 25000
