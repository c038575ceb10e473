"""The order service's copy of the menu: a copy prices by the menu's own rules (the same
quote, the same refusals), it is current only while the generations of the menu's cache tags
it was read under are unchanged (in the suite's Redis), and each announcement makes the
copies it touches stale."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bobaku.kernel.cache import Cache
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import ValidationFailed
from bobaku.services.menu.domain.menu import OrderLine, OutletCatalog, price_order
from bobaku.services.menu.seed import TOPPING_LIST, demo_items, demo_outlets
from bobaku.services.order.adapters.menu_copy import MenuCopies

NOON_IN_JAKARTA = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
LINE = {"menu_id": "m001", "quantity": 2, "customizations": {"toppings": ["t001"]}}


def snapshot(
    outlet_id: str, version: str = "v1", generations: dict[str, str] | None = None
) -> dict[str, Any]:
    outlet = next(o for o in demo_outlets() if o.id == outlet_id)
    catalog = OutletCatalog(
        outlet=outlet,
        categories=(),
        items=tuple(demo_items(NOON_IN_JAKARTA)),
        toppings={t.id: t for t in TOPPING_LIST},
        franchise_prices={},
        unavailable_here=frozenset(),
    )
    return {"outlet_id": outlet_id, "version": version, "catalog": catalog.as_record(),
            "stock_left": {}, "generations": generations or {}}  # fmt: skip


@pytest.fixture
async def copies(redis: Any) -> AsyncIterator[MenuCopies]:
    # Never called here: every copy is adopted from a snapshot the test builds.
    client = ServiceClient("menu", "http://127.0.0.1:9")
    copies = MenuCopies(client, redis, clock=lambda: NOON_IN_JAKARTA)
    copies.adopt(snapshot("outlet-01"))
    copies.adopt(snapshot("outlet-04"))
    yield copies
    await client.close()


async def test_a_copy_prices_and_refuses_as_the_menu_does(copies: MenuCopies) -> None:
    quote = copies.quote("outlet-01", [LINE])
    assert quote is not None
    catalog = OutletCatalog.from_record(snapshot("outlet-01")["catalog"])
    expected = price_order(
        catalog, {}, NOON_IN_JAKARTA, (OrderLine("m001", 2, toppings=("t001",)),)
    )
    assert quote["total"] == expected.total
    assert quote["outlet"]["franchise_id"] == "fr-jakarta"
    with pytest.raises(ValidationFailed) as refused:
        copies.quote("outlet-01", [{**LINE, "menu_id": "m999"}])
    assert [f["field"] for f in refused.value.details["fields"]] == ["items.0.menu_id"]
    assert copies.quote("outlet-02", [LINE]) is None  # never copied: the 503 stands


async def test_announcements_make_the_copies_they_touch_stale(copies: MenuCopies) -> None:
    price = {"type": "menu.price_changed", "tenant": "fr-jakarta",
             "data": {"franchise_id": "fr-jakarta", "item_id": "m001", "price": 1}}  # fmt: skip
    copies.on_event(price)
    assert copies.quote("outlet-01", [LINE]) is None  # never an old price
    assert copies.quote("outlet-04", [LINE]) is not None  # another franchise
    kept = copies.fresh("outlet-04")
    copies.adopt(snapshot("outlet-01", "v2"))
    assert copies.quote("outlet-01", [LINE]) is not None
    copies.on_event({"type": "menu.availability_changed", "tenant": "fr-bandung",
                     "data": {"franchise_id": "fr-bandung", "outlet_id": "outlet-04"}})  # fmt: skip
    assert copies.fresh("outlet-04") is None
    assert copies.fresh("outlet-01") is not None
    copies.adopt(snapshot("outlet-04"))  # the same version: the copy is kept as it was
    assert copies.fresh("outlet-04") is kept
    item = {"item_id": "m001", "change": "updated", "fields": ["name"]}
    copies.on_event({"type": "menu.item_changed", "tenant": None, "data": item})
    assert copies.fresh("outlet-01") is None
    assert copies.fresh("outlet-04") is None


async def test_a_copy_is_current_only_while_its_generations_are_unchanged(
    copies: MenuCopies, redis: Any
) -> None:
    menu = Cache(redis, "menu-copy-test")
    brand, outlet = f"brand-{secrets.token_hex(4)}", f"outlet-{secrets.token_hex(4)}"
    await menu.invalidate_tags(brand)  # generation 1; the outlet's tag was never moved
    copies.adopt(snapshot("outlet-01", "v1", {brand: "1", outlet: "0"}))
    quote = await copies.current_quote("outlet-01", [LINE])
    assert quote is not None
    assert quote["menu_version"] == "v1"
    assert await copies.current_quote("outlet-04", [LINE]) is None  # read under no tags
    await menu.invalidate_tags(outlet)  # what a change through the menu's API does
    assert await copies.current_quote("outlet-01", [LINE]) is None
    # Out of date: not even a menu outage prices from it, and the next snapshot is fetched.
    assert copies.fresh("outlet-01") is None
    assert copies.quote("outlet-01", [LINE]) is None
    copies.adopt(snapshot("outlet-01", "v1", {brand: "1", outlet: "1"}))  # same content
    assert await copies.current_quote("outlet-01", [LINE]) is not None
