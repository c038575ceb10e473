"""The hub's protocol, spoken by a real websocket client to a running hub process:
connect, subscribe, publication order, refusals, errors, limits and heartbeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id

Clients = Callable[..., Awaitable[HubClient]]


async def test_connect_answers_with_the_client_id_user_and_heartbeat_interval(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a)
    reply = await client.call("connect", token=tokens.customer("u-abc"), name="phone")
    result = reply["result"]
    assert result["user"] == "u-abc"
    assert result["client"].startswith("c-")
    assert result["node"] == "a"
    assert result["ping_interval"] == 1
    assert 0 < result["expires_in"] <= 900
    assert result["limits"]["max_subscriptions"] == 8


async def test_a_bad_token_closes_the_connection_as_unauthorized(
    hub_a: HubProcess, clients: Clients
) -> None:
    client = await clients(hub_a)
    await client.send_raw(json.dumps({"id": 1, "op": "connect", "token": "not-a-jwt"}))
    code, reason = await client.wait_closed()
    assert code == 4401
    assert reason is not None
    assert reason.startswith("unauthorized")


async def test_a_command_before_connect_closes_the_connection(
    hub_a: HubProcess, clients: Clients
) -> None:
    client = await clients(hub_a)
    await client.send_raw(json.dumps({"id": 1, "op": "subscribe", "channel": "order:x"}))
    assert (await client.wait_closed())[0] == 4401


async def test_a_client_that_never_connects_is_closed_after_the_connect_timeout(
    hub_a: HubProcess, clients: Clients
) -> None:
    client = await clients(hub_a)
    code, reason = await client.wait_closed(timeout=5)
    assert code == 4401
    assert reason is not None
    assert "no connect" in reason


async def test_a_frame_that_is_not_json_closes_with_bad_request(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.customer("u-1"))
    await client.send_raw("{not json")
    assert (await client.wait_closed())[0] == 4400


async def test_a_command_without_an_id_closes_with_bad_request(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.customer("u-1"))
    await client.send_raw(json.dumps({"op": "ping"}))
    code, reason = await client.wait_closed()
    assert code == 4400
    assert reason is not None
    assert "id" in reason


async def test_an_unknown_op_or_a_wrong_field_is_an_error_reply_and_the_connection_stays(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.customer("u-1"))
    unknown = await client.call("publish", channel="order:x")
    assert unknown["error"]["code"] == "unknown_op"
    wrong = await client.call("subscribe", channel="order:x", offset="12")
    assert wrong["error"]["code"] == "bad_request"
    assert [f["field"] for f in wrong["error"]["details"]["fields"]] == ["offset"]
    assert "result" in await client.call("ping")


async def test_a_channel_outside_the_four_namespaces_is_unknown(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.hq())
    for name in ("orders:1", "outlet:o1:bar", "order:a.b", "order:>", "user:u1:inbox:x"):
        reply = await client.subscribe(name)
        assert reply["error"]["code"] == "unknown_channel", name


async def test_publications_arrive_in_the_order_they_happened_with_rising_offsets(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    client = await clients(hub_a, tokens.staff(outlet, franchise))
    subscribed = (await client.subscribe(channel))["result"]
    assert subscribed["channel"] == channel
    assert subscribed["presence"] is True
    sent = []
    for n in range(30):
        order_id = new_id("ord")
        sent.append(
            await producers.order_event(
                franchise, order_id, "order.being_prepared", outlet_id=outlet, n=n
            )
        )
    pubs = await client.publications(30, channel)
    assert [p["data"]["id"] for p in pubs] == [e.id for e in sent]
    assert [p["data"]["data"]["n"] for p in pubs] == list(range(30))
    offsets = [p["offset"] for p in pubs]
    assert offsets == sorted(set(offsets))
    assert offsets[0] > subscribed["offset"]
    first = pubs[0]["data"]
    assert first["type"] == "order.being_prepared"
    assert first["tenant"] == franchise
    assert set(first) == {"id", "type", "timestamp", "tenant", "data"}


async def test_subscribing_twice_is_refused_and_unsubscribing_stops_delivery(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise = new_id("fr")
    ops, other = f"franchise:{franchise}:ops", new_id("fr")
    client = await clients(hub_a, tokens.hq())
    assert "result" in await client.subscribe(ops)
    assert (await client.subscribe(ops))["error"]["code"] == "already_subscribed"
    assert "result" in await client.subscribe(f"franchise:{other}:ops")
    assert (await client.call("unsubscribe", channel=ops))["result"] == {"channel": ops}
    assert (await client.call("unsubscribe", channel=ops))["error"]["code"] == "not_subscribed"
    await producers.payment_event(franchise, new_id("pay"))
    marker = await producers.payment_event(other, new_id("pay"))
    # Both share one ordered history: had the first reached us, it would have come first.
    (pub,) = await client.publications(1)
    assert pub["data"]["id"] == marker.id


async def test_a_connection_holds_at_most_the_configured_number_of_subscriptions(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.hq())
    for n in range(8):
        assert "result" in await client.subscribe(f"franchise:{new_id('fr')}-{n}:ops")
    reply = await client.subscribe(f"franchise:{new_id('fr')}:ops")
    assert reply["error"]["code"] == "too_many_subscriptions"


async def test_a_message_over_the_size_limit_closes_with_1009(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.hq())
    await client.send_raw(json.dumps({"id": 9, "op": "ping", "pad": "x" * 9000}))
    assert (await client.wait_closed())[0] == 1009


async def test_the_hub_pings_and_a_client_that_answers_stays_connected(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.hq())
    await asyncio.sleep(3.5)
    assert client.pings >= 3
    assert not client.closed.is_set()
    assert "result" in await client.call("ping")


async def test_a_client_that_does_not_answer_pings_is_disconnected(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    client = await clients(hub_a, tokens.hq())
    client.auto_pong = False
    code, reason = await client.wait_closed(timeout=5)
    assert code == 4408
    assert reason is not None
    assert "heartbeat" in reason
    assert client.pings >= 1


async def test_a_connection_ends_when_its_token_expires_unless_refreshed(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    refreshed = await clients(hub_a, tokens.customer("u-7", ttl_s=2))
    expiring = await clients(hub_a, tokens.customer("u-7", ttl_s=2))
    reply = await refreshed.call("refresh", token=tokens.customer("u-7"))
    assert reply["result"]["expires_in"] > 800
    other_user = await refreshed.call("refresh", token=tokens.customer("u-8"))
    assert other_user["error"]["code"] == "forbidden"
    code, reason = await expiring.wait_closed(timeout=6)
    assert code == 4401
    assert reason is not None
    assert "expired" in reason
    assert not refreshed.closed.is_set()
