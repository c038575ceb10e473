"""Event-sourced aggregates on JetStream.

One stream per aggregate kind (e.g. ``ES_ORDER`` on ``es.order.>``); one subject per
aggregate instance (``es.order.<tenant>.<id>``). An append carries the header
``Nats-Expected-Last-Subject-Sequence``: the server stores it only if the subject's last
message still has the sequence the writer loaded, so two writers racing on one aggregate
cannot both win, and the loser gets :class:`ConcurrencyConflict`. Several events appended
together go into one message, so they are stored atomically.

Loads read the subject's messages in order; with ``snapshot_every`` set, a folded state is
kept in a KV bucket and a load replays only the events after it.

Each store also remembers the history of the aggregates it loaded or appended to lately
(a bounded LRU, ``cache_size`` subjects), keyed by subject with the sequence of its last
message. A load asks the server for the subject's last sequence first, so several
replicas writing the same aggregate stay correct: when another writer has appended since,
only the messages after the remembered sequence are read; when nobody has, the load is
that one round trip. The one load answered from memory alone is ``load(subject,
reaches=(seq, event_id))`` when the remembered history holds that message: for a caller
that is handed every message of the subject (a consumer given the message at ``seq``) and
so loads again when a newer one comes, or that has just appended it itself, and whose
writes check the sequence they decided at (expected-sequence appends, versioned
projections). The event id makes sure the message is that one, not one of a stream since
deleted whose sequences started over. (This relies on aggregate streams keeping every
message: no age or per-subject limits.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from bobaku.kernel import tracing
from bobaku.kernel.bus import EventBus, decode_events, encode_events
from bobaku.kernel.errors import ConcurrencyConflict, DependencyUnavailable
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.lru import LruMap
from bobaku.kernel.streams import aggregate_spec
from bobaku.kernel.telemetry import (
    AGGREGATE_LOADS,
    AGGREGATE_LOADS_FROM_MEMORY,
    AGGREGATE_MESSAGES_READ,
    observe_stored,
)

# JetStream error code for "wrong last sequence" (expected-last-subject-sequence failed).
WRONG_LAST_SEQUENCE = 10071

S = TypeVar("S")


@dataclass(frozen=True)
class EventStream:
    """An aggregate's history: its events and the stream sequence of its last commit."""

    events: list[Event]
    last_seq: int


@dataclass(frozen=True)
class Snapshot(Generic[S]):
    state: S
    last_seq: int


@dataclass(frozen=True)
class _History:
    """An aggregate's whole history as stored: each message's sequence and its events."""

    messages: tuple[tuple[int, tuple[Event, ...]], ...]

    @property
    def last_seq(self) -> int:
        return self.messages[-1][0] if self.messages else 0

    def after(self, seq: int) -> list[Event]:
        return [e for s, events in self.messages if s > seq for e in events]

    def holds(self, seq: int, event_id: str) -> bool:
        """Whether the message stored at ``seq`` is here, with the event ``event_id`` in it."""
        for s, events in reversed(self.messages):
            if s <= seq:
                return s == seq and any(e.id == event_id for e in events)
        return False


