"""Channel history on JetStream: the router that writes it, the feed that reads it live,
and the reads that recovery needs.

**One history, shared by every replica.** The hub owns a stream (``HUB`` by default) with
one subject per channel (``hub.<deployment>.kitchen.outlet-23``). A publication's *offset* is its
sequence in that stream, so every replica reports the same offset for the same
publication, and a client may resume on any of them. The *epoch* is the stream's creation
time: a recreated stream starts a new epoch and old offsets mean nothing in it.

**The router.** Source events (``ES_ORDER``, ``ES_PAYMENT``, ``notification.requested`` on
``EVENTS``) are read through one durable consumer per source, shared by all replicas, with
at most one message unacknowledged at a time: whichever replica holds it stores the
event's publications before acknowledging, so publications are stored in source order
even when replicas take turns. Each publication carries ``Nats-Msg-Id`` =
``<event id>|<channel>``, so a redelivered event is stored once.

**The chain.** Each append also carries ``Nats-Expected-Last-Subject-Sequence`` = the
channel's previous offset; the server refuses it if another writer got in between (then the
router rereads the channel's last offset and retries). The header stays on the stored
message, so every publication names its predecessor on its channel: recovery checks that
the first publication after a client's offset follows it directly, and so knows when
retention removed something the client never saw.

**The feed.** Each replica reads its deployment's channels (``hub.<deployment>.>``) with
an ordered consumer from the stream's end at start-up. ``position`` is the last stream
sequence it has fanned out, a safe starting point for a new subscription: everything after
it is still to come.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from bobaku.hub.channel_routes import ChannelRoute, routes_for
from bobaku.hub.channels import Channel, channel_of_subject
from bobaku.hub.metrics import PUBLICATIONS_ROUTED
from bobaku.hub.settings import HubSettings
from bobaku.kernel import streams, tracing
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, StreamSpec
from bobaku.kernel.events import Event
from bobaku.kernel.eventstore import WRONG_LAST_SEQUENCE, AggregateStore
from bobaku.kernel.lru import LruMap

log = logging.getLogger(__name__)

PREV_HEADER = "Nats-Expected-Last-Subject-Sequence"
EVENT_TIME_HEADER = "Bobaku-Event-Time"
_APPEND_ATTEMPTS = 8
_LAST_OFFSET_CACHE = 100_000


@dataclass(frozen=True, slots=True)
class StoredPublication:
    channel: Channel
    offset: int
    # The channel's previous offset when this one was stored (0: it was the first); None
    # when the header is missing, which recovery treats as "cannot prove continuity".
    prev: int | None
    body: bytes
    event_time: float | None


def _publication(
    subject: str, seq: int, headers: dict[str, str] | None, body: bytes, prefix: str
) -> StoredPublication | None:
    channel = channel_of_subject(subject, prefix)
    if channel is None:
        return None
    headers = headers or {}
    try:
        prev: int | None = int(headers[PREV_HEADER])
    except (KeyError, ValueError):
        prev = None
    try:
        event_time: float | None = float(headers[EVENT_TIME_HEADER])
    except (KeyError, ValueError):
        event_time = None
    return StoredPublication(channel, seq, prev, body, event_time)


class ChannelHistory:
    """The hub's stream: appends with the chain, reads for recovery, the epoch."""

    def __init__(self, bus: EventBus, settings: HubSettings) -> None:
        self.bus = bus
        self.stream = settings.hub_stream
        self.prefix = settings.channel_prefix
        self.deployment = settings.deployment_id
        self.spec = StreamSpec(
            name=settings.hub_stream,
            subjects=(f"{settings.hub_subject_prefix}.>",),
            description="hub channel history: <prefix>.<deployment>.<namespace>.<id>; "
            "offset = stream sequence",
            max_age_s=settings.hub_history_ttl_s,
            duplicate_window_s=min(120.0, settings.hub_history_ttl_s),
            max_msgs_per_subject=settings.hub_history_size,
        )
        self.epoch = ""
        self._last: LruMap[str, int] = LruMap(_LAST_OFFSET_CACHE)

    async def start(self) -> int:
        """Create or update the stream; returns its last sequence (where the feed starts)."""
        await self.bus.ensure_stream(self.spec)
        info = await self.bus.stream_info(self.stream)
        created = info.created.timestamp() if info.created else 0.0
        self.epoch = str(int(created * 1_000_000))
        return int(info.state.last_seq)

    async def bounds(self) -> tuple[int, int]:
        """The stream's first and last sequence now."""
        info = await self.bus.stream_info(self.stream)
        return int(info.state.first_seq), int(info.state.last_seq)

    async def next_after(self, channel: Channel, offset: int) -> StoredPublication | None:
        """The channel's first publication with an offset above ``offset``, if any."""
        subject = channel.subject(self.prefix)
        try:
            raw = await self.bus.get_msg(
                self.stream, seq=offset + 1, subject=subject, next=True, direct=True
            )
        except NotFoundError:
            return None
        if raw.seq is None:
            return None
        return _publication(
            raw.subject or subject, raw.seq, raw.headers, raw.data or b"{}", self.prefix
        )

    async def last_offset(self, subject: str) -> int:
        try:
            raw = await self.bus.get_last_msg(self.stream, subject, direct=True)
        except NotFoundError:
            return 0
        return int(raw.seq or 0)

    async def append(self, route: ChannelRoute, event_time: float) -> tuple[int, bool]:
        """Store one publication after the channel's last; returns (offset, duplicate)."""
        subject = route.channel.subject(self.prefix)
        for _ in range(_APPEND_ATTEMPTS):
            prev = self._last.peek(subject)
            if prev is None:
                prev = await self.last_offset(subject)
            headers = {
                "Nats-Msg-Id": f"{self.deployment}|{route.msg_id}",
                PREV_HEADER: str(prev),
                EVENT_TIME_HEADER: f"{event_time:.6f}",
            }
            try:
                with tracing.publish_span(
                    subject, headers, **{"bobaku.hub.namespace": route.channel.namespace.value}
                ):
                    ack = await self.bus.js_publish(
                        subject, route.body, stream=self.stream, headers=headers
                    )
            except APIError as exc:
                if exc.err_code == WRONG_LAST_SEQUENCE:
                    # Another writer appended to this channel: learn its last offset again.
                    self._last.forget(subject)
                    continue
                raise
            if not ack.duplicate:
                self._last.put(subject, int(ack.seq))
            return int(ack.seq), bool(ack.duplicate)
        raise RuntimeError(f"could not append to {subject} after {_APPEND_ATTEMPTS} attempts")


