"""The menu's reads. Catalog reads and outlet menus go through the Redis cache (see
:mod:`.caching`); the clock and the stock levels are applied after the cache, so a cached
menu is never stale about a season, an opening hour or a sold-out item for longer than the
event that announces it takes to arrive."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bobaku.kernel.ids import OUTLET_ID
from bobaku.services.menu.adapters.supply_availability import unavailable_items
from bobaku.services.menu.domain.errors import ItemNotFound, OutletNotFound
from bobaku.services.menu.domain.menu import OutletCatalog, effective_menu, iso
from bobaku.services.menu.domain.model import ITEM_ID, MenuItem, Outlet
from bobaku.services.menu.service_layer.context import MenuContext


async def find_outlet(deps: MenuContext, outlet_id: str) -> Outlet | None:
    if not OUTLET_ID.match(outlet_id):
        return None

    async def load() -> dict[str, Any] | None:
        outlet = await deps.repository.outlet(outlet_id)
        return outlet.as_record() if outlet else None

    record = await deps.cache.get_or_load(
        f"outlet:{outlet_id}", load, tags=[deps.tags.outlet(outlet_id)]
    )
    return Outlet.from_record(record) if record else None


async def get_outlet(deps: MenuContext, outlet_id: str) -> Outlet:
    outlet = await find_outlet(deps, outlet_id)
    if outlet is None:
        raise OutletNotFound(f"no outlet {outlet_id}", details={"outlet_id": outlet_id})
    return outlet


async def outlet_catalog(deps: MenuContext, outlet: Outlet) -> OutletCatalog:
    """The catalog layers of the outlet's menu (HQ → franchise → outlet), cached."""

    async def load() -> dict[str, Any]:
        repo = deps.repository
        catalog = OutletCatalog(
            outlet=outlet,
            categories=tuple(await repo.categories()),
            items=tuple(await repo.items()),
            toppings={t.id: t for t in await repo.toppings()},
            franchise_prices=await repo.franchise_prices(outlet.franchise_id),
            unavailable_here=frozenset(
                await repo.unavailable_items(outlet.franchise_id, outlet.id)
            ),
        )
        return catalog.as_record()

    record = await deps.cache.get_or_load(
        f"outlet-catalog:{outlet.id}",
        load,
        tags=[
            deps.tags.brand,
            deps.tags.franchise(outlet.franchise_id),
            deps.tags.outlet(outlet.id),
        ],
    )
    return OutletCatalog.from_record(record)


async def stock_left(deps: MenuContext, outlet: Outlet) -> dict[str, int]:
    """The items the outlet cannot make (none left), as the supply service last announced
    them (``supply.availability_changed``): the menu counts no stock of its own. Cached
    until the next announcement for the outlet."""

    async def load() -> dict[str, int]:
        short = await unavailable_items(deps.repository.databases, outlet.franchise_id, outlet.id)
        return dict.fromkeys(short, 0)

    return await deps.cache.get_or_load(
        f"stock-left:{outlet.id}", load, tags=[deps.tags.stock(outlet.id)]
    )


def outlet_record(outlet: Outlet, deps: MenuContext) -> dict[str, Any]:
    return {**outlet.as_record(), "open_now": outlet.open_at(deps.clock())}


async def outlet_view(deps: MenuContext, outlet_id: str) -> dict[str, Any]:
    return outlet_record(await get_outlet(deps, outlet_id), deps)


async def outlet_generations(deps: MenuContext, outlet_id: str) -> tuple[dict[str, str], Outlet]:
    """The generations of every cache tag the outlet's menu and pricing depend on (brand,
    franchise, outlet, stock), read before any of them, and the outlet. Whatever is worked
    out after this call is at least as new as these generations: while they are unchanged,
    it is still what this service would work out (``kernel.cache``)."""
    tags = deps.tags
    gens = await deps.cache.generations([tags.brand, tags.outlet(outlet_id), tags.stock(outlet_id)])
    outlet = await get_outlet(deps, outlet_id)
    gens |= await deps.cache.generations([tags.franchise(outlet.franchise_id)])
    return gens, outlet


async def outlet_menu_with_validity(
    deps: MenuContext, outlet_id: str
) -> tuple[dict[str, Any], Mapping[str, str], float]:
    """The outlet's menu now, the generations of the cache tags it was worked out under
    (read before anything it depends on) and for how many seconds the clock leaves it as
    it is. The gateway keeps the encoded menu that long, or until one of the tags moves
    (``kernel.cache.EdgeCache``)."""
    gens, outlet = await outlet_generations(deps, outlet_id)
    catalog = await outlet_catalog(deps, outlet)
    stock = await stock_left(deps, outlet)
    now = deps.clock()
    return effective_menu(catalog, stock, now), gens, seconds_unchanged(catalog, now)


def seconds_unchanged(catalog: OutletCatalog, now: datetime) -> float:
    """How long the menu stays as it is at ``now`` if nothing is changed: until the next
    minute (opening hours are whole minutes of the outlet's zone, and zones are whole
    minutes from UTC) or the next start or end of a season, whichever comes first."""
    next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    seasons = [i.season for i in catalog.items if i.season is not None]
    bounds = [b for s in seasons for b in (s.starts_at, s.ends_at) if b > now]
    return (min([next_minute, *bounds]) - now).total_seconds()


async def outlet_page(
    deps: MenuContext, *, franchise_id: str | None, city: str | None, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of outlets by id, and the id to continue after (None on the last page)."""
    outlets = await deps.repository.outlets(
        franchise_id=franchise_id, city=city, after=after, limit=limit + 1
    )
    more = len(outlets) > limit
    outlets = outlets[:limit]
    return [outlet_record(o, deps) for o in outlets], (outlets[-1].id if more else None)


def item_record(item: MenuItem) -> dict[str, Any]:
    record = item.as_record()
    if item.season is not None:
        record["season"] = {
            "starts_at": iso(item.season.starts_at),
            "ends_at": iso(item.season.ends_at),
        }
    record["seasonal"] = item.seasonal
    return record


async def item_view(deps: MenuContext, item_id: str) -> dict[str, Any]:
    """An item of the HQ catalog with its allowed toppings (names and prices)."""
    if not ITEM_ID.match(item_id):
        raise ItemNotFound(f"no item {item_id} in the catalog", details={"item_id": item_id})

    async def load() -> dict[str, Any] | None:
        item = await deps.repository.item(item_id)
        if item is None:
            return None
        toppings = {t.id: t for t in await deps.repository.toppings()}
        record = item_record(item)
        record["toppings"] = [toppings[t].as_record() for t in item.topping_ids if t in toppings]
        return record

    record = await deps.cache.get_or_load(f"item:{item_id}", load, tags=[deps.tags.brand])
    if record is None:
        raise ItemNotFound(f"no item {item_id} in the catalog", details={"item_id": item_id})
    return record


async def toppings(deps: MenuContext) -> list[dict[str, Any]]:
    async def load() -> list[dict[str, Any]]:
        return [t.as_record() for t in await deps.repository.toppings()]

    return await deps.cache.get_or_load("toppings", load, tags=[deps.tags.brand])


async def franchise_prices(deps: MenuContext, franchise_id: str) -> list[dict[str, Any]]:
    prices = await deps.repository.franchise_prices(franchise_id)
    items = {i.id: i for i in await deps.repository.items(active_only=False)}
    return [
        {
            "franchise_id": franchise_id,
            "item_id": item_id,
            "name": items[item_id].name if item_id in items else None,
            "price": price,
            "base_price": items[item_id].base_price if item_id in items else None,
        }
        for item_id, price in sorted(prices.items())
    ]
