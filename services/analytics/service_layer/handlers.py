"""Applying events to the projections, live and in a rebuild from the streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Container
from dataclasses import dataclass, field

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bobaku.kernel.bus import BatchHandler, Delivery, EventBus, Message, after_seq_of, decode_events
from bobaku.services.analytics.adapters.store import Filler, ProjectionStore
from bobaku.services.analytics.domain.events import LEDGER_PREFIX, LOYALTY_EVENTS, ORDER_EVENTS
from bobaku.services.analytics.domain.model import (
    Contribution,
    OrderFacts,
    add_to,
    contribution,
    fold,
    franchise_of,
    merge,
)
from bobaku.services.analytics.service_layer.feed import FiguresFeed
from bobaku.services.analytics.service_layer.metrics import observe_lag
from bobaku.services.analytics.service_layer.sources import PLATFORM, Sources

log = logging.getLogger(__name__)


def ledger_gaps(bus: EventBus) -> Filler:
    """Reads a ledger subject's messages stored in (after, before) of a stream, oldest
    first: what a message appended after an unapplied one needs applied before it."""

    async def fill(stream: str, subject: str, after: int, before: int) -> list[Message]:
        out: list[Message] = []
        seq = after + 1
        while seq < before:
            try:
                raw = await bus.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            if raw.seq is None or raw.seq >= before:
                break
            try:
                events = decode_events(raw.data or b"", raw.headers)
            except ValueError:
                events = []  # the live consumer dead-letters it; nothing to count
            delivery = Delivery(subject, stream, raw.seq, 1, after_seq=after_seq_of(raw.headers))
            out.append(Message(events, delivery))
            seq = raw.seq + 1
        return out

    return fill


def live_handler(
    store: ProjectionStore,
    bus: EventBus,
    feed: FiguresFeed | None = None,
    lag_streams: Container[str] = (),
) -> BatchHandler:
    """The live consumers' handler: a fetched batch folded and written at once (the bus
    acknowledges it after this returns); the feed hears of every order that moved. The
    payment -> figure lag is observed on ``lag_streams`` (the live orders, not the seeded
    past)."""
    fill = ledger_gaps(bus)

    async def on_batch(messages: list[Message]) -> None:
        moved = await store.apply(messages, fill=fill)
        if moved and lag_streams:
            live = [m for m in messages if m.delivery.stream in lag_streams]
            observe_lag(live, moved, time.time())
        if feed is not None:
            for facts in moved:
                feed.moved(facts)

    return on_batch


async def stream_messages(
    bus: EventBus, stream: str, after_seq: int, upto_seq: int, batch: int = 500
) -> AsyncIterator[list[Message]]:
    """The messages stored in ``stream`` in (after_seq, upto_seq], oldest first, a fetch
    at a time, read with an ephemeral pull consumer (nothing left on the server once read).
    Pulled while the caller keeps up: a push consumer overran a slow fold and dropped
    messages."""
    if upto_seq <= after_seq:
        return
    try:
        state = (await bus.stream_info(stream)).state
    except NotFoundError:
        return
    if state.messages == 0 or upto_seq < state.first_seq:
        return  # purged
    sub = await bus.js.pull_subscribe(
        bus.names.subject(">"),
        stream=bus.names.stream(stream),
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after_seq + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=120.0,
        ),
    )
    try:
        seq = after_seq
        while seq < upto_seq:
            try:
                msgs = await sub.fetch(min(batch, upto_seq - seq), timeout=5)
            except NatsTimeoutError:
                break  # nothing more stored up to upto_seq (the rest was deleted)
            out: list[Message] = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq > upto_seq:
                    break
                try:
                    events = decode_events(msg.data, msg.headers)
                except ValueError:
                    events = []  # a poison message is the live consumer's to dead-letter
                delivery = Delivery(
                    bus.names.local_subject(msg.subject), stream, seq, 1,
                    after_seq=after_seq_of(msg.headers),
                )  # fmt: skip
                out.append(Message(events, delivery))
            if out:
                yield out
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def last_seq(bus: EventBus, stream: str) -> int:
    try:
        info = await bus.stream_info(stream)
    except NotFoundError:
        return 0
    return int(info.state.last_seq)


@dataclass
class Rebuilt:
    generation: int
    events: int
    orders: int
    upto: dict[str, int] = field(default_factory=dict)


async def rebuild(
    bus: EventBus,
    store: ProjectionStore,
    *,
    sources: Sources = PLATFORM,
    progress: Callable[[int, int], None] | None = None,
    switch: bool = True,
    now: float | None = None,
) -> Rebuilt:
    """Fold every stored order and loyalty message into a new generation, then make it
    current.

    The fold runs in memory and writes each key once, with every ledger's position; what
    arrives meanwhile is applied afterwards through the live consumers' batch path
    (idempotent, so the overlap with them counts once)."""
    started = now if now is not None else time.time()
    current = await store.generation(fresh=True)
    gen = current + 1
    await store.drop(gen)  # a rebuild that died half-way left it behind
    upto = {s: await last_seq(bus, s) for s in sources.names}
    total = sum(upto.values())
    facts: dict[str, OrderFacts] = {}
    loyalty: Contribution = {}
    positions: dict[str, dict[str, int]] = {}
    events = 0
    for stream, top in upto.items():
        reported = 0
        async for chunk in stream_messages(bus, stream, 0, top):
            for message in chunk:
                ledger = False
                for event in message.events:
                    events += 1
                    if event.type in ORDER_EVENTS and (order_id := event.data.get("order_id")):
                        if store.rules.share.handles(franchise_of(event)):
                            known = facts.get(order_id) or OrderFacts(order_id)
                            facts[order_id] = fold(known, event)
                    elif event.type.startswith(LEDGER_PREFIX):
                        ledger = True
                        if (counter := LOYALTY_EVENTS.get(event.type)) is None:
                            continue
                        for key in store.loyalty_keys(event):
                            add_to(loyalty, key, counter, int(event.data.get("points", 0)))
                if ledger:
                    d = message.delivery
                    positions.setdefault(stream, {})[d.subject] = d.stream_seq
            seq = chunk[-1].delivery.stream_seq
            if progress is not None and seq - reported >= 500:
                progress(seq - reported, total)
                reported = seq
        if progress is not None:
            progress(top - reported, total)
    orders: dict[str, tuple[OrderFacts, Contribution]] = {}
    totals: Contribution = {}
    for order_id, f in facts.items():
        c = contribution(f, store.rules, started)
        orders[order_id] = (f, c)
        merge(totals, c)
    merge(totals, loyalty)
    await store.write_bulk(gen, orders, totals, positions)
    if switch:
        await store.switch(gen)
        fill = ledger_gaps(bus)
        # Whatever was stored while we folded, through the live path into the new model;
        # twice: a live consumer may write to the old generation for up to a second after
        # the switch (its cached pointer), and what it wrote then the second pass covers.
        applied = dict(upto)
        for _ in range(2):
            for stream, top in applied.items():
                newest = await last_seq(bus, stream)
                async for chunk in stream_messages(bus, stream, top, newest):
                    await store.apply(chunk, gen, fill=fill)
                applied[stream] = newest
            await asyncio.sleep(1.5)
        await store.drop(current)
    return Rebuilt(gen, events, len(facts), upto)
