"""Recovery: a client that comes back with its position gets exactly what it missed, in
order, without duplicates, on either replica; or is told plainly that it must reload."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id

from bobaku.kernel.events import Event

Clients = Callable[..., Awaitable[HubClient]]


async def _kitchen_position(
    hub: HubProcess, clients: Clients, token: str, channel: str, producers: Producers, **ev: Any
) -> tuple[HubClient, int, str]:
    """Subscribe, receive one publication, and return the client's position."""
    client = await clients(hub, token)
    subscribed = (await client.subscribe(channel))["result"]
    await producers.order_event(
        ev["franchise"], new_id("ord"), "order.created", outlet_id=ev["outlet"]
    )
    (pub,) = await client.publications(1, channel)
    return client, pub["offset"], subscribed["epoch"]


async def _publish_updates(
    producers: Producers, franchise: str, outlet: str, count: int
) -> list[Event]:
    order_id = new_id("ord")
    return [
        await producers.order_event(franchise, order_id, "order.recalled", outlet_id=outlet, n=n)
        for n in range(count)
    ]


async def _assert_recovers_100_missed_updates(
    first: HubProcess, second: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    token = tokens.staff(outlet, franchise)
    client, position, epoch = await _kitchen_position(
        first, clients, token, channel, producers, franchise=franchise, outlet=outlet
    )
    await client.close()

    missed = await _publish_updates(producers, franchise, outlet, 100)
    # Let the feed of the replica we come back to get past all of them (or not: both work).
    back = await clients(second, token)
    reply = (await back.subscribe(channel, recover=True, offset=position, epoch=epoch))["result"]
    assert reply["recovered"] is True
    pubs = reply["publications"]
    live: list[dict[str, Any]] = []
    if len(pubs) < 100:  # the rest were still on their way: they arrive live, after the reply
        live = await back.publications(100 - len(pubs), channel)
    got = [p["data"]["id"] for p in pubs] + [p["data"]["id"] for p in live]
    assert got == [e.id for e in missed]
    offsets = [p["offset"] for p in pubs] + [p["offset"] for p in live]
    assert offsets == sorted(set(offsets))
    assert offsets[0] > position

    after = await producers.order_event(franchise, new_id("ord"), "order.ready", outlet_id=outlet)
    (next_pub,) = await back.publications(1, channel)
    assert next_pub["data"]["id"] == after.id
    assert back.pushes.empty()


async def test_a_client_that_missed_100_updates_gets_exactly_those_100_in_order(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    a, _ = hubs
    await _assert_recovers_100_missed_updates(a, a, clients, tokens, producers)


async def test_recovery_works_the_same_on_the_other_replica(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    a, b = hubs
    await _assert_recovers_100_missed_updates(a, b, clients, tokens, producers)


async def test_recovering_while_updates_keep_coming_loses_and_repeats_nothing(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    a, b = hubs
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    token = tokens.staff(outlet, franchise)
    client, position, epoch = await _kitchen_position(
        a, clients, token, channel, producers, franchise=franchise, outlet=outlet
    )
    await client.close()
    observer = await clients(b, token)
    await observer.subscribe(channel)
    publishing = asyncio.create_task(_publish_updates(producers, franchise, outlet, 120))
    # Come back once some are history and the rest are still on their way.
    await observer.publications(30, channel)
    back = await clients(b, token)
    reply = (await back.subscribe(channel, recover=True, offset=position, epoch=epoch))["result"]
    assert reply["recovered"] is True
    sent = await publishing
    recovered = [p["data"]["id"] for p in reply["publications"]]
    live = [p["data"]["id"] for p in await back.publications(120 - len(recovered), channel)]
    assert recovered + live == [e.id for e in sent]
    assert len(recovered) >= 30
    # No late duplicate: the next publication is the next event.
    marker = await producers.order_event(franchise, new_id("ord"), "order.ready", outlet_id=outlet)
    (next_pub,) = await back.publications(1, channel)
    assert next_pub["data"]["id"] == marker.id


async def test_recovering_from_the_current_position_returns_nothing_and_succeeds(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    token = tokens.staff(outlet, franchise)
    client, position, epoch = await _kitchen_position(
        hub_a, clients, token, channel, producers, franchise=franchise, outlet=outlet
    )
    await client.close()
    back = await clients(hub_a, token)
    reply = (await back.subscribe(channel, recover=True, offset=position, epoch=epoch))["result"]
    assert reply["recovered"] is True
    assert reply["publications"] == []
    assert reply["offset"] >= position


async def test_a_gap_beyond_the_channel_history_is_reported_and_the_client_must_reload(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise = new_id("fr")
    channel = f"franchise:{franchise}:ops"
    token = tokens.owner(franchise)
    client = await clients(hub_a, token)
    epoch = (await client.subscribe(channel))["result"]["epoch"]
    await producers.payment_event(franchise, new_id("pay"))
    (pub,) = await client.publications(1, channel)
    await client.close()
    observer = await clients(hub_a, token)
    await observer.subscribe(channel)
    # The test hubs keep 150 publications per channel; 160 push the client's past out.
    intent = new_id("pay")
    for n in range(160):
        last = await producers.payment_event(franchise, intent, "payment.refunded", n=n)
    seen = await observer.publications(160, channel)  # all of them are history now
    back = await clients(hub_a, token)
    reply = (await back.subscribe(channel, recover=True, offset=pub["offset"], epoch=epoch))[
        "result"
    ]
    assert reply["recovered"] is False
    assert reply["reason"] == "beyond_retention"
    assert reply["publications"] == []
    # From the returned offset on, the client is live again (after reloading over HTTP).
    assert reply["offset"] >= seen[-1]["offset"]
    assert seen[-1]["data"]["id"] == last.id
    after = await producers.payment_event(franchise, intent, "payment.refunded", n=999)
    (next_pub,) = await back.publications(1, channel)
    assert next_pub["data"]["id"] == after.id


async def test_a_position_from_another_epoch_is_not_recovered(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    franchise = new_id("fr")
    client = await clients(hub_a, tokens.owner(franchise))
    reply = (
        await client.subscribe(
            f"franchise:{franchise}:ops", recover=True, offset=5, epoch="1234567890"
        )
    )["result"]
    assert reply["recovered"] is False
    assert reply["reason"] == "epoch_changed"


async def test_recoveries_are_counted_by_outcome(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    before = await hub_a.metric("bobaku_hub_recoveries_total", outcome="epoch_changed")
    franchise = new_id("fr")
    client = await clients(hub_a, tokens.owner(franchise))
    await client.subscribe(f"franchise:{franchise}:ops", recover=True, offset=1, epoch="0")
    assert await hub_a.metric("bobaku_hub_recoveries_total", outcome="epoch_changed") == before + 1


async def test_an_offset_the_hub_never_gave_out_is_refused_as_invalid(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    franchise = new_id("fr")
    channel = f"franchise:{franchise}:ops"
    client = await clients(hub_a, tokens.owner(franchise))
    epoch = (await client.subscribe(channel))["result"]["epoch"]
    await client.call("unsubscribe", channel=channel)
    reply = (await client.subscribe(channel, recover=True, offset=10**12, epoch=epoch))["result"]
    assert reply["recovered"] is False
    assert reply["reason"] == "invalid_offset"
    assert reply["offset"] < 10**12
