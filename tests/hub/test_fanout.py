"""Fan-out across replicas and under a slow client: every replica delivers every
publication, and a client that stops reading is dropped without holding up anyone else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id

Clients = Callable[..., Awaitable[HubClient]]


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


async def test_a_slow_client_is_disconnected_while_a_normal_client_keeps_receiving(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise = new_id("fr")
    channel = f"franchise:{franchise}:ops"
    slow = await clients(hub_a, tokens.owner(franchise))
    normal = await clients(hub_a, tokens.owner(franchise))
    for client in (slow, normal):
        assert "result" in await client.subscribe(channel)
    dropped_before = await hub_a.metric("bobaku_hub_disconnects_total", reason="slow_client")
    slow.pause()

    async def dropped() -> bool:
        now = await hub_a.metric("bobaku_hub_disconnects_total", reason="slow_client")
        return now == dropped_before + 1

    # 16 KB each, until the slow client's socket buffers (whatever the kernel grants) and
    # its 256 KB send queue are full; the normal client reads along. Bounded by time, not
    # only by count: on a loaded machine the hub routes behind the producer, and what
    # counts is what it has delivered, not what was published.
    padding = "x" * 16_000
    sent = []
    deadline = time.monotonic() + 60
    while not await dropped():
        assert len(sent) < 8000, "the slow client was never dropped"
        assert time.monotonic() < deadline, "the slow client was never dropped"
        for _ in range(25):
            sent.append(await producers.payment_event(franchise, new_id("pay"), note=padding))
        await asyncio.sleep(0.05)  # let the hub route what is already published
    # Told why, once it reads again (the hub aborts the socket if it does not within 5 s).
    slow.resume()
    code, reason = await slow.wait_closed(timeout=5)
    assert code == 4429
    assert reason is not None
    assert reason.startswith("slow client")
    assert await hub_a.metric("bobaku_hub_drops_total", reason="slow_client") >= 1
    for _ in range(25):  # the others go on receiving after the drop
        sent.append(await producers.payment_event(franchise, new_id("pay"), note=padding))
    got = await normal.publications(len(sent), channel, timeout=30)
    assert [p["data"]["id"] for p in got] == [e.id for e in sent]
    # It got a prefix of the stream before the hub gave up on it, never something out of order.
    received: list[str] = []
    while not slow.pushes.empty():
        push = slow.pushes.get_nowait()
        if push.get("type") == "pub":
            received.append(push["data"]["id"])
    assert received == [e.id for e in sent[: len(received)]]
    assert len(received) < len(sent)
    assert not normal.closed.is_set()
