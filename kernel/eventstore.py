"""Event-sourced aggregates on JetStream.

One stream per aggregate kind (e.g. ``ES_ORDER`` on ``es.order.>``); one subject per
aggregate instance (``es.order.<tenant>.<id>``). An append carries the header
``Nats-Expected-Last-Subject-Sequence``: the server stores it only if the subject's last
message still has the sequence the writer loaded, so two writers racing on one aggregate
cannot both win, and the loser gets :class:`ConcurrencyConflict`. Several events appended
together go into one message, so they are stored atomically.

Loads read the subject's messages in order; with ``snapshot_every`` set, a folded state is
kept in a KV bucket and a load replays only the events after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from bobaku.kernel.bus import EventBus, decode_events, encode_events
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event
from bobaku.kernel.streams import aggregate_spec

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


class AggregateStore:
    def __init__(self, bus: EventBus, kind: str, *, snapshot_every: int = 0) -> None:
        if not kind.isidentifier() or not kind.islower():
            raise ValueError(f"aggregate kind must be a lower-case identifier, got {kind!r}")
        self.bus = bus
        self.kind = kind
        self.spec = aggregate_spec(kind)
        self.snapshot_every = snapshot_every
        self._snapshot_bucket = f"snapshots_{kind}"

    async def start(self) -> None:
        await self.bus.ensure_stream(self.spec)
        if self.snapshot_every:
            await self.bus.js.create_key_value(
                KeyValueConfig(bucket=self._snapshot_bucket, history=1, storage=StorageType.FILE)
            )

    def subject(self, tenant: str | None, aggregate_id: str) -> str:
        if "." in aggregate_id or "*" in aggregate_id or ">" in aggregate_id:
            raise ValueError(f"aggregate id may not contain '.', '*' or '>': {aggregate_id!r}")
        return f"es.{self.kind}.{tenant or 'brand'}.{aggregate_id}"

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
            ack = await self.bus.js.publish(subject, body, headers=headers)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise ConcurrencyConflict(subject, expected_seq) from exc
            raise
        return int(ack.seq)

    async def last_seq(self, subject: str) -> int:
        try:
            raw = await self.bus.js.get_last_msg(self.spec.name, subject)
        except NotFoundError:
            return 0
        return int(raw.seq or 0)

    async def load(self, subject: str, after_seq: int = 0) -> EventStream:
        """Every event on ``subject`` stored after ``after_seq``, oldest first."""
        last = await self.last_seq(subject)
        events: list[Event] = []
        seq = after_seq + 1
        while seq <= last:
            try:
                raw = await self.bus.js.get_msg(self.spec.name, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            if raw.seq is None or raw.seq > last:
                break
            events.extend(decode_events(raw.data or b"", raw.headers))
            seq = raw.seq + 1
        return EventStream(events, last if last > after_seq else after_seq)

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
            kv = await self.bus.js.key_value(self._snapshot_bucket)
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
            kv = await self.bus.js.key_value(self._snapshot_bucket)
            await kv.put(
                subject, json.dumps({"state": encode(state), "last_seq": stream.last_seq}).encode()
            )
        return Snapshot(state, stream.last_seq)
