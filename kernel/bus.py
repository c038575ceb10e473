"""The event bus on NATS JetStream.

- Streams and consumers are declared in code (:class:`StreamSpec`, :class:`ConsumerSpec`)
  and created or updated at start-up, so a fresh server needs no manual setup.
- :meth:`EventBus.publish` validates the event against its schema and publishes it with
  ``Nats-Msg-Id`` = event id: a retried publish inside the stream's duplicate window is
  dropped by the server.
- :meth:`EventBus.consume` runs a durable pull consumer with explicit acks. A handler that
  raises is redelivered with back-off; after ``max_deliveries`` attempts, or at once for a
  message that is not a valid event (a poison message) or a :class:`Reject`, the message is
  copied to the dead-letter stream with the reason in its headers and terminated.
- A message may carry one event or, from the aggregate store, a batch committed atomically
  (header ``Bobaku-Batch``); handlers always see one event at a time.
- :meth:`EventBus.consume_batches` feeds a handler every message of one fetch at once (a
  projection folds them in memory and writes once); the fetch is acknowledged after the
  handler returns. A batch that fails is tried again message by message, so one bad message
  is redelivered or dead-lettered alone and the others are acknowledged.
- Names are logical in the code (``ES_ORDER``, ``es.order.<tenant>.<id>``); the bus maps
  them to its deployment's (:mod:`bobaku.kernel.names`) wherever it talks to the server, so
  two deployments on one NATS never see each other's streams, subjects or buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    PubAck,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from bobaku.kernel import tracing
from bobaku.kernel.context import correlation_id_var, trace_id_var
from bobaku.kernel.events import Event, SchemaRegistry, default_registry
from bobaku.kernel.names import Names, names_for
from bobaku.kernel.pull import StandingPull
from bobaku.kernel.settings import Settings
from bobaku.kernel.telemetry import (
    CONSUMER_HANDLE_SECONDS,
    CONSUMER_PENDING,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_PUBLISHED,
)

log = logging.getLogger(__name__)

BATCH_HEADER = "Bobaku-Batch"
# The event types a stored message holds (comma-separated): a consumer that wants only some
# types (``ConsumerSpec.event_types``) acknowledges the others without decoding them.
TYPES_HEADER = "Bobaku-Types"
DLQ_STREAM = "DEAD_LETTERS"
DLQ_SUBJECT_PREFIX = "deadletter"
DLQ_REASON = "Bobaku-Dlq-Reason"
DLQ_FROM_STREAM = "Bobaku-Dlq-Stream"
DLQ_FROM_CONSUMER = "Bobaku-Dlq-Consumer"
DLQ_FROM_SUBJECT = "Bobaku-Dlq-Subject"
DLQ_FROM_SEQ = "Bobaku-Dlq-Stream-Seq"
DLQ_DELIVERIES = "Bobaku-Dlq-Deliveries"

EVENTS_STREAM = "EVENTS"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str = ""
    max_age_s: float | None = None
    duplicate_window_s: float = 120.0
    storage: StorageType = StorageType.FILE
    # Keep at most this many messages per subject (-1: no limit), e.g. a bounded history.
    max_msgs_per_subject: int = -1

    def config(self, names: Names | None = None) -> StreamConfig:
        names = names or names_for()
        return StreamConfig(
            name=names.stream(self.name),
            description=self.description or None,
            subjects=list(names.subjects(self.subjects)),
            storage=self.storage,
            max_age=self.max_age_s,
            duplicate_window=self.duplicate_window_s,
            max_msgs_per_subject=self.max_msgs_per_subject,
            allow_direct=True,
        )


# The integration-event stream (facts that are not an aggregate's own history) and the
# dead-letter stream every consumer shares.
EVENTS = StreamSpec(EVENTS_STREAM, ("events.>",), "integration events: events.<tenant>.<type>")
DEAD_LETTERS = StreamSpec(
    DLQ_STREAM,
    (f"{DLQ_SUBJECT_PREFIX}.>",),
    "messages a consumer gave up on, with the reason in Bobaku-Dlq-Reason",
    max_age_s=30 * 24 * 3600,
)


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer. ``max_deliveries`` bounds redelivery before dead-lettering."""

    durable: str
    stream: str
    filter_subjects: tuple[str, ...] = ()
    max_deliveries: int = 5
    ack_wait_s: float = 30.0
    # Delay before each redelivery after a failure (the last value repeats).
    retry_delays_s: tuple[float, ...] = (0.2, 1.0, 5.0)
    batch: int = 32
    deliver_new_only: bool = False
    # Unacknowledged messages allowed across every puller; 1 keeps strict order even with
    # several replicas pulling. None: a few batches' worth.
    max_ack_pending: int | None = None
    # Only these event types reach the handler (empty: all). The others are acknowledged
    # unread: by the message's types header, without decoding, span or validation. Aggregate
    # subjects do not name the event type, so the server cannot filter them.
    event_types: frozenset[str] = frozenset()

    def config(self, names: Names | None = None) -> ConsumerConfig:
        filters = list((names or names_for()).subjects(self.filter_subjects))
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            # One delivery beyond ours, so that a crash during the last attempt still
            # leaves a delivery on which we dead-letter instead of silently dropping.
            max_deliver=self.max_deliveries + 1,
            deliver_policy=DeliverPolicy.NEW if self.deliver_new_only else DeliverPolicy.ALL,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
            max_ack_pending=self.max_ack_pending or max(self.batch * 4, 256),
        )


