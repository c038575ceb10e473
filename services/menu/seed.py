"""The demo brand's menu: 6 outlets in two franchises (one an airport kiosk open around the
clock), a boba menu of 24 items in six categories, 10 toppings, a seasonal special and
Bandung's own prices. The demo outlets count nothing: what runs out is ingredients, held by
the supply service. The item counts the demo once kept here (the seasonal mango drinks and
the popping-boba drinks, a few of each) were migrated into supply's seed as the ingredients
they are made of (its opening stock takes leave mango purée and popping boba short), and the
menu shows an item sold out when supply announces it cannot be made.

:func:`seed_demo` only adds what is missing (``$setOnInsert``), so running it twice — or
after staff changed prices and hours — changes nothing. Each thing it adds is announced
like any other change, so running replicas drop what they cached.

``python -m bobaku.services.menu.seed`` seeds the deployment its settings point at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.settings import Settings
from bobaku.services.menu.adapters.repository import (
    CATEGORIES,
    FRANCHISE_PRICES,
    INDEXES,
    ITEMS,
    OUTLETS,
    TOPPINGS,
    outlet_document,
)
from bobaku.services.menu.domain import events
from bobaku.services.menu.domain.model import (
    DEFAULT_ICE_LEVELS,
    DEFAULT_SUGAR_LEVELS,
    Category,
    MenuItem,
    Outlet,
    Season,
    Topping,
    WeeklyHours,
)
from bobaku.services.menu.service_layer.context import EVENT_SOURCE, from_deployment
from bobaku.services.menu.settings import MenuSettings

CATEGORY_LIST = [
    Category("c01", "Milk Tea", 1),
    Category("c02", "Brown Sugar", 2),
    Category("c03", "Fruit Tea", 3),
    Category("c04", "Cheese Foam", 4),
    Category("c05", "Coffee", 5),
    Category("c06", "Blended", 6),
]

TOPPING_LIST = [
    Topping("t001", "Pearl", 5000),
    Topping("t002", "Pudding", 6000),
    Topping("t003", "Cheese Foam", 8000),
    Topping("t004", "Grass Jelly", 5000),
    Topping("t005", "Aloe Vera", 5000),
    Topping("t006", "Red Bean", 6000),
    Topping("t007", "Coconut Jelly", 5000),
    Topping("t008", "Popping Boba", 7000),
    Topping("t009", "Sago", 4000),
    Topping("t010", "Oreo Crumble", 6000),
]

MILK_TEA_TOPPINGS = ("t001", "t002", "t003", "t004", "t006", "t007", "t008")
FRUIT_TEA_TOPPINGS = ("t001", "t004", "t005", "t007", "t008")
BLENDED_TOPPINGS = ("t001", "t002", "t003", "t009", "t010")
LESS_SUGAR = (0, 25, 50)
BLENDED_ICE = (50, 100)


def _item(
    item_id: str,
    name: str,
    category: str,
    price: int,
    station: str,
    toppings: Sequence[str],
    description: str,
    *,
    prep: int = 120,
    sugar: Sequence[int] = DEFAULT_SUGAR_LEVELS,
    ice: Sequence[int] = DEFAULT_ICE_LEVELS,
    season: Season | None = None,
) -> MenuItem:
    return MenuItem(
        id=item_id,
        name=name,
        category_id=category,
        base_price=price,
        station=station,
        prep_seconds=prep,
        description=description,
        sugar_levels=tuple(sugar),
        ice_levels=tuple(ice),
        topping_ids=tuple(toppings),
        season=season,
    )


def demo_items(now: datetime) -> list[MenuItem]:
    # The special's season is set once, around the day the brand is first seeded.
    summer = Season(now - timedelta(days=30), now + timedelta(days=90))
    return [
        _item("m001", "Brown Sugar Boba Milk Tea", "c02", 28000, "toppings",
              ("t001", "t002", "t003", "t004", "t006"),
              "Fresh milk tea with warm brown-sugar pearls", prep=150),
        _item("m002", "Classic Pearl Milk Tea", "c01", 22000, "tea_bar", MILK_TEA_TOPPINGS,
              "Assam black tea, milk and chewy pearls"),
        _item("m003", "Taro Milk Tea", "c01", 25000, "tea_bar", MILK_TEA_TOPPINGS,
              "Creamy taro with jasmine tea"),
        _item("m004", "Thai Tea", "c01", 23000, "tea_bar", MILK_TEA_TOPPINGS,
              "Spiced Thai tea with condensed milk"),
        _item("m005", "Matcha Milk Tea", "c01", 27000, "tea_bar", MILK_TEA_TOPPINGS,
              "Uji matcha whisked into fresh milk"),
        _item("m006", "Hokkaido Milk Tea", "c01", 26000, "tea_bar", MILK_TEA_TOPPINGS,
              "Caramel-roasted milk tea"),
        _item("m007", "Brown Sugar Fresh Milk", "c02", 30000, "toppings",
              ("t001", "t002", "t003"), "Tiger-striped fresh milk, no tea", prep=150),
        _item("m008", "Brown Sugar Matcha Latte", "c02", 32000, "toppings",
              ("t001", "t002", "t003"), "Brown-sugar pearls under a matcha latte", prep=150),
        _item("m009", "Lychee Green Tea", "c03", 22000, "tea_bar", FRUIT_TEA_TOPPINGS,
              "Jasmine green tea with lychee"),
        _item("m010", "Passion Fruit Green Tea", "c03", 22000, "tea_bar", FRUIT_TEA_TOPPINGS,
              "Passion fruit pulp and green tea"),
        _item("m011", "Strawberry Popping Yakult", "c03", 26000, "tea_bar", ("t005", "t008"),
              "Yakult, strawberry and popping boba"),
        _item("m012", "Mango Yakult", "c03", 24000, "tea_bar", FRUIT_TEA_TOPPINGS,
              "Yakult shaken with mango"),
        _item("m013", "Lemon Black Tea", "c03", 18000, "tea_bar", ("t004", "t005", "t007"),
              "Fresh lemon and black tea", prep=90),
        _item("m014", "Cheese Foam Oolong", "c04", 27000, "toppings", ("t001", "t004"),
              "Roasted oolong under salted cheese foam"),
        _item("m015", "Cheese Foam Jasmine Green Tea", "c04", 27000, "toppings",
              ("t001", "t005"), "Jasmine green tea under salted cheese foam"),
        _item("m016", "Strawberry Cheese Foam", "c04", 30000, "toppings", ("t001", "t008"),
              "Strawberry tea under salted cheese foam"),
        _item("m017", "Kopi Susu Gula Aren", "c05", 22000, "tea_bar", ("t001", "t004"),
              "Espresso, milk and palm sugar", prep=90),
        _item("m018", "Boba Coffee Latte", "c05", 26000, "tea_bar", ("t001", "t002"),
              "Latte over brown-sugar pearls", prep=120),
        _item("m019", "Iced Americano", "c05", 18000, "tea_bar", (), "Double shot over ice",
              prep=60, sugar=LESS_SUGAR),
        _item("m020", "Taro Boba Smoothie", "c06", 29000, "blender", BLENDED_TOPPINGS,
              "Blended taro with pearls", prep=180, ice=BLENDED_ICE),
        _item("m021", "Mango Sago Summer Special", "c06", 32000, "blender", ("t008", "t009"),
              "Blended mango, pomelo and sago: while the season lasts", prep=180,
              ice=BLENDED_ICE, season=summer),
        _item("m022", "Oreo Cookies and Cream Frappe", "c06", 30000, "blender",
              BLENDED_TOPPINGS, "Blended milk and Oreo", prep=180, ice=BLENDED_ICE),
        _item("m023", "Matcha Frappe", "c06", 31000, "blender", BLENDED_TOPPINGS,
              "Blended matcha and milk", prep=180, ice=BLENDED_ICE),
        _item("m024", "Blueberry Popping Boba Lemonade", "c03", 25000, "tea_bar",
              ("t005", "t008"), "Lemonade with blueberry popping boba", prep=90),
    ]  # fmt: skip


def demo_outlets() -> list[Outlet]:
    hours = WeeklyHours.daily("10:00", "22:00")
    rows = [
        ("outlet-01", "fr-jakarta", "BobaKu Gandaria City",
         "Gandaria City Mall Lt. 2, Jl. Sultan Iskandar Muda, Kebayoran Lama, Jakarta Selatan",
         "021-55678923", "Jakarta"),
        ("outlet-02", "fr-jakarta", "BobaKu Grand Indonesia",
         "Grand Indonesia West Mall Lt. 3, Jl. M.H. Thamrin No. 1, Jakarta Pusat",
         "021-23580915", "Jakarta"),
        ("outlet-03", "fr-jakarta", "BobaKu Kota Kasablanka",
         "Kota Kasablanka Mall Lt. UG, Jl. Casablanca Raya Kav. 88, Jakarta Selatan",
         "021-29612345", "Jakarta"),
        ("outlet-04", "fr-bandung", "BobaKu Paris Van Java",
         "Paris Van Java Mall Lt. GF, Jl. Sukajadi No. 131-139, Bandung",
         "022-82063456", "Bandung"),
        ("outlet-05", "fr-bandung", "BobaKu Braga",
         "Jl. Braga No. 52, Sumur Bandung, Bandung", "022-42012345", "Bandung"),
    ]  # fmt: skip
    outlets = [
        Outlet(i, fr, name, address, phone, city, "Asia/Jakarta", hours)
        for i, fr, name, address, phone, city in rows
    ]
    # An airport kiosk open around the clock: someone trying the demo at night can order.
    outlets.append(
        Outlet(
            "outlet-06",
            "fr-jakarta",
            "BobaKu Soekarno-Hatta T3 (24 jam)",
            "Terminal 3 Keberangkatan, Bandara Soekarno-Hatta, Tangerang",
            "021-55912345",
            "Jakarta",
            "Asia/Jakarta",
            WeeklyHours.daily("00:00", "24:00"),
        )
    )
    return outlets


# Bandung sells its two best sellers a little cheaper.
DEMO_FRANCHISE_PRICES = {"fr-bandung": {"m001": 26000, "m002": 20000}}


async def _insert_missing(collection: Any, doc_id: str, fields: dict[str, Any]) -> bool:
    result = await collection.update_one({"_id": doc_id}, {"$setOnInsert": fields}, upsert=True)
    return result.upserted_id is not None


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "id"}


def _stored(outlet: Outlet) -> dict[str, Any]:
    return {k: v for k, v in outlet_document(outlet).items() if k != "_id"}


async def seed_demo(settings: Settings, *, now: datetime | None = None) -> dict[str, int]:
    """Seed the deployment ``settings`` point at; returns how many things of each kind it
    added (all zero when it was seeded before)."""
    databases = Databases.from_settings(settings, INDEXES)
    await databases.start()
    bus = await EventBus.connect(settings)
    try:
        return await seed_menu(databases, bus, now=now, deployment=settings.deployment_id)
    finally:
        await bus.close()
        await databases.close()


async def seed_menu(
    databases: Databases, bus: EventBus, *, deployment: str, now: datetime | None = None
) -> dict[str, int]:
    """Add what is missing of the demo menu; returns how many things of each kind it added."""
    now = now or datetime.now(UTC)
    platform = databases.platform
    added = {"categories": 0, "toppings": 0, "items": 0, "outlets": 0, "prices": 0}
    announce: list[Event] = []

    def event(change: events.MenuChanged) -> Event:
        made = new_event(
            change.type,
            change.data,
            source=EVENT_SOURCE,
            tenant=change.tenant,
            version=change.version,
        )
        return from_deployment(made, deployment)

    for category in CATEGORY_LIST:
        if await _insert_missing(platform[CATEGORIES], category.id, _fields(category.as_record())):
            added["categories"] += 1
    for topping in TOPPING_LIST:
        if await _insert_missing(platform[TOPPINGS], topping.id, _fields(topping.as_record())):
            added["toppings"] += 1
    for item in demo_items(now):
        if await _insert_missing(platform[ITEMS], item.id, _fields(item.as_record())):
            added["items"] += 1
            announce.append(event(events.item_changed(item.id, "created", ["seed"])))
    for outlet in demo_outlets():
        if await _insert_missing(platform[OUTLETS], outlet.id, _stored(outlet)):
            added["outlets"] += 1
            announce.append(event(events.outlet_changed(outlet.franchise_id, outlet.id, "created")))
    for franchise_id, prices in DEMO_FRANCHISE_PRICES.items():
        db = await databases.franchise(franchise_id)
        for item_id, price in prices.items():
            fields = {"price": price, "updated_at": now}
            if await _insert_missing(db[FRANCHISE_PRICES], item_id, fields):
                added["prices"] += 1
                announce.append(event(events.price_changed(franchise_id, item_id, price, None)))
    for announcement in announce:
        await bus.publish(announcement)
    return added


async def _main() -> None:
    added = await seed_demo(MenuSettings())
    print("menu demo seeded:", ", ".join(f"{n} {k}" for k, n in added.items()))


if __name__ == "__main__":
    asyncio.run(_main())