# name, stream, filter subjects
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("order", streams.ORDER.name, (streams.ORDER.wildcard,)),
    ("payment", streams.PAYMENT.name, (streams.PAYMENT.wildcard,)),
    ("notification", streams.EVENTS.name, (streams.EVENTS.filter("notification.requested"),)),
    ("analytics", streams.EVENTS.name, (streams.EVENTS.filter("analytics.figures_moved"),)),
)


class ChannelRouter:
    """Turns source events into channel publications (any replica may run it, all do)."""

    def __init__(self, bus: EventBus, history: ChannelHistory, settings: HubSettings) -> None:
        self.bus = bus
        self.history = history
        self.settings = settings
        # One event at a time in this process: the chain's retries stay rare.
        self._lock = asyncio.Lock()

    def consumer_specs(self) -> list[ConsumerSpec]:
        return [
            ConsumerSpec(
                durable=f"{self.settings.hub_subject_prefix}-router-{name}",
                stream=stream,
                filter_subjects=filters,
                max_deliveries=self.settings.event_max_deliveries,
                ack_wait_s=self.settings.hub_router_ack_wait_s,
                retry_delays_s=(0.2, 1.0, 2.0),
                batch=1,
                # One message in flight across every replica: events stay in order.
                max_ack_pending=1,
                # A new hub starts with what happens from now on, not years of history.
                deliver_new_only=True,
            )
            for name, stream, filters in SOURCES
        ]

    async def start(self) -> None:
        # The source streams belong to the order and payment services; create them if this
        # hub starts first, exactly as their own aggregate stores would.
        await AggregateStore(self.bus, "order").start()
        await AggregateStore(self.bus, "payment").start()
        for spec in self.consumer_specs():
            await self.bus.consume(spec, self.route)

    async def route(self, event: Event, delivery: Delivery) -> None:
        routes = routes_for(event, delivery.subject)
        if not routes:
            return
        event_time = event.timestamp.timestamp()
        async with self._lock:
            results = await asyncio.gather(*(self.history.append(r, event_time) for r in routes))
        for route, (_, duplicate) in zip(routes, results, strict=True):
            PUBLICATIONS_ROUTED.labels(route.channel.namespace.value, str(duplicate).lower()).inc()


class LiveFeed:
    """This replica's reading of every new publication, in stream order."""

    def __init__(
        self,
        bus: EventBus,
        settings: HubSettings,
        deliver: Callable[[StoredPublication], None],
    ) -> None:
        self.bus = bus
        self.stream = settings.hub_stream
        self.prefix = settings.channel_prefix
        self.deliver = deliver
        # The last stream sequence fanned out on this replica.
        self.position = 0
        self.last_message_at = time.monotonic()
        self._sub: Any = None

    async def start(self, after: int) -> None:
        self.position = after
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        )
        names = self.bus.names
        self._sub = await self.bus.js.subscribe(
            names.subject(f"{self.prefix}.>"),
            stream=names.stream(self.stream),
            cb=self._on_message,
            ordered_consumer=True,
            config=config,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=1024 * 1024 * 1024,
        )

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may already be gone
                log.debug("feed unsubscribe failed: %s", exc)

    async def _on_message(self, msg: Msg) -> None:
        seq = int(msg.metadata.sequence.stream)
        subject = self.bus.names.local_subject(msg.subject)
        publication = _publication(subject, seq, msg.headers, msg.data, self.prefix)
        if publication is not None:
            with tracing.consume_span("hub fan-out", msg.headers) as span:
                try:
                    self.deliver(publication)
                except Exception as exc:
                    tracing.mark_error(span, exc)
                    log.exception("fan-out of %s failed", msg.subject)
        self.position = max(self.position, seq)
        self.last_message_at = time.monotonic()
