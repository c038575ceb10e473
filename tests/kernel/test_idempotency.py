"""Idempotent handlers: each event id is handled to completion once per consumer."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import pytest
from support import eventually

from bobaku.kernel.bus import Delivery
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.idempotency import ProcessedEvents, StillInProgress, idempotent

DELIVERY = Delivery("s", "S", 1, 1)


def an_event() -> Event:
    return new_event("order.created", {"n": 1}, source="test", tenant="fr-jkt")


async def test_a_redelivered_event_runs_the_handler_once(redis: Any) -> None:
    processed = ProcessedEvents(redis, f"points-{secrets.token_hex(3)}")
    points: list[str] = []

    async def award_points(event: Event, _: Delivery) -> None:
        points.append(event.id)

    handler = idempotent(processed, award_points)
    event = an_event()
    for _ in range(3):
        await handler(event, DELIVERY)
    assert points == [event.id]
    assert await processed.was_handled(event.id)


async def test_a_failed_attempt_releases_the_event_for_its_retry(redis: Any) -> None:
    processed = ProcessedEvents(redis, f"points-{secrets.token_hex(3)}")
    attempts: list[int] = []

    async def flaky(event: Event, _: Delivery) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("mongo timeout")

    handler = idempotent(processed, flaky)
    event = an_event()
    with pytest.raises(RuntimeError):
        await handler(event, DELIVERY)
    assert not await processed.was_handled(event.id)
    await handler(event, DELIVERY)
    await handler(event, DELIVERY)
    assert len(attempts) == 2


async def test_a_concurrent_second_delivery_waits_for_the_first(redis: Any) -> None:
    processed = ProcessedEvents(redis, f"points-{secrets.token_hex(3)}", lease_s=5)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(event: Event, _: Delivery) -> None:
        inside.set()
        await release.wait()

    handler = idempotent(processed, slow)
    event = an_event()
    first = asyncio.create_task(handler(event, DELIVERY))
    await inside.wait()
    with pytest.raises(StillInProgress):
        await handler(event, DELIVERY)
    release.set()
    await first
    await handler(event, DELIVERY)  # now a plain duplicate: acknowledged, not run


async def test_a_claim_left_by_a_consumer_killed_mid_handler_runs_out_and_the_event_runs(
    redis: Any,
) -> None:
    consumer = f"points-{secrets.token_hex(3)}"
    event = an_event()
    # The first process claimed the event and was killed inside the handler: no release,
    # no done mark, only the claim's lease.
    assert await ProcessedEvents(redis, consumer, lease_s=2).claim(event.id)
    runs: list[str] = []

    async def count(event: Event, _: Delivery) -> None:
        runs.append(event.id)

    handler = idempotent(ProcessedEvents(redis, consumer, lease_s=2), count)
    with pytest.raises(StillInProgress):  # the redelivery meets the live claim: later
        await handler(event, DELIVERY)

    async def redelivered() -> bool:
        with contextlib.suppress(StillInProgress):
            await handler(event, DELIVERY)
        return bool(runs)

    await eventually(redelivered, timeout=10, interval=0.1)
    await handler(event, DELIVERY)
    assert runs == [event.id]
