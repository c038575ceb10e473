"""Two hubs of two deployments on one NATS server (kernel/names.py): each routes only its
own deployment's events, so a client of one never receives the other's publications."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hub_testing import (
    ORDER_TYPES,
    PAYMENT_TYPES,
    HubClient,
    HubProcess,
    Producers,
    Tokens,
    new_id,
    permissive_registry,
)
from support import delete_deployment

from bobaku.kernel.bus import EventBus
from bobaku.kernel.names import names_for

Clients = Callable[..., Awaitable[HubClient]]


@pytest.fixture
async def other(
    bus: EventBus, start_hub: Callable[..., Awaitable[HubProcess]]
) -> AsyncIterator[tuple[HubProcess, Producers]]:
    """A hub of a second deployment on the suite's NATS (its own streams, subjects and
    buckets, not the suite's), and producers writing that deployment's source streams."""
    deployment = f"hubiso{secrets.token_hex(3)}"
    hub = await start_hub(
        f"iso-{deployment}", DEPLOYMENT_ID=deployment, NATS_DEPLOYMENT_ID=deployment
    )
    registry = permissive_registry(ORDER_TYPES + PAYMENT_TYPES)
    yield hub, Producers(EventBus(bus.nc, registry, deployment_id=deployment))
    assert await hub.stop() == 0, hub.log_tail()
    await delete_deployment(bus.js, names_for(deployment))


async def test_a_hub_of_another_deployment_never_routes_this_ones_events(
    hub_a: HubProcess,
    other: tuple[HubProcess, Producers],
    clients: Clients,
    tokens: Tokens,
    producers: Producers,
) -> None:
    hub_b, theirs = other
    franchise = new_id("fr")
    channel = f"franchise:{franchise}:ops"
    on_a, on_b = await clients(hub_a, tokens.hq()), await clients(hub_b, tokens.hq())
    for client in (on_a, on_b):
        assert "result" in await client.subscribe(channel)
    # The same franchise, channel and kind of event in both deployments, ours first: had
    # B's router read our source stream, ours would be the first publications B delivers.
    ours = [await producers.payment_event(franchise, new_id("pay")) for _ in range(3)]
    their = [await theirs.payment_event(franchise, new_id("pay")) for _ in range(2)]
    ours.append(await producers.payment_event(franchise, new_id("pay")))
    their.append(await theirs.payment_event(franchise, new_id("pay")))
    got_a = await on_a.publications(len(ours), channel)
    got_b = await on_b.publications(len(their), channel)
    assert [p["data"]["id"] for p in got_a] == [e.id for e in ours]
    assert [p["data"]["id"] for p in got_b] == [e.id for e in their]
    # Each still works on its own: one more on each side arrives next, alone.
    last_a = await producers.payment_event(franchise, new_id("pay"))
    last_b = await theirs.payment_event(franchise, new_id("pay"))
    assert [p["data"]["id"] for p in await on_a.publications(1, channel)] == [last_a.id]
    assert [p["data"]["id"] for p in await on_b.publications(1, channel)] == [last_b.id]
