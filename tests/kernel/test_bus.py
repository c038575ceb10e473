"""The JetStream event bus: round trip, dedup, redelivery and dead-lettering."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support import CuttableLink, eventually

from bobaku.kernel.bus import (
    DLQ_DELIVERIES,
    DLQ_FROM_SEQ,
    DLQ_REASON,
    TYPES_HEADER,
    ConsumerSpec,
    Delivery,
    EventBus,
    Message,
    Reject,
    StreamSpec,
    encode_events,
    read_dead_letters,
)
from bobaku.kernel.errors import EventSchemaError
from bobaku.kernel.events import Event
from bobaku.kernel.settings import Settings
from bobaku.kernel.telemetry import EVENTS_CONSUMED


def subject_of(stream: StreamSpec) -> str:
    return stream.subjects[0].replace(">", "orders")


def consumer_spec(stream: StreamSpec, name: str, **kw: object) -> ConsumerSpec:
    return ConsumerSpec(
        durable=f"{name}-{stream.name.lower()}",
        stream=stream.name,
        max_deliveries=3,
        retry_delays_s=(0.05,),
        ack_wait_s=5,
        **kw,  # type: ignore[arg-type]
    )


async def test_an_event_makes_the_round_trip_with_its_envelope_intact(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    sent = order_created()
    received: list[tuple[Event, Delivery]] = []

    async def handler(event: Event, delivery: Delivery) -> None:
        received.append((event, delivery))

    await bus.consume(consumer_spec(stream, "roundtrip"), handler)
    await bus.publish(sent, subject_of(stream))
    await eventually(lambda: asyncio.sleep(0, result=received))

    event, delivery = received[0]
    assert event == sent
    assert event.metadata.correlation_id == sent.metadata.correlation_id
    assert event.tenant == "fr-jkt"
    assert delivery.deliveries == 1
    assert delivery.subject == subject_of(stream)


async def test_a_republished_event_id_is_stored_and_handled_once(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    handled: list[str] = []

    async def handler(e: Event, _: Delivery) -> None:
        handled.append(e.id)

    await bus.consume(consumer_spec(stream, "dedup"), handler)
    event = order_created()
    first = await bus.publish(event, subject_of(stream))
    again = await bus.publish(event, subject_of(stream))
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq

    info = await bus.js.stream_info(stream.name)
    assert info.state.messages == 1

    marker = order_created(order_id="ord-marker")
    await bus.publish(marker, subject_of(stream))
    await eventually(lambda: asyncio.sleep(0, result=marker.id in handled))
    assert handled == [event.id, marker.id]


async def test_a_failing_handler_is_redelivered_until_it_succeeds(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    attempts: list[int] = []

    async def flaky(event: Event, delivery: Delivery) -> None:
        attempts.append(delivery.deliveries)
        if len(attempts) < 3:
            raise RuntimeError("database hiccup")

    spec = (await bus.consume(consumer_spec(stream, "flaky"), flaky)).spec
    await bus.publish(order_created(), subject_of(stream))
    await eventually(lambda: asyncio.sleep(0, result=len(attempts) >= 3))
    await asyncio.sleep(0.3)  # time for an unwanted fourth delivery to show up

    assert attempts == [1, 2, 3]
    info = await bus.js.consumer_info(stream.name, spec.durable)
    assert info.num_ack_pending == 0
    assert await read_dead_letters(bus, spec.durable) == []


async def test_a_handler_that_keeps_failing_is_dead_lettered_with_its_last_error(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    attempts: list[int] = []

    async def broken(event: Event, delivery: Delivery) -> None:
        attempts.append(delivery.deliveries)
        raise ValueError(f"outlet {event.data['outlet_id']} unknown")

    spec = (await bus.consume(consumer_spec(stream, "broken"), broken)).spec
    event = order_created()
    ack = await bus.publish(event, subject_of(stream))

    letters = await eventually(lambda: read_dead_letters(bus, spec.durable))
    assert attempts == [1, 2, 3]
    (letter,) = letters
    assert letter["headers"][DLQ_REASON] == (
        "failed 3 deliveries; last error: ValueError: outlet outlet-23 unknown"
    )
    assert letter["headers"][DLQ_FROM_SEQ] == str(ack.seq)
    assert letter["headers"][DLQ_DELIVERIES] == "3"
    assert Event.from_json(letter["data"]) == event


async def test_a_poison_message_goes_to_the_dead_letter_stream_without_retries(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    called: list[str] = []

    async def handler(event: Event, _: Delivery) -> None:
        called.append(event.id)

    spec = (await bus.consume(consumer_spec(stream, "poison"), handler)).spec
    await bus.js.publish(subject_of(stream), b'{"id": "evt-1", "type": "order.created"')
    await bus.js.publish(subject_of(stream), json.dumps({"id": "evt-2", "type": 42}).encode())
    good = order_created()
    await bus.publish(good, subject_of(stream))

    letters = await eventually(lambda: _at_least(2, read_dead_letters(bus, spec.durable)))
    assert [letter["headers"][DLQ_DELIVERIES] for letter in letters] == ["1", "1"]
    assert all(
        letter["headers"][DLQ_REASON].startswith("poison message: not a valid event envelope")
        for letter in letters
    )
    assert "type" in letters[1]["headers"][DLQ_REASON]
    await eventually(lambda: asyncio.sleep(0, result=called))
    assert called == [good.id]


async def test_a_handler_can_reject_a_message_it_will_never_accept(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    async def handler(event: Event, _: Delivery) -> None:
        raise Reject("order for a closed outlet")

    spec = (await bus.consume(consumer_spec(stream, "reject"), handler)).spec
    await bus.publish(order_created(), subject_of(stream))
    (letter,) = await eventually(lambda: read_dead_letters(bus, spec.durable))
    assert letter["headers"][DLQ_REASON] == "rejected by handler: order for a closed outlet"
    assert letter["headers"][DLQ_DELIVERIES] == "1"


async def test_an_event_that_breaks_its_schema_is_refused_before_publishing(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    bad = order_created(total_amount="76000", payment_method="cash")
    with pytest.raises(EventSchemaError) as caught:
        await bus.publish(bad, subject_of(stream))
    fields = {f["field"] for f in caught.value.details["fields"]}
    assert fields == {"total_amount", "payment_method"}
    info = await bus.js.stream_info(stream.name)
    assert info.state.messages == 0


async def _at_least(n: int, letters: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    found = await letters
    return found if len(found) >= n else []


async def test_stopping_consumers_lets_the_handler_in_flight_finish_and_ack(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    inside = asyncio.Event()
    finished: list[str] = []

    async def slow(event: Event, _: Delivery) -> None:
        inside.set()
        await asyncio.sleep(0.5)
        finished.append(event.id)

    spec = (await bus.consume(consumer_spec(stream, "drain"), slow)).spec
    event = order_created()
    await bus.publish(event, subject_of(stream))
    await asyncio.wait_for(inside.wait(), 10)
    await bus.stop_consumers(grace_s=5)

    assert finished == [event.id]

    # The ack is a plain publish: JetStream applies it a moment after stop_consumers returns
    # (under load the consumer's state can still show it pending). It must arrive, and the
    # message must never have been redelivered.
    async def settled() -> tuple[int, int, int]:
        info = await bus.js.consumer_info(stream.name, spec.durable)
        state = (info.num_ack_pending, info.num_pending, info.num_redelivered)
        assert state == (0, 0, 0), state
        return state

    await eventually(settled, timeout=5)


async def test_a_batch_consumer_hands_over_a_fetch_at_once_and_acks_it_after(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    sent = [order_created() for _ in range(12)]
    for event in sent:
        await bus.publish(event, subject_of(stream))
    batches: list[list[Message]] = []

    async def handler(messages: list[Message]) -> None:
        batches.append(messages)

    # A consumer that starts at the stream's beginning (the suite's start at new messages).
    replaying = EventBus(bus.nc, deployment_id=bus.deployment_id, names=bus.names)
    consumer = await replaying.consume_batches(consumer_spec(stream, "batches", batch=32), handler)
    spec = consumer.spec
    await eventually(lambda: asyncio.sleep(0, result=sum(len(b) for b in batches) == 12))
    await consumer.stop(grace_s=2)
    # Stored before the consumer started: one fetch, one call, in stream order.
    assert len(batches) == 1
    assert [m.events[0] for m in batches[0]] == sent
    seqs = [m.delivery.stream_seq for m in batches[0]]
    assert seqs == sorted(seqs)
    info = await bus.js.consumer_info(stream.name, spec.durable)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


async def test_a_failing_batch_is_retried_message_by_message_and_only_the_bad_one_waits(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    good = [order_created() for _ in range(4)]
    bad = order_created(outlet_id="outlet-broken")
    for event in (*good[:2], bad, *good[2:]):
        await bus.publish(event, subject_of(stream))
    applied: list[str] = []
    attempts: list[int] = []

    async def handler(messages: list[Message]) -> None:
        for m in messages:
            if m.events[0].id == bad.id:
                attempts.append(m.delivery.deliveries)
                raise ValueError("outlet unknown")
        applied.extend(m.events[0].id for m in messages)

    replaying = EventBus(bus.nc, deployment_id=bus.deployment_id, names=bus.names)
    consumer = await replaying.consume_batches(
        consumer_spec(stream, "batchfail", batch=32), handler
    )
    spec = consumer.spec
    letters = await eventually(lambda: read_dead_letters(bus, spec.durable))
    await consumer.stop(grace_s=2)
    # The four good ones counted once each (the failed batch wrote nothing of them);
    # the bad one was redelivered alone and then dead-lettered.
    assert sorted(applied) == sorted(e.id for e in good)
    assert set(attempts) == {1, 2, 3}
    assert attempts[-1] == 3
    (letter,) = letters
    assert letter["headers"][DLQ_REASON] == (
        "failed 3 deliveries; last error: ValueError: outlet unknown"
    )
    info = await bus.js.consumer_info(stream.name, spec.durable)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


async def test_a_batch_message_knows_the_subject_sequence_it_was_appended_after(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    subject = subject_of(stream)
    first = await bus.js.publish(
        subject, order_created().to_json(), headers={"Nats-Expected-Last-Subject-Sequence": "0"}
    )
    await bus.js.publish(
        subject,
        order_created().to_json(),
        headers={"Nats-Expected-Last-Subject-Sequence": str(first.seq)},
    )
    await bus.js.publish(subject, order_created().to_json())
    seen: list[Message] = []

    async def handler(messages: list[Message]) -> None:
        seen.extend(messages)

    replaying = EventBus(bus.nc, deployment_id=bus.deployment_id, names=bus.names)
    consumer = await replaying.consume_batches(consumer_spec(stream, "after"), handler)
    await eventually(lambda: asyncio.sleep(0, result=len(seen) == 3))
    await consumer.stop(grace_s=2)
    assert [m.delivery.after_seq for m in seen] == [0, first.seq, None]


async def test_a_consumer_of_some_event_types_gets_those_and_acks_the_rest_unread(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    """``ConsumerSpec.event_types``: by the types header when the message has one (no
    decoding), by the decoded events otherwise (a message stored before the header)."""
    wanted = "order.payment_completed"

    def typed(type_: str) -> Event:
        return order_created().model_copy(update={"type": type_})

    handled: list[tuple[str, int]] = []

    async def handler(event: Event, delivery: Delivery) -> None:
        handled.append((event.type, delivery.index_in_batch))

    spec = consumer_spec(stream, "typed", event_types=frozenset({wanted}))
    durable = (await bus.consume(spec, handler)).spec.durable
    subject = subject_of(stream)
    messages = [
        [typed("order.created")],  # skipped by its header
        [typed(wanted)],
        [typed("order.cancelled"), typed(wanted)],  # a commit of two: the wanted one only
    ]
    for events in messages:
        body, headers = encode_events(events)
        assert headers[TYPES_HEADER] == ",".join(sorted({e.type for e in events}))
        await bus.js.publish(subject, body, headers=headers)
    # Without the header (stored before it existed): decoded, then filtered.
    await bus.js.publish(subject, typed("order.ready").to_json())
    await bus.js.publish(subject, typed(wanted).to_json())
    skipped = EVENTS_CONSUMED.labels(consumer=durable, outcome="skipped")
    await eventually(lambda: asyncio.sleep(0, result=len(handled) >= 3))

    async def all_acked() -> bool:
        info = await bus.js.consumer_info(stream.name, durable)
        return info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(all_acked)
    assert handled == [(wanted, 0), (wanted, 1), (wanted, 0)]
    assert skipped._value.get() == 1  # the header said: nothing wanted here
    with pytest.raises(ValueError, match="event_types"):
        await bus.consume_batches(spec, lambda messages: asyncio.sleep(0))


async def test_a_consumer_keeps_one_pull_open_instead_of_asking_for_each_message(
    bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    """Events that come one by one cost no pull request each (kernel/pull.py): the
    consumer's request for a batch stays open and is topped up at half. nats-py's fetch
    sent two requests per message here (a no-wait probe, then a lingering pull)."""
    handled: list[str] = []

    async def handler(event: Event, delivery: Delivery) -> None:
        handled.append(event.id)

    spec = consumer_spec(stream, "standing", batch=8)
    durable = (await bus.consume(spec, handler)).spec.durable
    requests: list[dict[str, Any]] = []

    async def on_request(msg: Any) -> None:
        requests.append(json.loads(msg.data))

    watch = await bus.nc.subscribe(
        f"$JS.API.CONSUMER.MSG.NEXT.{stream.name}.{durable}", cb=on_request
    )
    begun = asyncio.get_running_loop().time()
    sent = []
    for _ in range(24):  # one at a time: each handled before the next is stored
        event = order_created()
        await bus.js.publish(subject_of(stream), event.to_json())
        sent.append(event.id)
        await eventually(lambda: asyncio.sleep(0, result=len(handled) == len(sent)))
    elapsed = asyncio.get_running_loop().time() - begun
    await watch.unsubscribe()
    assert handled == sent
    # A top-up per half batch, and a renewal per expiry (5 s) of an open request.
    assert 1 <= len(requests) <= 24 // 4 + 2 + int(elapsed // 5)
    assert all(r["batch"] <= 8 and r["idle_heartbeat"] > 0 for r in requests)


async def test_a_consumer_asks_again_after_its_connection_is_cut(
    settings: Settings, bus: EventBus, stream: StreamSpec, order_created: Callable[..., Event]
) -> None:
    """The pull requests a server held for a lost connection are gone with it: after the
    reconnect the consumer asks again, and events stored during the cut still arrive
    (one the server handed to the lost connection comes back after ack_wait)."""
    host, _, port = settings.nats_url.removeprefix("nats://").partition(":")
    link = CuttableLink(host, int(port.rstrip("/"))).start()
    linked = await EventBus.connect(
        settings.model_copy(update={"nats_url": f"nats://127.0.0.1:{link.port}"}), streams=()
    )
    handled: list[str] = []

    async def handler(event: Event, delivery: Delivery) -> None:
        handled.append(event.id)

    try:
        await linked.consume(consumer_spec(stream, "cut"), handler)
        first = order_created()
        await bus.js.publish(subject_of(stream), first.to_json())
        await eventually(lambda: asyncio.sleep(0, result=handled == [first.id]))
        reconnects = linked.nc.stats["reconnects"]
        link.cut()
        during = order_created()
        await bus.js.publish(subject_of(stream), during.to_json())
        await asyncio.sleep(1.0)
        link.restore()
        await eventually(
            lambda: asyncio.sleep(0, result=linked.nc.stats["reconnects"] > reconnects)
        )
        after = order_created()
        await bus.js.publish(subject_of(stream), after.to_json())
        everything = sorted([first.id, during.id, after.id])
        await eventually(lambda: asyncio.sleep(0, result=sorted(handled) == everything), timeout=20)
    finally:
        await linked.close()
        link.close()
