"""Chaos for the hub: many clients on two replicas, dropped at random while the kitchen feeds
keep publishing, each coming back to a random replica with its position. Every client must end
with exactly the publications of its channel, in order, none lost and none twice.

Bounded for the suite (``BOBAKU_HUB_CHAOS_CLIENTS``, default 120 clients); ``make chaos`` runs
it with 1,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id
from support import record_figures

CLIENTS = int(os.environ.get("BOBAKU_HUB_CHAOS_CLIENTS", "120"))
CHANNELS = 8
EVENTS_PER_CHANNEL = 40  # well inside the suite's per-channel history (150)
SEED = int(os.environ.get("BOBAKU_CHAOS_SEED", "20261201"))
CONNECT_ATTEMPTS = 8
# Between rounds of publications (one per channel): the suite's size paces at 20 ms; more
# clients mean more fan-out per publication, so the pause grows with them, and a thousand
# clients on two hubs on a shared machine are not buried under the feed.
PUBLISH_PAUSE_S = 0.02 * max(1.0, CLIENTS / 120)


@dataclass
class Watcher:
    """One kitchen screen: what it received, and where it is."""

    channel: str
    token: str
    client: HubClient | None = None
    epoch: str = ""
    offset: int = 0
    received: list[str] = field(default_factory=list)
    drops: int = 0
    hub_closes: int = 0
    resubscribes: int = 0

    def take(self, publications: list[dict[str, Any]]) -> None:
        for pub in publications:
            self.received.append(pub["data"]["id"])
            self.offset = pub["offset"]


async def _drain(watcher: Watcher) -> None:
    """Move what arrived live into ``received`` (pushes of other kinds are skipped)."""
    client = watcher.client
    assert client is not None
    while not client.pushes.empty():
        push = client.pushes.get_nowait()
        if push.get("type") == "pub" and push["channel"] == watcher.channel:
            watcher.take([push])


async def _connect(watcher: Watcher, hub: HubProcess, *, recover: bool) -> None:
    """Connect and subscribe (recovering from the watcher's position). A connect or a
    subscribe the hub refused or closed on a loaded machine is tried again from the same
    position, as a screen does; only a subscribe's reply moves the position."""
    for attempt in range(CONNECT_ATTEMPTS):
        client = await HubClient.connected(hub.ws_url, watcher.token, attempts=CONNECT_ATTEMPTS)
        fields: dict[str, Any] = (
            {"recover": True, "offset": watcher.offset, "epoch": watcher.epoch} if recover else {}
        )
        try:
            reply = await client.subscribe(watcher.channel, **fields)
            break
        except (ConnectionError, TimeoutError):
            await client.close()  # what it got before the reply is sent again on recovery
            if attempt + 1 >= CONNECT_ATTEMPTS:
                raise
            watcher.resubscribes += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    result = reply["result"]
    if recover:
        assert result["recovered"] is True, result
        watcher.take(result["publications"])
    else:
        watcher.epoch, watcher.offset = result["epoch"], result["offset"]
    watcher.client = client


async def _drop(watcher: Watcher, rng: random.Random) -> None:
    """Lose the connection the way phones do: sometimes a clean close, sometimes the socket
    just goes away."""
    client = watcher.client
    assert client is not None
    await _drain(watcher)
    if rng.random() < 0.5:
        connection = getattr(client.ws, "_conn", None)
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.abort()
    await client.close()
    # Whatever was still queued arrived before the drop and counts as received.
    await _drain(watcher)
    watcher.client = None
    watcher.drops += 1


async def test_clients_dropped_at_random_recover_with_nothing_lost_or_repeated(
    hubs: tuple[HubProcess, HubProcess], tokens: Tokens, producers: Producers
) -> None:
    rng = random.Random(SEED)
    retried_before = HubClient.retried
    franchise = new_id("fr")
    outlets = [new_id("outlet") for _ in range(CHANNELS)]
    watchers = []
    for n in range(CLIENTS):
        outlet = outlets[n % CHANNELS]
        watchers.append(Watcher(f"outlet:{outlet}:kitchen", tokens.staff(outlet, franchise)))
    for batch in range(0, CLIENTS, 50):  # connect in batches, as screens come online
        await asyncio.gather(
            *(_connect(w, rng.choice(hubs), recover=False) for w in watchers[batch : batch + 50])
        )

    published: dict[str, list[str]] = {f"outlet:{o}:kitchen": [] for o in outlets}

    async def publish() -> None:
        for n in range(EVENTS_PER_CHANNEL):
            for outlet in outlets:
                event = await producers.order_event(
                    franchise, new_id("ord"), "order.created", outlet_id=outlet, n=n
                )
                published[f"outlet:{outlet}:kitchen"].append(event.id)
            await asyncio.sleep(PUBLISH_PAUSE_S)

    async def chaos(stop: asyncio.Event) -> None:
        while not stop.is_set():
            victims = rng.sample(watchers, k=max(1, CLIENTS // 10))
            for victim in victims:
                if victim.client is not None:
                    await _drop(victim, rng)
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            await asyncio.gather(
                *(_connect(v, rng.choice(hubs), recover=True) for v in victims if not v.client)
            )

    stop = asyncio.Event()
    chaos_task = asyncio.create_task(chaos(stop))
    try:
        await publish()
    finally:
        stop.set()
        await chaos_task
    for watcher in watchers:  # everyone still down comes back
        if watcher.client is None:
            await _connect(watcher, rng.choice(hubs), recover=True)

    hub_close_reasons: Counter[str] = Counter()

    async def complete(watcher: Watcher) -> None:
        expected = published[watcher.channel]
        async with asyncio.timeout(60):
            while len(watcher.received) < len(expected):
                client = watcher.client
                assert client is not None
                try:
                    push = await asyncio.wait_for(client.pushes.get(), 1)
                except TimeoutError:
                    # The hub may close a client itself (a missed heartbeat on a starved
                    # machine, a full queue); a real screen then reconnects and recovers.
                    if client.closed.is_set():
                        hub_close_reasons[f"{client.close_code} {client.close_reason or ''}"] += 1
                        await _drain(watcher)
                        await client.close()
                        watcher.hub_closes += 1
                        await _connect(watcher, rng.choice(hubs), recover=True)
                    continue
                if push.get("type") == "pub" and push["channel"] == watcher.channel:
                    watcher.take([push])

    try:
        await asyncio.gather(*(complete(w) for w in watchers))
        await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
        for watcher in watchers:
            await _drain(watcher)
    finally:
        for watcher in watchers:
            if watcher.client is not None:
                with contextlib.suppress(Exception):
                    await watcher.client.close()

    assert sum(w.drops for w in watchers) >= CLIENTS // 2, "the chaos dropped too few clients"
    lost = sum(len(set(published[w.channel]) - set(w.received)) for w in watchers)
    repeated = sum(len(w.received) - len(set(w.received)) for w in watchers)
    record_figures(
        "hub-chaos",
        {
            "clients": CLIENTS,
            "channels": CHANNELS,
            "publications": sum(len(p) for p in published.values()),
            "drops": sum(w.drops for w in watchers),
            "closes_by_the_hub": sum(w.hub_closes for w in watchers),
            "hub_close_reasons": dict(hub_close_reasons),
            "connects_retried": HubClient.retried - retried_before,
            "subscribes_retried": sum(w.resubscribes for w in watchers),
            "lost": lost,
            "repeated": repeated,
        },
    )
    for watcher in watchers:
        expected = published[watcher.channel]
        assert watcher.received == expected, (
            f"{watcher.channel}: {len(watcher.received)} received, {len(expected)} published, "
            f"{len(set(watcher.received))} distinct, after {watcher.drops} drops and "
            f"{watcher.hub_closes} closes by the hub"
        )
