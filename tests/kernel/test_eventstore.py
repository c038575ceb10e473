"""The event-sourced aggregate store: optimistic concurrency on a subject's sequence."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import seed_order_data

from bobaku.kernel.bus import EventBus
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.settings import Settings
from bobaku.kernel.telemetry import AGGREGATE_MESSAGES_READ


@pytest.fixture
async def store(bus: EventBus) -> AsyncIterator[AggregateStore]:
    store = AggregateStore(bus, f"t{secrets.token_hex(3)}", snapshot_every=3)
    await store.start()
    yield store
    await bus.js.delete_stream(store.spec.name)
    await bus.js.delete_key_value(f"snapshots_{store.kind}")


def created(order_id: str, total: int = 82000) -> Event:
    return new_event(
        "order.created",
        seed_order_data(order_id=order_id, total_amount=total),
        source="order-service",
        tenant="fr-jkt",
    )


async def test_appended_events_load_back_in_order(store: AggregateStore) -> None:
    subject = store.subject("fr-jkt", "ord-1")
    first, second, third = created("ord-1", 1000), created("ord-1", 2000), created("ord-1", 3000)

    seq1 = await store.append(subject, [first], expected_seq=0)
    seq2 = await store.append(subject, [second, third], expected_seq=seq1)

    loaded = await store.load(subject)
    assert loaded.events == [first, second, third]
    assert loaded.last_seq == seq2
    assert (await store.load(subject, after_seq=seq1)).events == [second, third]
    assert (await store.load(store.subject("fr-jkt", "ord-none"))).events == []


async def test_two_concurrent_appends_at_the_same_sequence_exactly_one_wins(
    store: AggregateStore,
) -> None:
    subject = store.subject("fr-jkt", "ord-2")
    seq = await store.append(subject, [created("ord-2")], expected_seq=0)
    mine, theirs = created("ord-2", 1), created("ord-2", 2)

    results = await asyncio.gather(
        store.append(subject, [mine], expected_seq=seq),
        store.append(subject, [theirs], expected_seq=seq),
        return_exceptions=True,
    )

    wins = [r for r in results if isinstance(r, int)]
    losses = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(wins) == 1
    assert len(losses) == 1
    assert losses[0].expected == seq
    winner = mine if isinstance(results[0], int) else theirs
    assert (await store.load(subject)).events[1:] == [winner]


async def test_many_writers_racing_on_a_new_aggregate_leave_one_history(
    store: AggregateStore,
) -> None:
    subject = store.subject("fr-jkt", "ord-3")
    contenders = [created("ord-3", i) for i in range(10)]
    results = await asyncio.gather(
        *(store.append(subject, [e], expected_seq=0) for e in contenders),
        return_exceptions=True,
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 9
    assert len((await store.load(subject)).events) == 1


async def test_a_retried_append_after_a_lost_reply_stores_nothing_twice(
    store: AggregateStore,
) -> None:
    subject = store.subject("fr-jkt", "ord-4")
    event = created("ord-4")
    seq = await store.append(subject, [event], expected_seq=0)
    # The writer never saw the ack and retries the same commit with the same expectation.
    assert await store.append(subject, [event], expected_seq=0) == seq
    assert (await store.load(subject)).events == [event]


async def test_state_loads_from_a_snapshot_and_replays_only_newer_events(
    store: AggregateStore,
) -> None:
    subject = store.subject("fr-jkt", "ord-5")
    applied: list[int] = []

    def apply(state: dict[str, Any], event: Event) -> dict[str, Any]:
        applied.append(event.data["total_amount"])
        return {"total": state["total"] + event.data["total_amount"], "n": state["n"] + 1}

    def load() -> Any:
        return store.load_state(
            subject, lambda: {"total": 0, "n": 0}, apply, encode=dict, decode=dict
        )

    seq = 0
    for amount in (1, 2, 3, 4):
        seq = await store.append(subject, [created("ord-5", amount)], expected_seq=seq)
    first = await load()
    assert first.state == {"total": 10, "n": 4}
    assert applied == [1, 2, 3, 4]

    seq = await store.append(subject, [created("ord-5", 5)], expected_seq=seq)
    applied.clear()
    second = await load()
    assert second.state == {"total": 15, "n": 5}
    assert second.last_seq == seq
    assert applied == [5]  # the snapshot covered the first four


def test_an_aggregate_id_cannot_escape_its_subject(store: AggregateStore) -> None:
    for bad in ("a.b", "x*", "all>"):
        with pytest.raises(ValueError, match="may not contain"):
            store.subject("fr-jkt", bad)


# ------------------------------------------------------- the remembered histories ---


def messages_read(store: AggregateStore) -> float:
    return AGGREGATE_MESSAGES_READ.labels(store.kind)._value.get()


@pytest.fixture
async def other_replica(settings: Settings, store: AggregateStore) -> AsyncIterator[AggregateStore]:
    """The same aggregate kind in another process's shoes: its own connection and memory."""
    bus = await EventBus.connect(settings)
    other = AggregateStore(bus, store.kind)
    await other.start()
    yield other
    await bus.close()


