"""Cache-aside on Redis with tag invalidation driven by events."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from bobaku.kernel.bus import Delivery
from bobaku.kernel.cache import Cache
from bobaku.kernel.events import new_event


def counting_loader(value: Any) -> tuple[list[int], Any]:
    calls: list[int] = []

    async def load() -> Any:
        calls.append(1)
        return value

    return calls, load


async def test_a_second_read_is_served_from_redis(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    calls, load = counting_loader({"items": ["Brown Sugar Boba Milk Tea"]})
    first = await cache.get_or_load("fr-jkt", load, tags=["menu:fr-jkt"])
    second = await cache.get_or_load("fr-jkt", load, tags=["menu:fr-jkt"])
    assert first == second == {"items": ["Brown Sugar Boba Milk Tea"]}
    assert len(calls) == 1
    stored = [k async for k in redis.scan_iter(match=f"cache:{cache.name}:*")]
    assert len(stored) == 1


async def test_invalidating_a_tag_makes_the_next_read_load_fresh_data(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    tag = f"item:{secrets.token_hex(3)}"
    price = {"value": 28000}

    async def load() -> dict[str, int]:
        return {"price": price["value"]}

    assert await cache.get_or_load("m001", load, tags=[tag]) == {"price": 28000}
    price["value"] = 30000
    assert await cache.get_or_load("m001", load, tags=[tag]) == {"price": 28000}
    await cache.invalidate_tags(tag)
    assert await cache.get_or_load("m001", load, tags=[tag]) == {"price": 30000}


async def test_a_change_event_invalidates_through_its_registered_hook(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    franchise = f"fr-{secrets.token_hex(3)}"
    cache.on_event("order.created", lambda e: [f"menu:{e.tenant}"])
    calls, load = counting_loader(["m001"])
    await cache.get_or_load("menu", load, tags=[f"menu:{franchise}"])

    other = new_event("order.created", {}, source="menu-service", tenant="fr-other")
    await cache.handle_event(other, Delivery("s", "S", 1, 1))
    await cache.get_or_load("menu", load, tags=[f"menu:{franchise}"])
    assert len(calls) == 1  # another franchise's change leaves ours cached

    mine = new_event("order.created", {}, source="menu-service", tenant=franchise)
    await cache.handle_event(mine, Delivery("s", "S", 2, 1))
    await cache.get_or_load("menu", load, tags=[f"menu:{franchise}"])
    assert len(calls) == 2
    assert cache.invalidated_by == ["order.created"]


async def test_a_slow_loader_cannot_put_stale_data_back_after_invalidation(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    tag = f"item:{secrets.token_hex(3)}"
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_price() -> dict[str, int]:
        started.set()
        await release.wait()
        return {"price": 28000}

    reader = asyncio.create_task(cache.get_or_load("m001", slow_old_price, tags=[tag]))
    await started.wait()
    await cache.invalidate_tags(tag)  # the price changed while the reader was loading
    release.set()
    assert await reader == {"price": 28000}

    async def new_price() -> dict[str, int]:
        return {"price": 30000}

    assert await cache.get_or_load("m001", new_price, tags=[tag]) == {"price": 30000}


async def test_none_is_not_cached(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    calls, load = counting_loader(None)
    assert await cache.get_or_load("missing", load) is None
    assert await cache.get_or_load("missing", load) is None
    assert len(calls) == 2
