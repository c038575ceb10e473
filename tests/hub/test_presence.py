"""Presence on kitchen channels: which displays are online, agreed by every replica, with
join and leave events, including when a replica dies without saying goodbye."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any

from hub_testing import HubClient, HubProcess, Tokens, new_id
from support import eventually

Clients = Callable[..., Awaitable[HubClient]]


async def _next(client: HubClient, kind: str, display: str, timeout: float = 10) -> dict[str, Any]:
    """The next join or leave about ``display`` (a display also sees its own join)."""
    while True:
        push = await client.next_push(timeout)
        if push["type"] == kind and push["info"]["display"] == display:
            return push


async def test_displays_on_different_replicas_see_each_other_join_and_leave(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens
) -> None:
    a, b = hubs
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    tea_bar = await clients(a, tokens.staff(outlet, franchise, "u-teabar00001"), name="Tea bar")
    assert (await tea_bar.subscribe(channel))["result"]["presence"] is True
    toppings = await clients(b, tokens.staff(outlet, franchise), name="Toppings")
    await toppings.subscribe(channel)

    joined = await _next(tea_bar, "join", "Toppings")
    assert joined["channel"] == channel
    assert joined["info"]["display"] == "Toppings"
    assert joined["info"]["node"] == "b"

    async def both_listed() -> list[Any] | None:
        members = (await toppings.call("presence", channel=channel))["result"]["clients"]
        return members if len(members) == 2 else None

    members = await eventually(both_listed, timeout=5)
    assert {m["display"] for m in members} == {"Tea bar", "Toppings"}
    assert {m["user"] for m in members} >= {"u-teabar00001"}

    await toppings.close()
    left = await _next(tea_bar, "leave", "Toppings")
    assert left["info"]["node"] == "b"
    members = (await tea_bar.call("presence", channel=channel))["result"]["clients"]
    assert [m["display"] for m in members] == ["Tea bar"]


async def test_displays_of_a_replica_that_died_leave_once_their_entries_expire(
    hub_a: HubProcess, start_hub: Callable[..., Awaitable[HubProcess]], clients: Clients,
    tokens: Tokens,
) -> None:  # fmt: skip
    doomed = await start_hub("doomed")
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    watcher = await clients(hub_a, tokens.staff(outlet, franchise), name="Expo")
    await watcher.subscribe(channel)
    ghost = await clients(doomed, tokens.staff(outlet, franchise), name="Ghost")
    await ghost.subscribe(channel)
    assert (await _next(watcher, "join", "Ghost"))["info"]["node"] == "doomed"
    await doomed.stop(signal.SIGKILL)
    # The test hubs' presence entries live 3 s without a refresh.
    left = await _next(watcher, "leave", "Ghost", timeout=10)
    assert left["channel"] == channel


async def test_presence_is_refused_where_it_does_not_exist_or_is_not_allowed(
    hub_a: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    franchise, outlet = new_id("fr"), new_id("outlet")
    client = await clients(hub_a, tokens.owner(franchise))
    no_presence = await client.call("presence", channel=f"franchise:{franchise}:ops")
    assert no_presence["error"]["code"] == "no_presence"
    other = await clients(hub_a, tokens.staff(new_id("outlet"), franchise))
    refused = await other.call("presence", channel=f"outlet:{outlet}:kitchen")
    assert refused["error"]["code"] == "forbidden"
