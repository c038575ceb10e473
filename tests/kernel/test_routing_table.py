"""The routing table both the operator (writer) and the gateway (watcher) use."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.kernel.routing_table import (
    ROUTING_HISTORY,
    Entry,
    RoutingEntries,
    SiloFranchises,
    franchise_of,
    routing_key,
)
from bobaku.kernel.settings import Settings
from bobaku.services.gateway.routing import UpstreamTable, franchise_for, match


@pytest.fixture
async def bucket_settings(settings: Settings, bus: EventBus) -> AsyncIterator[Settings]:
    name = f"routing_t{secrets.token_hex(4)}"
    yield settings.model_copy(update={"routing_bucket": name})
    await bus.js.delete_key_value(name)


def test_keys_name_the_franchise() -> None:
    assert routing_key("fr-jkt") == "franchise.fr-jkt"
    assert franchise_of(routing_key("fr-jkt")) == "fr-jkt"


async def test_whichever_side_starts_first_the_bucket_keeps_the_same_history(
    bus: EventBus, bucket_settings: Settings
) -> None:
    table = UpstreamTable(bucket_settings)
    await table.start(bus)  # the gateway first: it creates the bucket
    await table.stop()
    status = await (await RoutingEntries.from_settings(bus, bucket_settings).kv()).status()
    assert status.bucket == bucket_settings.routing_bucket
    assert status.history == ROUTING_HISTORY


async def test_the_gateway_follows_what_the_operator_writes_and_deletes(
    bus: EventBus, bucket_settings: Settings
) -> None:
    writer = RoutingEntries.from_settings(bus, bucket_settings)
    table = UpstreamTable(bucket_settings)
    await table.start(bus)
    try:
        entry: Entry = {"upstreams": {"order": "http://order.fr-a.svc:8080"}, "updated_at": "1"}

        async def compute() -> Entry:
            return entry

        assert await writer.publish(routing_key("fr-a"), compute)
        # Only the volatile field differs: nothing to write.
        entry = {**entry, "updated_at": "2"}
        assert not await writer.publish(routing_key("fr-a"), compute)

        async def routed() -> bool:
            return table.upstream("order", "fr-a") == "http://order.fr-a.svc:8080"

        await eventually(routed)
        assert table.upstream("menu", "fr-a") == bucket_settings.menu_url
        assert await writer.remove(routing_key("fr-a"))
        assert not await writer.remove(routing_key("fr-a"))

        async def back_to_pooled() -> bool:
            await asyncio.sleep(0)
            return table.upstream("order", "fr-a") == bucket_settings.order_url

        await eventually(back_to_pooled)
    finally:
        await table.stop()


async def test_the_silo_set_is_known_when_started_and_follows_the_table(
    bus: EventBus, bucket_settings: Settings
) -> None:
    writer = RoutingEntries.from_settings(bus, bucket_settings)

    def entry(mode: str) -> Callable[[], Awaitable[Entry]]:
        async def compute() -> Entry:
            return {"mode": mode, "upstreams": {}, "updated_at": "1"}

        return compute

    await writer.publish(routing_key("fr-a"), entry("silo"))
    await writer.publish(routing_key("fr-p"), entry("pooled"))
    silos = SiloFranchises(RoutingEntries.from_settings(bus, bucket_settings))
    await silos.start()
    try:
        # Known on return: a consumer started next never takes fr-a for a pooled franchise.
        assert "fr-a" in silos
        assert "fr-p" not in silos
        await writer.publish(routing_key("fr-b"), entry("silo"))
        await writer.remove(routing_key("fr-a"))

        async def followed() -> bool:
            await asyncio.sleep(0)
            return "fr-b" in silos and "fr-a" not in silos

        await eventually(followed)
    finally:
        await silos.stop()


def test_a_franchises_analytics_go_to_where_its_figures_are() -> None:
    path = "/api/v1/analytics/franchises/fr-a/sales"
    route = match(path)
    assert route is not None
    # HQ (no franchise of its own) reaches fr-a's silo; an owner of fr-b is sent there too,
    # and refused by it (403), as the pooled instance would.
    assert franchise_for(route, path, None) == "fr-a"
    assert franchise_for(route, path, "fr-b") == "fr-a"
    brand = "/api/v1/analytics/brand/sales"
    assert franchise_for(match(brand) or route, brand, None) is None
    orders = "/api/v1/orders"
    assert franchise_for(match(orders) or route, orders, "fr-b") == "fr-b"