class AggregateStore:
    def __init__(
        self, bus: EventBus, kind: str, *, snapshot_every: int = 0, cache_size: int = 2048
    ) -> None:
        if not kind.isidentifier() or not kind.islower():
            raise ValueError(f"aggregate kind must be a lower-case identifier, got {kind!r}")
        self.bus = bus
        self.kind = kind
        self.spec = aggregate_spec(kind)
        self.snapshot_every = snapshot_every
        self._snapshot_bucket = f"snapshots_{kind}"
        self._snapshots: KeyValue | None = None
        self._histories: LruMap[str, _History] = LruMap(cache_size)

    async def start(self) -> None:
        await self.bus.ensure_stream(self.spec)
        if self.snapshot_every:
            self._snapshots = await self.bus.key_value(
                KeyValueConfig(bucket=self._snapshot_bucket, history=1, storage=StorageType.FILE)
            )

    async def _snapshot_kv(self) -> KeyValue:
        """The snapshot bucket, opened once (each open is a stream-info round trip)."""
        if self._snapshots is None:
            self._snapshots = await self.bus.existing_key_value(self._snapshot_bucket)
        return self._snapshots

    def subject(self, tenant: str | None, aggregate_id: str) -> str:
        if "." in aggregate_id or "*" in aggregate_id or ">" in aggregate_id:
            raise ValueError(f"aggregate id may not contain '.', '*' or '>': {aggregate_id!r}")
        return f"es.{self.kind}.{tenant or 'brand'}.{aggregate_id}"

    async def aggregates(self) -> list[tuple[str, str]]:
        """(tenant, id) of every aggregate of this kind in the stream that the bus's franchise
        scope takes (kernel.web.franchise_scope): what a read-model rebuild replays."""
        names = self.bus.names  # this deployment's stream and subjects (kernel/names.py)
        info = await self.bus.js.stream_info(
            names.stream(self.spec.name), subjects_filter=names.subject(self.spec.subjects[0])
        )
        found = []
        for raw in info.state.subjects or {}:
            subject = names.local_subject(raw)
            if self.bus.scope is not None and not self.bus.scope(subject):
                continue  # a franchise whose silo keeps its own read models
            tenant, aggregate_id = subject.split(".", 3)[2:]  # es.{kind}.{tenant}.{id}
            found.append((tenant, aggregate_id))
        return found

    async def append(self, subject: str, events: Sequence[Event], expected_seq: int) -> int:
        """Store ``events`` if the aggregate is still at ``expected_seq`` (0: new).

        Returns the new last sequence. Retrying the same events (same first event id) after a
        lost reply is safe: the server recognises the message id and stores nothing twice.
        """
        if not events:
            raise ValueError("append needs at least one event")
        for event in events:
            self.bus.registry.validate(event)
        body, headers = encode_events(events)
        headers["Nats-Msg-Id"] = events[0].id
        headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_seq)
        try:
            with tracing.publish_span(subject, headers, **{"bobaku.event.type": events[0].type}):
                ack = await self.bus.js_publish(subject, body, headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(subject, expected_seq) from exc
            raise
        if not ack.duplicate:
            observe_stored(self.kind, events)
            known = self._histories.peek(subject)
            # Remembered only when it follows what is remembered (a message of nobody else's
            # in between would otherwise be skipped; the next load reads it instead).
            if known is not None and known.last_seq == expected_seq:
                self._histories.put(subject, _History((*known.messages, (ack.seq, tuple(events)))))
            elif expected_seq == 0:
                self._histories.put(subject, _History(((ack.seq, tuple(events)),)))
        return int(ack.seq)

    async def last_seq(self, subject: str) -> int:
        try:
            raw = await self.bus.get_last_msg(self.spec.name, subject)
        except NotFoundError:
            return 0
        return int(raw.seq or 0)

    async def load(
        self, subject: str, after_seq: int = 0, *, reaches: tuple[int, str] | None = None
    ) -> EventStream:
        """Every event on ``subject`` stored after ``after_seq``, oldest first.

        ``reaches``: (sequence, id of an event in that message): the caller needs at least
        the history up to that message (see the module's docstring); a remembered history
        that holds it is the answer, with no round trip. It may be behind the server: a
        write decided on it must check its sequence.
        """
        known = self._histories.peek(subject)
        if reaches is not None and known is not None and known.holds(*reaches):
            AGGREGATE_LOADS.labels(self.kind).inc()
            AGGREGATE_LOADS_FROM_MEMORY.labels(self.kind).inc()
            self._histories.touch(subject)
            return EventStream(known.after(after_seq), max(known.last_seq, after_seq))
        last = await self.last_seq(subject)
        AGGREGATE_LOADS.labels(self.kind).inc()
        if known is not None and known.last_seq > last:
            known = None  # the stream was reset (a test's purge): forget it
            self._histories.forget(subject)
        if known is None and after_seq > 0:
            # A partial history (after a snapshot) is read but not remembered.
            messages = await self._read(subject, after_seq, last)
            return EventStream([e for _, m in messages for e in m], max(last, after_seq))
        start = known.last_seq if known is not None else 0
        newer = await self._read(subject, start, last) if start < last else []
        history = _History((*(known.messages if known else ()), *newer))
        if history.messages:
            self._histories.put(subject, history)
        return EventStream(history.after(after_seq), max(last, after_seq))

    async def _read(
        self, subject: str, after_seq: int, last: int
    ) -> list[tuple[int, tuple[Event, ...]]]:
        """The messages on ``subject`` after ``after_seq`` up to ``last`` (one request each)."""
        messages: list[tuple[int, tuple[Event, ...]]] = []
        seq = after_seq + 1
        while seq <= last:
            try:
                AGGREGATE_MESSAGES_READ.labels(self.kind).inc()
                raw = await self.bus.get_msg(self.spec.name, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            if raw.seq is None or raw.seq > last:
                break
            messages.append((raw.seq, tuple(decode_events(raw.data or b"", raw.headers))))
            seq = raw.seq + 1
        return messages

    async def load_state(
        self,
        subject: str,
        initial: Callable[[], S],
        apply: Callable[[S, Event], S],
        *,
        encode: Callable[[S], dict[str, Any]] | None = None,
        decode: Callable[[dict[str, Any]], S] | None = None,
    ) -> Snapshot[S]:
        """Fold the aggregate's events into a state, starting from its snapshot if any.

        Snapshots are an optimisation only: a missing or unreadable one means a full replay.
        """
        state, after = initial(), 0
        use_snapshots = bool(self.snapshot_every and encode and decode)
        if use_snapshots and decode is not None:
            kv = await self._snapshot_kv()
            try:
                entry = await kv.get(subject)
                saved = json.loads(entry.value or b"{}")
                state, after = decode(saved["state"]), int(saved["last_seq"])
            except (KeyNotFoundError, KeyError, ValueError):
                state, after = initial(), 0
        stream = await self.load(subject, after)
        for event in stream.events:
            state = apply(state, event)
        if use_snapshots and encode is not None and len(stream.events) >= self.snapshot_every:
            kv = await self._snapshot_kv()
            await kv.put(
                subject, json.dumps({"state": encode(state), "last_seq": stream.last_seq}).encode()
            )
        return Snapshot(state, stream.last_seq)


class Fact(Protocol):
    """What a decision records: one event's type and data."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Mapping[str, Any]: ...


F = TypeVar("F", bound=Fact)
T = TypeVar("T")


@dataclass
class _Live(Generic[S]):
    state: S
    seq: int


class LiveAggregates(Generic[S]):
    """Aggregates under contention, kept in memory and changed by decide-then-append.

    Each aggregate (keyed by tenant and id) is folded once, from its snapshot if any, and
    afterwards brought up to date by reading only the events appended since its sequence.
    :meth:`change` decides on that state as remembered (no round trip) and appends the fact
    with the sequence it was decided at; when another writer (another replica) got there
    first the append fails with ``ConcurrencyConflict`` and the change is decided again on
    the stored state, so a contended resource (the last units of stock) is never handed out
    twice. A refusal or a repeat is believed only of the stored state. A lock per
    aggregate keeps this process's own writers from racing each other.
    """

    def __init__(
        self,
        store: AggregateStore,
        *,
        source: str,
        empty: Callable[[str], S],
        apply: Callable[[S, Event], S],
        encode: Callable[[S], dict[str, Any]] | None = None,
        decode: Callable[[dict[str, Any]], S] | None = None,
        busy: str = "the aggregate",
        key_name: str = "id",
        max_attempts: int = 40,
    ) -> None:
        self.store = store
        self.source = source
        self._empty, self._apply, self._encode, self._decode = empty, apply, encode, decode
        self._busy, self._key_name, self._max_attempts = busy, key_name, max_attempts
        self._live: dict[str, _Live[S]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.conflicts = 0  # appends that lost a race and were decided again

    async def start(self) -> None:
        await self.store.start()

    def subject(self, tenant: str, key: str) -> str:
        return self.store.subject(tenant, key)

    async def _current(self, subject: str, key: str) -> _Live[S]:
        """The state with every event appended so far (the caller holds the lock)."""
        live = self._live.get(subject)
        if live is None:
            snap = await self.store.load_state(
                subject, lambda: self._empty(key), self._apply,
                encode=self._encode, decode=self._decode,
            )  # fmt: skip
            live = self._live[subject] = _Live(snap.state, snap.last_seq)
            return live
        newer = await self.store.load(subject, after_seq=live.seq)
        for event in newer.events:
            live.state = self._apply(live.state, event)
        live.seq = newer.last_seq
        return live

    async def _decide(
        self, subject: str, key: str, decide: Callable[[S], F | None], *, remembered: bool
    ) -> tuple[_Live[S], F | None]:
        """``decide`` on the remembered state first (no round trip), when asked and there is
        one: a fact decided there is appended at its sequence, which fails if another writer
        has moved the aggregate since. A refusal (``decide`` raising) or nothing to record is
        only believed of the state as stored now, so both are decided again on it."""
        live = self._live.get(subject) if remembered else None
        if live is not None:
            with contextlib.suppress(Exception):
                fact = decide(live.state)
                if fact is not None:
                    return live, fact
        live = await self._current(subject, key)
        return live, decide(live.state)

    async def read(self, tenant: str, key: str, view: Callable[[S], T]) -> tuple[T, int]:
        """``view`` of the state as stored now, and the stream sequence it reflects."""
        subject = self.subject(tenant, key)
        async with self._locks.setdefault(subject, asyncio.Lock()):
            live = await self._current(subject, key)
            return view(live.state), live.seq

    async def change(
        self, tenant: str, key: str, decide: Callable[[S], F | None], view: Callable[[S], T]
    ) -> tuple[F | None, T]:
        """Decide on the latest state and record the fact, deciding again after a lost race.

        Returns the recorded fact (``None`` when there was nothing to record, e.g. a repeat)
        and ``view`` of the state afterwards. Exceptions raised by ``decide`` pass through;
        nothing is written then.
        """
        subject = self.subject(tenant, key)
        lock = self._locks.setdefault(subject, asyncio.Lock())
        for attempt in range(1, self._max_attempts + 1):
            async with lock:
                live, fact = await self._decide(subject, key, decide, remembered=attempt == 1)
                if fact is None:
                    return None, view(live.state)
                event = new_event(fact.type, dict(fact.data), source=self.source, tenant=tenant)
                try:
                    seq = await self.store.append(subject, [event], live.seq)
                except ConcurrencyConflict:
                    self.conflicts += 1
                else:
                    live.state, live.seq = self._apply(live.state, event), seq
                    return fact, view(live.state)
            # Another replica wrote first: back off a little (jittered) and decide again.
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))
        raise DependencyUnavailable(
            f"{self._busy} is too busy right now; try again",
            details={self._key_name: key, "attempts": self._max_attempts},
        )
