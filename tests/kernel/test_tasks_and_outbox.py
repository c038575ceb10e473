"""The background-task helper and the transactional outbox, against real NATS and FerretDB."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.outbox import OUTBOX, Outbox, outbox_entry, push_entry
from bobaku.kernel.tasks import BackgroundTask


async def test_a_task_runs_until_stopped_and_a_full_batch_runs_again_at_once() -> None:
    calls: list[int] = []

    async def step() -> bool:
        calls.append(1)
        return len(calls) < 5  # "more waiting" four times, then idle

    task = BackgroundTask("t-batch", step, interval_s=3600)
    task.start()
    await eventually(lambda: asyncio.sleep(0, result=len(calls) >= 5))
    assert task.running
    await task.stop()
    assert not task.running
    assert len(calls) == 5  # the idle wait (an hour) was cut by stop()


async def test_a_task_whose_step_swallows_the_cancellation_still_stops() -> None:
    inside = asyncio.Event()
    swallowed: list[bool] = []
    calls: list[int] = []

    async def step() -> bool:
        # What Python 3.11's asyncio.wait_for does when its result races the cancellation
        # (the NATS client's requests use it): the caller sees a result, not the cancel.
        calls.append(1)
        inside.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)
        return False

    task = BackgroundTask("swallows", step, interval_s=0.01)
    task.start()
    await inside.wait()
    # Before: the task went on to its next step and stop() waited for a second cancel
    # (here the guard's, after 10 s).
    await asyncio.wait_for(task.stop(), 10)
    assert not task.running
    assert len(calls) == 1  # stopped by the one cancel stop() sent


async def test_a_failing_step_is_logged_and_backed_off_then_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes = [RuntimeError("down"), RuntimeError("still down"), None]

    async def step() -> None:
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome

    task = BackgroundTask("t-fail", step, interval_s=0.01, max_backoff_s=0.05)
    assert task.delay() == 0.01
    with caplog.at_level(logging.ERROR, logger="bobaku.kernel.tasks"):
        task.start()
        await eventually(lambda: asyncio.sleep(0, result=task.runs >= 1))
        await task.stop()
    failures = [r for r in caplog.records if "t-fail failed" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None
    assert task.failures == 0  # reset by the success
    task.failures = 10
    assert task.delay() == 0.05  # capped


async def test_an_event_left_in_a_document_is_published_by_the_sweeper(
    bus: EventBus, databases: Databases
) -> None:
    event = new_event(
        "menu.outlet_changed",
        {"franchise_id": "fr-outbox", "outlet_id": "o-outbox", "change": "updated"},
        source="menu-service",
        tenant="fr-outbox",
    )
    collection = databases.platform["outbox_test"]
    entry = outbox_entry(event)
    await collection.insert_one({"_id": "doc-1", "name": "before", OUTBOX: []})
    # The change and its event in one write; the process "dies" before publishing.
    await collection.update_one({"_id": "doc-1"}, push_entry({"$set": {"name": "after"}}, entry))
    doc = await collection.find_one({"_id": "doc-1"})
    assert doc is not None
    assert doc["name"] == "after"
    assert doc[OUTBOX] == [entry]

    outbox = Outbox(bus, databases, platform_collections=("outbox_test",))
    sweeper = outbox.sweeper("t-outbox", 0.05)
    sweeper.start()
    try:

        async def emptied() -> bool:
            doc = await collection.find_one({"_id": "doc-1"})
            return doc is not None and doc[OUTBOX] == []

        await eventually(emptied)
    finally:
        await sweeper.stop()
    raw = await bus.js.get_last_msg("EVENTS", "events.fr-outbox.menu.outlet_changed")
    assert Event.from_json(raw.data or b"").id == event.id
    assert await outbox.sweep() == 0  # nothing left to send


async def test_a_step_that_meets_a_database_outage_keeps_running_and_warns_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from typing import Any

    from pymongo import AsyncMongoClient
    from support import free_port

    dead: AsyncMongoClient[Any] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=100
    )
    outage = [True, True]

    async def step() -> None:
        if outage:
            outage.pop()
            await dead["x"]["payment_deadlines"].find_one({})

    task = BackgroundTask("t-outage", step, interval_s=0.01, max_backoff_s=0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="bobaku.kernel.tasks"):
            task.start()
            await eventually(lambda: asyncio.sleep(0, result=task.runs >= 1))
            await task.stop()
    finally:
        await dead.close()
    warned = [
        r for r in caplog.records if "t-outage: a dependency is unavailable" in r.getMessage()
    ]
    assert len(warned) == 2
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in warned)