async def test_a_remembered_aggregate_loads_with_no_message_read(store: AggregateStore) -> None:
    subject = store.subject("fr-jkt", "ord-6")
    events = [created("ord-6", n) for n in (1, 2, 3)]
    seq = 0
    for event in events:
        seq = await store.append(subject, [event], expected_seq=seq)
    before = messages_read(store)
    loaded = await store.load(subject)
    assert loaded.events == events
    assert loaded.last_seq == seq
    assert messages_read(store) == before  # only the last-sequence check went to the server


async def test_a_load_reads_only_what_another_writer_appended_since(
    store: AggregateStore, other_replica: AggregateStore
) -> None:
    subject = store.subject("fr-jkt", "ord-7")
    mine = created("ord-7", 1)
    seq = await store.append(subject, [mine], expected_seq=0)
    assert (await store.load(subject)).events == [mine]

    theirs = [created("ord-7", 2), created("ord-7", 3)]
    theirs_seq = await other_replica.append(subject, theirs, expected_seq=seq)

    before = messages_read(store)
    loaded = await store.load(subject)
    assert loaded.events == [mine, *theirs]
    assert loaded.last_seq == theirs_seq
    assert messages_read(store) == before + 1  # their one message, not the whole history
    assert (await store.load(subject, after_seq=seq)).events == theirs


async def test_a_decision_on_a_remembered_state_loses_to_another_writer_and_then_sees_it(
    store: AggregateStore, other_replica: AggregateStore
) -> None:
    subject = store.subject("fr-jkt", "ord-8")
    first = created("ord-8", 1)
    seq = await store.append(subject, [first], expected_seq=0)
    await store.load(subject)
    await other_replica.load(subject)

    theirs = created("ord-8", 2)
    await other_replica.append(subject, [theirs], expected_seq=seq)
    with pytest.raises(ConcurrencyConflict):
        await store.append(subject, [created("ord-8", 3)], expected_seq=seq)
    assert (await store.load(subject)).events == [first, theirs]
    # And the other side, which remembered its own append, sees ours once we win.
    ours = created("ord-8", 4)
    current = (await store.load(subject)).last_seq
    ours_seq = await store.append(subject, [ours], expected_seq=current)
    loaded = await other_replica.load(subject)
    assert loaded.events == [first, theirs, ours]
    assert loaded.last_seq == ours_seq


async def test_a_load_that_the_remembered_history_reaches_asks_the_server_nothing(
    store: AggregateStore, other_replica: AggregateStore
) -> None:
    """What a consumer handed the message at ``seq`` needs: the history up to there at least.
    The remembered one answers (no newer message of another writer's in it); a message it
    does not hold is a load from the server, and so is one it holds at that sequence but
    with other events (a stream deleted since, whose sequences started over)."""
    subject = store.subject("fr-jkt", "ord-10")
    mine = created("ord-10", 1)
    seq = await store.append(subject, [mine], expected_seq=0)
    theirs = created("ord-10", 2)
    theirs_seq = await other_replica.append(subject, [theirs], expected_seq=seq)

    remembered = await store.load(subject, reaches=(seq, mine.id))
    assert remembered.events == [mine]  # from memory: the server has theirs too
    assert remembered.last_seq == seq
    with pytest.raises(ConcurrencyConflict):  # and a decision on it still checks
        await store.append(subject, [created("ord-10", 3)], expected_seq=remembered.last_seq)

    loaded = await store.load(subject, reaches=(theirs_seq, theirs.id))
    assert loaded.events == [mine, theirs]
    assert loaded.last_seq == theirs_seq
    assert (await store.load(subject, reaches=(theirs_seq, theirs.id))).events == [mine, theirs]

    # The stream deleted and made again: its sequences start over, so the message at 1 is
    # someone else's now and the remembered history, which also has a message at 1, is not it.
    await store.bus.js.delete_stream(store.spec.name)
    await store.start()
    again = created("ord-10", 4)
    assert await other_replica.append(subject, [again], expected_seq=0) == seq
    assert (await store.load(subject, reaches=(seq, again.id))).events == [again]


async def test_a_retried_append_is_remembered_once(store: AggregateStore) -> None:
    subject = store.subject("fr-jkt", "ord-9")
    first = created("ord-9", 1)
    seq = await store.append(subject, [first], expected_seq=0)
    second = created("ord-9", 2)
    assert await store.append(subject, [second], expected_seq=seq) == await store.append(
        subject, [second], expected_seq=seq
    )
    assert (await store.load(subject)).events == [first, second]


async def test_the_store_remembers_a_bounded_number_of_aggregates(bus: EventBus) -> None:
    store = AggregateStore(bus, f"t{secrets.token_hex(3)}", cache_size=2)
    await store.start()
    try:
        subjects = [store.subject("fr-jkt", f"ord-{n}") for n in range(3)]
        for n, subject in enumerate(subjects):
            await store.append(subject, [created(f"ord-{n}")], expected_seq=0)
        before = messages_read(store)
        # The oldest fell out: its history is read again, the two most recent are known.
        assert len((await store.load(subjects[0])).events) == 1
        assert messages_read(store) == before + 1
        assert len((await store.load(subjects[2])).events) == 1
        assert messages_read(store) == before + 1
    finally:
        await bus.js.delete_stream(store.spec.name)
