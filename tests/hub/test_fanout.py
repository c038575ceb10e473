"""Fan-out across replicas and under a slow client: every replica delivers every
publication, and a client that stops reading is dropped without holding up anyone else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hub_testing import STEADY_HUB_ENV, HubClient, HubProcess, Producers, Tokens, new_id
from support import eventually

from bobaku.kernel.events import Event

Clients = Callable[..., Awaitable[HubClient]]
StartHub = Callable[..., Awaitable[HubProcess]]


@pytest.fixture(scope="module")
async def hasty_hub(start_hub: StartHub) -> HubProcess:
    """A dropped client that does not read its close frame is cut off at once; otherwise
    steady (a paused client misses pings, and a heartbeat close, 4408, must not race the
    slow-client drop)."""
    return await start_hub("hasty", **{**STEADY_HUB_ENV, "HUB_CLOSE_GRACE_S": "0.2"})


async def test_clients_on_both_replicas_receive_every_publication_with_the_same_offsets(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    a, b = hubs
    franchise = new_id("fr")
    channel = f"franchise:{franchise}:ops"
    on_a = await clients(a, tokens.owner(franchise))
    on_b = await clients(b, tokens.hq())
    epochs = {(await c.subscribe(channel))["result"]["epoch"] for c in (on_a, on_b)}
    assert len(epochs) == 1
    sent = [await producers.payment_event(franchise, new_id("pay")) for _ in range(20)]
    got_a = await on_a.publications(20, channel)
    got_b = await on_b.publications(20, channel)
    assert [(p["offset"], p["data"]["id"]) for p in got_a] == [
        (p["offset"], p["data"]["id"]) for p in got_b
    ]
    assert [p["data"]["id"] for p in got_a] == [e.id for e in sent]


class SlowAndNormal:
    """Two clients of one channel: ``slow`` stops reading, ``normal`` reads along."""

    def __init__(self, hub: HubProcess, producers: Producers, franchise: str) -> None:
        self.hub = hub
        self.producers = producers
        self.franchise = franchise
        self.channel = f"franchise:{franchise}:ops"
        self.sent: list[Event] = []
        self.got: list[dict[str, Any]] = []

    async def open(self, clients: Clients, tokens: Tokens) -> SlowAndNormal:
        self.slow = await clients(self.hub, tokens.owner(self.franchise))
        self.normal = await clients(self.hub, tokens.owner(self.franchise))
        for client in (self.slow, self.normal):
            assert "result" in await client.subscribe(self.channel)
        return self

    async def slow_drops(self) -> float:
        return await self.hub.metric("bobaku_hub_disconnects_total", reason="slow_client")

    async def publish(self, count: int) -> None:
        """``count`` publications of 16 KB, awaited at the normal client: when this returns,
        the hub has handed each of them to every subscriber (or dropped the slow one)."""
        padding = "x" * 16_000
        for _ in range(count):
            event = await self.producers.payment_event(self.franchise, new_id("pay"), note=padding)
            self.sent.append(event)
        self.got += await self.normal.publications(count, self.channel, timeout=60)

    async def until_slow_is_dropped(self) -> None:
        """Pause the slow client and publish until the hub drops it: its socket buffers
        (whatever the kernel grants) and its 256 KB send queue are full.

        Bounded by what the hub has delivered, not by time: on a loaded machine the hub
        routes behind the producer, so each batch is awaited at the normal client before
        the drop is looked for. 8,000 publications (128 MB) delivered to the normal client
        are far more than any socket buffers hold."""
        before = await self.slow_drops()
        self.slow.pause()
        while await self.slow_drops() == before:
            assert len(self.got) < 8000, "the slow client was never dropped"
            await self.publish(25)
        assert await self.slow_drops() == before + 1

    def slow_received(self) -> list[str]:
        received: list[str] = []
        while not self.slow.pushes.empty():
            push = self.slow.pushes.get_nowait()
            if push.get("type") == "pub":
                received.append(push["data"]["id"])
        return received


async def test_a_slow_client_is_disconnected_while_a_normal_client_keeps_receiving(
    steady_hub: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    # The steady hub: no heartbeat to race the drop, and the dropped client may take its time
    # to read up to the close frame (the polling and resuming take seconds under load).
    pair = await SlowAndNormal(steady_hub, producers, new_id("fr")).open(clients, tokens)
    await pair.until_slow_is_dropped()
    # Told why once it reads again: the frames queued before the close frame, then the close.
    pair.slow.resume()
    code, reason = await pair.slow.wait_closed(timeout=60)
    assert code == 4429
    assert reason is not None
    assert reason.startswith("slow client")
    assert await steady_hub.metric("bobaku_hub_drops_total", reason="slow_client") >= 1
    assert await steady_hub.metric("bobaku_hub_close_aborts_total") == 0
    await pair.publish(25)  # the others go on receiving after the drop
    assert [p["data"]["id"] for p in pair.got] == [e.id for e in pair.sent]
    # It got a prefix of the stream before the hub gave up on it, never something out of order.
    received = pair.slow_received()
    assert received == [e.id for e in pair.sent[: len(received)]]
    assert len(received) < len(pair.sent)
    assert not pair.normal.closed.is_set()


async def test_a_dropped_client_that_never_reads_its_close_frame_is_cut_off(
    hasty_hub: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    pair = await SlowAndNormal(hasty_hub, producers, new_id("fr")).open(clients, tokens)
    aborts_before = await hasty_hub.metric("bobaku_hub_close_aborts_total")
    await pair.until_slow_is_dropped()

    async def aborted() -> bool:
        return await hasty_hub.metric("bobaku_hub_close_aborts_total") == aborts_before + 1

    await eventually(aborted, timeout=30)
    # What reached its socket before the cut it can still read; the close frame, queued
    # behind frames the hub never wrote, it never gets.
    pair.slow.resume()
    code, _ = await pair.slow.wait_closed(timeout=60)
    assert code == 1006  # aiohttp's code for a connection that ended without a close frame
    received = pair.slow_received()
    assert received == [e.id for e in pair.sent[: len(received)]]
    assert len(received) < len(pair.sent)
    await pair.publish(25)
    assert [p["data"]["id"] for p in pair.got] == [e.id for e in pair.sent]
    assert not pair.normal.closed.is_set()
