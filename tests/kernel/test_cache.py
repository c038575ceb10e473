"""Cache-aside on Redis with tag invalidation driven by events."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from bobaku.kernel.bus import Delivery
from bobaku.kernel.cache import (
    Cache,
    EdgeCache,
    EdgeResponse,
    edge_headers,
    etag_matches,
    generations,
    weak_etag,
)
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


async def test_concurrent_misses_of_a_key_share_one_load(redis: Any) -> None:
    cache = Cache(redis, f"menu-{secrets.token_hex(3)}")
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[int] = []

    async def load() -> dict[str, int]:
        calls.append(1)
        started.set()
        await release.wait()
        return {"price": 28000}

    readers = [asyncio.create_task(cache.get_or_load("m001", load, tags=["t"])) for _ in range(8)]
    await started.wait()
    await asyncio.sleep(0.05)  # the other readers reach their miss meanwhile
    release.set()
    assert await asyncio.gather(*readers) == [{"price": 28000}] * 8
    assert len(calls) == 1


# --- the edge cache ---------------------------------------------------------------------------


def edge_fetcher(redis: Any, tag: str, max_age_s: float = 60.0) -> tuple[list[bytes], Any]:
    """An upstream that reads its tag's generation first (as the menu service does), then
    answers with the body of the moment."""
    served: list[bytes] = []
    state: dict[str, Any] = {"body": b'{"price": 28000}', "gate": None, "read": asyncio.Event()}

    async def fetch() -> EdgeResponse:
        gens = await generations(redis, [tag])
        body = state["body"]
        state["read"].set()
        if state["gate"] is not None:
            await state["gate"].wait()
        served.append(body)
        headers = edge_headers(f'W/"{len(served)}"', gens, max_age_s)
        return EdgeResponse.of(200, body, {**headers, "Content-Type": "application/json"})

    fetch.state = state  # type: ignore[attr-defined]
    return served, fetch


async def test_the_edge_serves_its_copy_until_a_tag_of_the_upstream_moves(redis: Any) -> None:
    edge = EdgeCache(redis, "edge-test")
    tag = f"menu:{secrets.token_hex(3)}"
    served, fetch = edge_fetcher(redis, tag)
    first = await edge.get("/menu", fetch)
    assert (await edge.get("/menu", fetch)).body == first.body == b'{"price": 28000}'
    assert len(served) == 1
    fetch.state["body"] = b'{"price": 30000}'
    assert (await edge.get("/menu", fetch)).body == b'{"price": 28000}'  # nothing said
    await Cache(redis, "any").invalidate_tags(tag)
    assert (await edge.get("/menu", fetch)).body == b'{"price": 30000}'
    assert len(served) == 2


async def test_the_edge_copy_lasts_no_longer_than_the_upstream_says(redis: Any) -> None:
    edge = EdgeCache(redis, "edge-test")
    served, fetch = edge_fetcher(redis, f"menu:{secrets.token_hex(3)}", max_age_s=0.0)
    await edge.get("/menu", fetch)
    await edge.get("/menu", fetch)
    assert len(served) == 2


async def test_a_response_without_cache_headers_is_not_kept(redis: Any) -> None:
    edge = EdgeCache(redis, "edge-test")
    calls: list[int] = []

    async def fetch() -> EdgeResponse:
        calls.append(1)
        return EdgeResponse.of(404, b"{}", {"Content-Type": "application/json"})

    assert (await edge.get("/menu", fetch)).status == 404
    await edge.get("/menu", fetch)
    assert len(calls) == 2


async def test_a_waiter_is_not_given_a_load_older_than_an_invalidation_it_came_after(
    redis: Any,
) -> None:
    """Concurrent misses wait for one fetch, but a reader who arrives after an invalidation
    was handled must not be given what that fetch read before it."""
    edge = EdgeCache(redis, "edge-test")
    tag = f"menu:{secrets.token_hex(3)}"
    served, fetch = edge_fetcher(redis, tag)
    gate = fetch.state["gate"] = asyncio.Event()
    early = asyncio.create_task(edge.get("/menu", fetch))
    await fetch.state["read"].wait()
    # The fetch has read the generations; now the price changes and its event is handled.
    fetch.state["body"] = b'{"price": 30000}'
    await Cache(redis, "any").invalidate_tags(tag)
    late = asyncio.create_task(edge.get("/menu", fetch))
    await asyncio.sleep(0.05)
    gate.set()
    assert (await early).body == b'{"price": 28000}'  # it asked before the change
    assert (await late).body == b'{"price": 30000}'
    assert len(served) == 2


async def test_concurrent_misses_at_the_edge_share_one_fetch(redis: Any) -> None:
    edge = EdgeCache(redis, "edge-test")
    served, fetch = edge_fetcher(redis, f"menu:{secrets.token_hex(3)}")
    gate = fetch.state["gate"] = asyncio.Event()
    readers = [asyncio.create_task(edge.get("/menu", fetch)) for _ in range(10)]
    await fetch.state["read"].wait()
    await asyncio.sleep(0.05)
    gate.set()
    assert {r.body for r in await asyncio.gather(*readers)} == {b'{"price": 28000}'}
    assert len(served) == 1


def test_if_none_match_compares_weakly() -> None:
    assert etag_matches('W/"abc"', 'W/"abc"')
    assert etag_matches('"x", "abc"', 'W/"abc"')
    assert etag_matches("*", 'W/"abc"')
    assert not etag_matches('W/"abd"', 'W/"abc"')
    assert not etag_matches(None, 'W/"abc"')
    assert weak_etag({"a": 1, "b": [2]}) == weak_etag({"b": [2], "a": 1})
    assert weak_etag({"a": 1}) != weak_etag({"a": 2})
