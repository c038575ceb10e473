"""Menus come from Redis after the first read, and change events (through the durable
consumer, on every replica) make the next read fresh."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from menu_testing import MenuService
from prometheus_client import REGISTRY
from support import eventually

from bobaku.kernel.auth import Role
from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.outbox import OUTBOX
from bobaku.kernel.web import DATABASES, REDIS
from bobaku.services.menu.bootstrap import build_app
from bobaku.services.menu.entrypoints.http import CONTEXT
from bobaku.services.menu.service_layer.caching import Tags
from bobaku.services.menu.service_layer.context import from_deployment


def tags(menu: MenuService) -> Tags:
    return menu.app[CONTEXT].tags


def lookups(menu: MenuService, result: str) -> float:
    name = menu.app[CONTEXT].cache.name
    value = REGISTRY.get_sample_value(
        "bobaku_cache_lookups_total", {"cache": name, "result": result}
    )
    return value or 0.0


async def franchise_prices(menu: MenuService, franchise: str) -> Any:
    return (await menu.app[DATABASES].franchise(franchise))["franchise_prices"]


async def test_a_menu_read_is_served_from_redis_after_the_first(menu: MenuService) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, franchise = await menu.new_outlet()
    await menu.caches_settled()
    assert (await menu.menu_item(outlet, item))["price"] == 25000
    keys = [k async for k in menu.app[REDIS].scan_iter(match=f"cache:*:outlet-catalog:{outlet}:*")]
    assert len(keys) == 1
    # Change the price behind the service's back: no event, so nothing drops the cache.
    await (await franchise_prices(menu, franchise)).insert_one({"_id": item, "price": 1000})
    hits, misses = lookups(menu, "hit"), lookups(menu, "miss")

    assert (await menu.menu_item(outlet, item))["price"] == 25000
    assert lookups(menu, "hit") - hits == 3  # the outlet, its catalog layers, its stock
    assert lookups(menu, "miss") == misses


async def test_a_price_change_reaches_the_cached_menu_through_the_event_consumer(
    menu: MenuService,
) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, franchise = await menu.new_outlet()
    assert (await menu.menu_item(outlet, item))["price"] == 25000
    generation = await menu.app[REDIS].get(f"cachegen:{tags(menu).franchise(franchise)}")

    owner = menu.token(Role.FRANCHISE_OWNER, franchise_id=franchise)
    status, _ = await menu.call(
        "PUT", f"/franchises/{franchise}/prices/{item}", json={"price": 27000}, token=owner
    )
    assert status == 200

    async def new_price_shown() -> bool:
        return (await menu.menu_item(outlet, item))["price"] == 27000

    await eventually(new_price_shown)
    assert await menu.app[REDIS].get(f"cachegen:{tags(menu).franchise(franchise)}") != generation
    assert await menu.events_on(f"events.{franchise}.menu.price_changed") == 1


async def test_a_second_replica_sees_a_change_made_through_the_first(
    menu: MenuService, bus: EventBus
) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, franchise = await menu.new_outlet()
    replica = build_app(menu.settings.model_copy(update={"service_name": "menu"}), clock=menu.clock)
    async with TestClient(TestServer(replica)) as other:

        async def price_on_replica() -> int:
            async with other.get(f"/outlets/{outlet}/menu") as response:
                body = await response.json()
            items = [i for c in body["data"]["categories"] for i in c["items"]]
            return int(next(i["price"] for i in items if i["id"] == item))

        assert await price_on_replica() == 25000
        manager = menu.token(Role.FRANCHISE_OWNER, franchise_id=franchise)
        await menu.call(
            "PUT", f"/franchises/{franchise}/prices/{item}", json={"price": 22000}, token=manager
        )

        async def replica_sees_it() -> bool:
            return await price_on_replica() == 22000

        await eventually(replica_sees_it)


async def test_an_event_left_in_a_changed_document_is_published_later(
    menu: MenuService,
) -> None:
    """A crash between a change and its announcement: the event waits in the document's
    outbox, and the sweeper publishes it, so the caches still learn of the change."""
    item = await menu.new_item(base_price=25000)
    outlet, franchise = await menu.new_outlet()
    assert (await menu.menu_item(outlet, item))["price"] == 25000
    announcement = new_event(
        "menu.price_changed",
        {"franchise_id": franchise, "item_id": item, "price": 19000, "previous": None},
        source="menu-service",
        tenant=franchise,
    )
    announcement = from_deployment(announcement, menu.settings.deployment_id)
    prices = await franchise_prices(menu, franchise)
    await prices.insert_one(
        {"_id": item, "price": 19000, OUTBOX: [announcement.to_json().decode()]}
    )
    assert (await menu.menu_item(outlet, item))["price"] == 25000  # still cached

    assert await menu.app[CONTEXT].repository.outbox.sweep() >= 1

    async def caught_up() -> bool:
        return (await menu.menu_item(outlet, item))["price"] == 19000

    await eventually(caught_up)
    assert (await prices.find_one({"_id": item}))[OUTBOX] == []


def price_changed(franchise: str, deployment: str) -> Event:
    event = new_event(
        "menu.price_changed",
        {"franchise_id": franchise, "item_id": "m001", "price": 1000, "previous": None},
        source="menu-service",
        tenant=franchise,
    )
    return from_deployment(event, deployment)


async def test_another_deployments_catalog_change_leaves_our_cache_alone(
    menu: MenuService,
) -> None:
    """A test run beside `make run` shares NATS, not databases: its catalog is not ours."""
    redis = menu.app[REDIS]
    theirs, ours = menu.new_franchise(), menu.new_franchise()
    await menu.bus.publish(price_changed(theirs, "someone-else"))
    await menu.bus.publish(price_changed(ours, menu.settings.deployment_id))

    async def ours_applied() -> Any:
        return await redis.get(f"cachegen:{tags(menu).franchise(ours)}")

    await eventually(ours_applied)  # theirs was published first, on the same consumer
    assert await redis.get(f"cachegen:{tags(menu).franchise(theirs)}") is None
