"""Applying events to the projections, live and in a rebuild from the streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bobaku.kernel import streams
from bobaku.kernel.bus import Delivery, EventBus, Handler, decode_events
from bobaku.kernel.events import Event
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.events import LOYALTY_EVENTS, ORDER_EVENTS
from bobaku.services.analytics.domain.model import (
    Contribution,
    OrderFacts,
    contribution,
    fold,
    merge,
)
from bobaku.services.analytics.service_layer.feed import FiguresFeed

log = logging.getLogger(__name__)


async def handle(
    store: ProjectionStore, event: Event, gen: int | None = None, feed: FiguresFeed | None = None
) -> bool:
    """Apply one event to the current generation; True if a figure moved (and then, with a
    ``feed``, the order's franchise and outlet are told the hub's feeds)."""
    if event.type in ORDER_EVENTS:
        facts = await store.apply_order_event(event, gen)
        if facts is not None and feed is not None:
            feed.moved(facts)
        return facts is not None
    if (counter := LOYALTY_EVENTS.get(event.type)) is not None:
        return await store.apply_loyalty_event(event, counter, gen)
    return False


def live_handler(store: ProjectionStore, feed: FiguresFeed | None = None) -> Handler:
    async def on_event(event: Event, _: Delivery) -> None:
        await handle(store, event, feed=feed)

    return on_event


async def stream_events(
    bus: EventBus, stream: str, after_seq: int, upto_seq: int, batch: int = 500
) -> AsyncIterator[tuple[int, Event]]:
    """The events stored in ``stream`` in (after_seq, upto_seq], oldest first, read with an
    ephemeral pull consumer (nothing left on the server once read). Pulled a batch at a time
    while the caller keeps up: a push consumer overran a slow fold and dropped messages."""
    if upto_seq <= after_seq:
        return
    try:
        state = (await bus.js.stream_info(stream)).state
    except NotFoundError:
        return
    if state.messages == 0 or upto_seq < state.first_seq:
        return  # purged (the generated history is, by the benchmark)
    sub = await bus.js.pull_subscribe(
        ">",
        stream=stream,
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
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                try:
                    events = decode_events(msg.data, msg.headers)
                except ValueError:
                    events = []  # a poison message is the live consumer's to dead-letter
                for event in events:
                    yield seq, event
                if seq >= upto_seq:
                    break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def last_seq(bus: EventBus, stream: str) -> int:
    try:
        info = await bus.js.stream_info(stream)
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
    progress: Callable[[int, int], None] | None = None,
    switch: bool = True,
    now: float | None = None,
) -> Rebuilt:
    """Fold every stored order and loyalty event into a new generation, then make it current.

    The fold runs in memory and writes each key once; events that arrive meanwhile are
    applied afterwards by the same per-event path the live consumer uses (idempotent, so the
    overlap with the live consumer counts once)."""
    started = now if now is not None else time.time()
    current = await store.generation(fresh=True)
    gen = current + 1
    await store.drop(gen)  # a rebuild that died half-way left it behind
    read = (streams.ORDER.name, streams.LOYALTY.name, streams.ORDER_HISTORY.name)
    upto = {s: await last_seq(bus, s) for s in read}
    total = sum(upto.values())
    facts: dict[str, OrderFacts] = {}
    loyalty: Contribution = {}
    markers: list[str] = []
    seen: set[str] = set()
    events = 0
    for stream, top in upto.items():
        reported = 0
        async for seq, event in stream_events(bus, stream, 0, top):
            events += 1
            if event.type in ORDER_EVENTS and (order_id := event.data.get("order_id")):
                facts[order_id] = fold(facts.get(order_id) or OrderFacts(order_id), event)
            elif (counter := LOYALTY_EVENTS.get(event.type)) is not None and event.id not in seen:
                seen.add(event.id)
                markers.append(event.id)
                p = store.prefix(gen)
                for key in store.loyalty_keys(p, event):
                    row = loyalty.setdefault(key[len(p) + 1 :], {})
                    row[counter] = row.get(counter, 0) + int(event.data.get("points", 0))
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
    await store.write_bulk(gen, orders, totals, markers)
    if switch:
        await store.switch(gen)
        # Whatever was stored while we folded: through the live path, into the new model.
        for stream, top in upto.items():
            async for _, event in stream_events(bus, stream, top, await last_seq(bus, stream)):
                await handle(store, event, gen)
        await asyncio.sleep(1.5)  # live consumers see the new generation within a second
        await store.drop(current)
    return Rebuilt(gen, events, len(facts), upto)
