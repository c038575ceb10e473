"""An outlet's menu read through the gateway: answered from the bytes the gateway keeps
(kernel.cache.EdgeCache), fresh on the first read after the invalidating event has been
handled, 304 for a matching ETag, one load for concurrent misses.

The menu service runs in this process (its clock is the test's), the gateway in front of
it, both on the suite's real Redis and NATS; loads are counted in the menu service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from menu_testing import MenuService
from multidict import CIMultiDict
from prometheus_client import REGISTRY
from support import eventually

from bobaku.kernel.auth import Role
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import REDIS
from bobaku.services.gateway.app import GatewaySettings, build_app
from bobaku.services.menu.entrypoints.http import CONTEXT

MENU_ROUTE = "/outlets/{outlet_id}/menu"


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(menu: MenuService, settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    url = str(menu.client.server.make_url("")).rstrip("/")
    gw = GatewaySettings(
        **{
            **settings.model_dump(),
            "service_name": "gateway",
            **{f"{name}_url": url for name in ("customer", "menu", "order", "payment")},
            **{f"{name}_url": url for name in ("notification", "analytics", "supply")},
            "anonymous_rate_limit_per_minute": 100_000,
            "rate_limit_per_minute": 100_000,
            "ip_rate_limit_per_minute": 100_000,
        }
    )
    async with TestClient(TestServer(build_app(gw))) as client:
        yield client


def menu_loads() -> float:
    """Menus the menu service has worked out (each answered request to its menu route)."""
    total = 0.0
    for status in ("200", "304"):
        labels = {"service": "menu", "method": "GET", "route": MENU_ROUTE, "status": status}
        total += REGISTRY.get_sample_value("bobaku_http_requests_total", labels) or 0.0
    return total


async def read(
    gateway: TestClient[Any, Any], outlet: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, CIMultiDict[str]]:
    async with gateway.get(f"/api/v1/outlets/{outlet}/menu", headers=headers) as resp:
        return resp.status, await resp.read(), CIMultiDict(resp.headers)


def price_in(body: bytes, item: str) -> int:
    categories = json.loads(body)["data"]["categories"]
    return int(next(i["price"] for c in categories for i in c["items"] if i["id"] == item))


async def generation(menu: MenuService, tag: str) -> bytes | None:
    value: bytes | None = await menu.app[REDIS].get(f"cachegen:{tag}")
    return value


async def test_a_cached_menu_is_answered_by_the_gateway_without_the_menu_service(
    menu: MenuService, gateway: TestClient[Any, Any]
) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, _ = await menu.new_outlet()
    await menu.caches_settled()
    status, first, headers = await read(gateway, outlet)
    assert status == 200
    assert price_in(first, item) == 25000
    assert headers["ETag"].startswith('W/"')
    assert headers["Cache-Control"] == "no-cache"
    assert not any(h.lower().startswith("x-bobaku-cache") for h in headers)  # internal
    loads = menu_loads()
    for _ in range(5):
        status, again, _ = await read(gateway, outlet)
        assert (status, again) == (200, first)  # the same bytes
    customer = {"Authorization": f"Bearer {menu.token(Role.CUSTOMER)}"}
    status, theirs, _ = await read(gateway, outlet, customer)  # with a token: the same copy
    assert (status, theirs) == (200, first)
    assert menu_loads() == loads


async def test_a_price_change_shows_on_the_first_read_after_its_event_is_handled(
    menu: MenuService, gateway: TestClient[Any, Any]
) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, franchise = await menu.new_outlet()
    await menu.caches_settled()
    assert price_in((await read(gateway, outlet))[1], item) == 25000
    tag = menu.app[CONTEXT].tags.franchise(franchise)
    before = await generation(menu, tag)

    owner = menu.token(Role.FRANCHISE_OWNER, franchise_id=franchise)
    async with gateway.put(
        f"/api/v1/franchises/{franchise}/prices/{item}",
        json={"price": 27000},
        headers={"Authorization": f"Bearer {owner}"},
    ) as resp:
        assert resp.status == 200, await resp.text()

    async def event_handled() -> bool:  # the menu's cache consumer moved the franchise's tag
        return await generation(menu, tag) != before

    await eventually(event_handled)
    status, body, _ = await read(gateway, outlet)  # one read, not polled
    assert status == 200
    assert price_in(body, item) == 27000


async def test_a_matching_etag_gets_a_304_until_the_menu_changes(
    menu: MenuService, gateway: TestClient[Any, Any]
) -> None:
    item = await menu.new_item(base_price=25000)
    outlet, _ = await menu.new_outlet()
    await menu.caches_settled()
    _, _, headers = await read(gateway, outlet)
    etag = headers["ETag"]
    loads = menu_loads()
    status, body, again = await read(gateway, outlet, {"If-None-Match": etag})
    assert (status, body, again["ETag"]) == (304, b"", etag)
    assert menu_loads() == loads

    tag = menu.app[CONTEXT].tags.outlet(outlet)
    before = await generation(menu, tag)
    hours = {"opening_hours": {"mon": [{"open": "08:00", "close": "09:00"}]}}
    status, answer = await menu.call("PUT", f"/outlets/{outlet}/hours", json=hours, token=menu.hq)
    assert status == 200, answer
    await eventually(lambda: _moved(menu, tag, before))
    status, body, changed = await read(gateway, outlet, {"If-None-Match": etag})
    assert status == 200
    assert changed["ETag"] != etag
    assert price_in(body, item) == 25000


async def _moved(menu: MenuService, tag: str, before: bytes | None) -> bool:
    return await generation(menu, tag) != before


@pytest.mark.parametrize("cold", [True, False], ids=["never-read", "invalidated"])
async def test_concurrent_misses_through_the_gateway_make_one_load(
    menu: MenuService, gateway: TestClient[Any, Any], cold: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    outlet, _ = await menu.new_outlet()
    await menu.caches_settled()
    context = menu.app[CONTEXT]
    if not cold:
        assert (await read(gateway, outlet))[0] == 200
        await context.cache.invalidate_tags(context.tags.brand)
    # The menu service's load waits until every reader has asked: the misses overlap.
    release = asyncio.Event()
    categories = context.repository.categories

    async def held_categories() -> Any:
        await release.wait()
        return await categories()

    monkeypatch.setattr(context.repository, "categories", held_categories)
    waited = REGISTRY.get_sample_value(
        "bobaku_cache_lookups_total", {"cache": "gateway-edge", "result": "waited"}
    )
    loads = menu_loads()
    readers = [asyncio.create_task(read(gateway, outlet)) for _ in range(12)]

    async def all_waiting() -> bool:
        now = REGISTRY.get_sample_value(
            "bobaku_cache_lookups_total", {"cache": "gateway-edge", "result": "waited"}
        )
        return (now or 0) - (waited or 0) >= 11

    await eventually(all_waiting)
    release.set()
    answers = await asyncio.gather(*readers)
    assert {(status, body) for status, body, _ in answers} == {(200, answers[0][1])}
    assert menu_loads() - loads == 1


async def test_the_menu_service_answers_if_none_match_and_loads_once_for_concurrent_misses(
    menu: MenuService, monkeypatch: pytest.MonkeyPatch
) -> None:
    outlet, _ = await menu.new_outlet()
    await menu.caches_settled()
    async with menu.client.get(f"/outlets/{outlet}/menu") as resp:
        etag = resp.headers["ETag"]
    async with menu.client.get(f"/outlets/{outlet}/menu", headers={"If-None-Match": etag}) as r:
        assert r.status == 304
        assert await r.read() == b""

    context = menu.app[CONTEXT]
    await context.cache.invalidate_tags(context.tags.brand)
    release, calls = asyncio.Event(), []
    categories = context.repository.categories

    async def held_categories() -> Any:
        calls.append(1)
        await release.wait()
        return await categories()

    monkeypatch.setattr(context.repository, "categories", held_categories)
    name = context.cache.name

    def waited() -> float:
        labels = {"cache": name, "result": "waited"}
        return REGISTRY.get_sample_value("bobaku_cache_lookups_total", labels) or 0.0

    before = waited()

    async def get() -> int:
        async with menu.client.get(f"/outlets/{outlet}/menu") as resp:
            return resp.status

    readers = [asyncio.create_task(get()) for _ in range(8)]

    async def all_waiting() -> bool:
        return waited() - before >= 7

    await eventually(all_waiting)
    release.set()
    assert await asyncio.gather(*readers) == [200] * 8
    assert len(calls) == 1