@dataclass(frozen=True)
class Delivery:
    """Where an event came from, for handlers that need it (e.g. projections)."""

    subject: str
    stream: str
    stream_seq: int
    deliveries: int
    index_in_batch: int = 0
    # The sequence the subject was at when this message was appended (the aggregate store's
    # Nats-Expected-Last-Subject-Sequence, kept with the message); None when not given.
    after_seq: int | None = None


Handler = Callable[[Event, Delivery], Awaitable[None]]


@dataclass(frozen=True)
class Message:
    """One stored message as a batch handler sees it: its events (one, or an aggregate's
    commit) and where it came from."""

    events: list[Event]
    delivery: Delivery


BatchHandler = Callable[[list[Message]], Awaitable[None]]


def after_seq_of(headers: dict[str, str] | None) -> int | None:
    raw = (headers or {}).get("Nats-Expected-Last-Subject-Sequence")
    return int(raw) if raw and raw.isdigit() else None


class Reject(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it now."""


class RetryLater(Exception):
    """Raised by a handler that knows when to try again (an upstream's Retry-After, a
    delivery deferred to a later hour): redeliver after ``delay_s`` instead of the spec's
    back-off. It still counts as a delivery."""

    def __init__(self, delay_s: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay_s:.1f}s")
        self.delay_s = max(0.0, delay_s)


def event_subject(event: Event) -> str:
    """``events.<tenant>.<type>``; brand-wide events use the tenant ``brand``."""
    return f"events.{event.tenant or 'brand'}.{event.type}"


def decode_events(data: bytes, headers: dict[str, str] | None) -> list[Event]:
    """The events of one stored message: one, or a batch committed together."""
    if headers and headers.get(BATCH_HEADER):
        raw = json.loads(data)
        if not isinstance(raw, list):
            raise ValueError("batch message body is not a JSON array")
        return [Event.model_validate(item) for item in raw]
    return [Event.from_json(data)]


def encode_events(events: Sequence[Event]) -> tuple[bytes, dict[str, str]]:
    types = {TYPES_HEADER: ",".join(sorted({e.type for e in events}))}
    if len(events) == 1:
        return events[0].to_json(), types
    body = json.dumps([e.model_dump(mode="json") for e in events]).encode()
    return body, {BATCH_HEADER: str(len(events)), **types}


def holds_none_of(headers: dict[str, str] | None, wanted: frozenset[str]) -> bool:
    """True when the message says which types it holds and none is wanted (a message
    without the header, written before it existed, is decoded and filtered instead)."""
    listed = (headers or {}).get(TYPES_HEADER)
    return listed is not None and wanted.isdisjoint(listed.split(","))


class EventBus:
    def __init__(
        self,
        nc: NATS,
        registry: SchemaRegistry | None = None,
        *,
        deployment_id: str = "bobaku",
        names: Names | None = None,
        new_consumers_start_at_new: bool = False,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5.0)
        self.registry = registry or default_registry()
        # Durables are named by deployment_id; streams, subjects and buckets by ``names``
        # (the same deployment unless Settings.nats_deployment_id says otherwise).
        self.deployment_id = deployment_id
        self.names = names or names_for(deployment_id)
        self.new_consumers_start_at_new = new_consumers_start_at_new
        # Which messages this process's consumers handle, by logical subject; the rest are
        # acknowledged unhandled (a franchise's work left to its silo: kernel.web's
        # franchise_scoped). None: every message.
        self.scope: Callable[[str], bool] | None = None
        self._consumers: list[Consumer] = []

    @classmethod
    async def connect(
        cls,
        settings: Settings,
        registry: SchemaRegistry | None = None,
        *,
        streams: Sequence[StreamSpec] = (EVENTS, DEAD_LETTERS),
    ) -> EventBus:
        nc = await nats.connect(
            settings.nats_url,
            name=settings.service_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=3,
        )
        bus = cls(
            nc,
            registry,
            deployment_id=settings.instance_id,
            names=settings.nats_names,
            new_consumers_start_at_new=settings.consumers_start_at == "new",
        )
        for spec in streams:
            await bus.ensure_stream(spec)
        return bus

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def key_value(self, config: KeyValueConfig) -> KeyValue:
        """This deployment's key-value bucket ``config.bucket``, created with ``config`` if
        it is not there yet (either side of a bucket may start first)."""
        config = replace(config, bucket=self.names.bucket(config.bucket))
        try:
            return await self.js.key_value(config.bucket)
        except BucketNotFoundError:
            return await self.js.create_key_value(config)

    async def existing_key_value(self, bucket: str) -> KeyValue:
        """This deployment's bucket ``bucket``; ``BucketNotFoundError`` when it is not there."""
        return await self.js.key_value(self.names.bucket(bucket))

    async def ensure_stream(self, spec: StreamSpec) -> None:
        """Create the stream, or bring an existing one in line with the spec."""
        config = spec.config(self.names)
        try:
            await self.js.stream_info(self.names.stream(spec.name))
        except NotFoundError:
            await self.js.add_stream(config)
        else:
            await self.js.update_stream(config)

    # Reads of this deployment's streams by their logical names (subjects logical too).
    async def stream_info(self, stream: str) -> Any:
        return await self.js.stream_info(self.names.stream(stream))

    async def get_msg(self, stream: str, *, seq: int, subject: str | None = None,
                      next: bool = False, direct: bool = False) -> Any:  # fmt: skip
        raw = await self.js.get_msg(
            self.names.stream(stream), seq=seq, next=next, direct=direct,
            subject=self.names.subject(subject) if subject else None,
        )  # fmt: skip
        if raw.subject:
            raw.subject = self.names.local_subject(raw.subject)
        return raw

    async def get_last_msg(self, stream: str, subject: str, *, direct: bool = False) -> Any:
        raw = await self.js.get_last_msg(
            self.names.stream(stream), self.names.subject(subject), direct=direct
        )
        if raw.subject:
            raw.subject = self.names.local_subject(raw.subject)
        return raw

    async def js_publish(
        self, subject: str, payload: bytes, *, headers: dict[str, str] | None = None,
        stream: str | None = None,
    ) -> PubAck:  # fmt: skip
        """Publish raw bytes on this deployment's ``subject`` (what the aggregate store and
        the hub append); :meth:`publish` is the one for events."""
        return await self.js.publish(
            self.names.subject(subject), payload, headers=headers,
            stream=self.names.stream(stream) if stream else None,
        )  # fmt: skip

    async def publish(self, event: Event, subject: str | None = None) -> PubAck:
        """Validate and publish one integration event; the server drops a repeat of its id."""
        self.registry.validate(event)
        subject = subject or event_subject(event)
        headers = {"Nats-Msg-Id": event.id}
        with tracing.publish_span(subject, headers, **{"bobaku.event.type": event.type}):
            ack = await self.js_publish(subject, event.to_json(), headers=headers)
        EVENTS_PUBLISHED.labels(
            type=event.type, tenant=event.tenant or "brand", duplicate=str(bool(ack.duplicate))
        ).inc()
        return ack

    async def consume(self, spec: ConsumerSpec, handler: Handler) -> Consumer:
        """Start a durable consumer that feeds ``handler`` one event at a time.

        The durable's name is prefixed with the deployment id (see Settings)."""
        spec, sub = await self._bind(spec)
        return self._started(Consumer(self, spec, sub, handler))

    async def consume_batches(self, spec: ConsumerSpec, handler: BatchHandler) -> Consumer:
        """Like :meth:`consume`, but ``handler`` gets every message of a fetch (up to
        ``spec.batch``) in one call, in stream order; all are acknowledged once it returns.

        If it raises, each message is handed to it again alone: those that pass are
        acknowledged, the one that fails is redelivered with back-off or dead-lettered, as
        :meth:`consume` does. The handler must therefore be idempotent per message (it is
        anyway: any message may be redelivered)."""
        if spec.event_types:
            raise ValueError("a batch consumer gets every message: event_types is for consume()")
        spec, sub = await self._bind(spec)
        return self._started(BatchConsumer(self, spec, sub, _unused_handler, batch_handler=handler))

    async def _bind(self, spec: ConsumerSpec) -> tuple[ConsumerSpec, Any]:
        """The durable (named for this deployment) created or updated, its zero-valued
        series registered, and a pull subscription bound to it."""
        spec = replace(
            spec,
            durable=f"{self.deployment_id}-{spec.durable}",
            deliver_new_only=spec.deliver_new_only or self.new_consumers_start_at_new,
        )
        stream = self.names.stream(spec.stream)
        await self.js.add_consumer(stream, spec.config(self.names))
        # Zero-valued series from the start: "no dead letters yet" is data, not a gap.
        EVENTS_DEAD_LETTERED.labels(consumer=spec.durable)
        EVENTS_CONSUMED.labels(consumer=spec.durable, outcome="ok")
        CONSUMER_PENDING.labels(spec.durable)
        sub = StandingPull(self.nc, stream, spec.durable, batch=spec.batch)
        await sub.start()
        return spec, sub

    def _started(self, consumer: Consumer) -> Consumer:
        consumer.start()
        self._consumers.append(consumer)
        return consumer

    async def dead_letter(self, msg: Msg, spec: ConsumerSpec, reason: str) -> None:
        meta = msg.metadata
        headers = {
            DLQ_REASON: reason[:2000],
            DLQ_FROM_STREAM: spec.stream,
            DLQ_FROM_CONSUMER: spec.durable,
            DLQ_FROM_SUBJECT: self.names.local_subject(msg.subject),
            DLQ_FROM_SEQ: str(meta.sequence.stream),
            DLQ_DELIVERIES: str(meta.num_delivered),
            # Dead-lettering the same stored message twice keeps one copy.
            "Nats-Msg-Id": f"dlq-{spec.stream}-{spec.durable}-{meta.sequence.stream}",
        }
        if msg.headers and msg.headers.get(BATCH_HEADER):
            headers[BATCH_HEADER] = msg.headers[BATCH_HEADER]
        await self.js_publish(
            f"{DLQ_SUBJECT_PREFIX}.{spec.stream}.{spec.durable}", msg.data, headers=headers
        )
        EVENTS_DEAD_LETTERED.labels(consumer=spec.durable).inc()
        log.warning(
            "dead-lettered message",
            extra={
                "consumer": spec.durable,
                "subject": msg.subject,
                "stream_seq": meta.sequence.stream,
                "reason": reason,
            },
        )

    async def stop_consumers(self, grace_s: float = 10.0) -> None:
        """Stop fetching and wait for handlers in flight (graceful shutdown)."""
        await asyncio.gather(*(c.stop(grace_s) for c in self._consumers))
        self._consumers.clear()

    async def close(self) -> None:
        await self.stop_consumers()
        with contextlib.suppress(Exception):
            await self.nc.drain()
        if not self.nc.is_closed:
            await self.nc.close()


async def _hand_back(msgs: Sequence[Msg]) -> None:
    """Give messages back to the server at once instead of leaving them to ack_wait."""
    for msg in msgs:
        with contextlib.suppress(Exception):
            await msg.nak()


@dataclass
class Consumer:
    bus: EventBus
    spec: ConsumerSpec
    sub: StandingPull
    handler: Handler
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.spec.durable}")

    async def stop(self, grace_s: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self.sub.unsubscribe()
        await _hand_back(self.sub.take_queued())  # delivered, not handled
        with contextlib.suppress(Exception):
            await self.bus.nc.flush(timeout=2)  # acks are buffered; send them before leaving

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await self.sub.next_batch(timeout=1.0)
            except Exception as exc:  # connection loss: nats-py reconnects on its own
                if self._stopping.is_set():
                    break
                log.warning("fetch failed on %s: %r", self.spec.durable, exc)
                await asyncio.sleep(0.5)
                continue
            if msgs:
                await self._process(msgs)

    async def _process(self, msgs: list[Msg]) -> None:
        for i, msg in enumerate(msgs):
            if self._stopping.is_set():
                await _hand_back(msgs[i:])
                break
            await self._deliver(msg)

    async def _elsewhere(self, msg: Msg) -> bool:
        """Acknowledge a message outside the bus's scope without handling it."""
        scope = self.bus.scope
        if scope is None or scope(self.bus.names.local_subject(msg.subject)):
            return False
        await msg.ack()
        EVENTS_CONSUMED.labels(consumer=self.spec.durable, outcome="elsewhere").inc()
        return True

    async def _deliver(self, msg: Msg) -> None:
        spec = self.spec
        meta = msg.metadata
        if await self._elsewhere(msg):
            return
        if spec.event_types and holds_none_of(msg.headers, spec.event_types):
            await msg.ack()
            EVENTS_CONSUMED.labels(consumer=spec.durable, outcome="skipped").inc()
            return
        attempt = meta.num_delivered
        # The server tells every delivery how many messages still wait behind it: the lag.
        CONSUMER_PENDING.labels(spec.durable).set(meta.num_pending or 0)
        with (
            CONSUMER_HANDLE_SECONDS.labels(spec.durable).time(),
            tracing.consume_span(
                f"consume {spec.durable}",
                msg.headers,
                **{
                    "messaging.destination.name": msg.subject,
                    "messaging.consumer.group.name": spec.durable,
                },
            ),
        ):
            await self._handle(msg, attempt)

    def _delivery(self, msg: Msg, attempt: int, index: int = 0) -> Delivery:
        """Where the message came from, in this deployment's logical names."""
        names = self.bus.names
        return Delivery(
            names.local_subject(msg.subject), names.local_stream(msg.metadata.stream),
            msg.metadata.sequence.stream, attempt, index, after_seq=after_seq_of(msg.headers),
        )  # fmt: skip

    async def _admit(self, msg: Msg, attempt: int) -> list[Event] | None:
        """The message's events, or None once it is dead-lettered: delivered too often, or
        not a valid envelope (it will never become one by waiting)."""
        if attempt > self.spec.max_deliveries:
            await self._give_up(msg, f"exceeded {self.spec.max_deliveries} deliveries")
            return None
        try:
            return decode_events(msg.data, msg.headers)
        except (ValidationError, ValueError) as exc:
            await self._give_up(msg, f"poison message: not a valid event envelope: {exc}")
            return None

    async def _handle(self, msg: Msg, attempt: int) -> None:
        spec = self.spec
        events = await self._admit(msg, attempt)
        if events is None:
            return
        try:
            for index, event in enumerate(events):
                if spec.event_types and event.type not in spec.event_types:
                    continue
                delivery = self._delivery(msg, attempt, index)
                tokens = (
                    correlation_id_var.set(event.metadata.correlation_id),
                    trace_id_var.set(tracing.current_trace_id() or event.metadata.trace_id),
                )
                try:
                    await self.handler(event, delivery)
                finally:
                    correlation_id_var.reset(tokens[0])
                    trace_id_var.reset(tokens[1])
                EVENTS_CONSUMED.labels(consumer=spec.durable, outcome="ok").inc()
        except Exception as exc:
            await self._failed(msg, attempt, exc)
        else:
            await msg.ack()

    async def _failed(self, msg: Msg, attempt: int, exc: Exception) -> None:
        """A handler raised on ``msg``: dead-letter it or have it redelivered later."""
        spec = self.spec
        if isinstance(exc, Reject):
            await self._give_up(msg, f"rejected by handler: {exc}")
            return
        EVENTS_CONSUMED.labels(consumer=spec.durable, outcome="error").inc()
        reason = f"{type(exc).__name__}: {exc}"
        if attempt >= spec.max_deliveries:
            await self._give_up(msg, f"failed {attempt} deliveries; last error: {reason}")
            return
        log.warning(
            "handler failed, will redeliver",
            extra={"consumer": spec.durable, "attempt": attempt, "error": reason},
        )
        delays = spec.retry_delays_s or (1.0,)
        delay = delays[min(attempt - 1, len(delays) - 1)]
        await msg.nak(delay=exc.delay_s if isinstance(exc, RetryLater) else delay)

    async def _give_up(self, msg: Msg, reason: str) -> None:
        await self.bus.dead_letter(msg, self.spec, reason)
        await msg.term()


async def _unused_handler(event: Event, delivery: Delivery) -> None:  # pragma: no cover
    raise AssertionError("a batch consumer hands messages to its batch handler")


@dataclass
class BatchConsumer(Consumer):
    """A consumer that hands every message of a fetch to one call (see consume_batches)."""

    batch_handler: BatchHandler | None = None

    async def _process(self, msgs: list[Msg]) -> None:
        spec = self.spec
        assert self.batch_handler is not None
        ready: list[tuple[Msg, Message]] = []
        for msg in msgs:
            meta = msg.metadata
            attempt = meta.num_delivered
            if await self._elsewhere(msg):
                continue
            events = await self._admit(msg, attempt)
            if events is None:
                continue
            ready.append((msg, Message(events, self._delivery(msg, attempt))))
        if not ready:
            return
        CONSUMER_PENDING.labels(spec.durable).set(ready[-1][0].metadata.num_pending or 0)
        try:
            await self._run_batch(ready)
        except Exception as exc:
            if len(ready) == 1:
                await self._failed(ready[0][0], ready[0][1].delivery.deliveries, exc)
                return
            # Find the bad message: each alone (the handler is idempotent per message).
            for msg, message in ready:
                try:
                    await self._run_batch([(msg, message)])
                except Exception as one:
                    await self._failed(msg, message.delivery.deliveries, one)
                else:
                    await msg.ack()
        else:
            for msg, _ in ready:
                await msg.ack()

    async def _run_batch(self, batch: list[tuple[Msg, Message]]) -> None:
        assert self.batch_handler is not None
        spec = self.spec
        first = batch[0][0]
        with (
            CONSUMER_HANDLE_SECONDS.labels(spec.durable).time(),
            tracing.consume_span(
                f"consume {spec.durable}",
                first.headers,
                **{
                    "messaging.destination.name": first.subject,
                    "messaging.consumer.group.name": spec.durable,
                    "messaging.batch.message_count": len(batch),
                },
            ),
        ):
            await self.batch_handler([m for _, m in batch])
        EVENTS_CONSUMED.labels(consumer=spec.durable, outcome="ok").inc(
            sum(len(m.events) for _, m in batch)
        )


async def read_dead_letters(
    bus: EventBus, consumer: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The dead letters (optionally of one consumer), oldest first: for operators and tests."""
    subject = f"{DLQ_SUBJECT_PREFIX}.*.{consumer}" if consumer else f"{DLQ_SUBJECT_PREFIX}.>"
    out: list[dict[str, Any]] = []
    seq = 1
    while len(out) < limit:
        try:
            raw = await bus.get_msg(DLQ_STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        out.append({"seq": raw.seq, "headers": raw.headers or {}, "data": raw.data})
        seq = (raw.seq or seq) + 1
    return out
