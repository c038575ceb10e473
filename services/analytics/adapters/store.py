"""The read models in Redis: counters hashes keyed by scope and bucket.

Why Redis and not FerretDB: every figure is a counter that many events move, and FerretDB
1.24 rewrites (and scans for) a document on every update of an existing one, while Redis
increments a hash field in place; every read here is by key (no filters, no ``$group``), so
the cost of a request follows the range asked for, never the stored history. The figures
are a projection: ``python -m bobaku.services.analytics rebuild`` makes them again from the
streams, so Redis holds nothing that cannot be rebuilt.

Keys are ``an:<deployment>:g<generation>:<read-model key>`` (see ``domain/model.py``); the
current generation is ``an:<deployment>:gen``. A rebuild fills a new generation and then
switches the pointer, so readers never see a half-built model.

Writes come in batches (``apply``): the live consumer hands over every message of a fetch,
the store folds each touched order and loyalty ledger in memory and writes each touched key
once, in one optimistic Redis transaction (``WATCH`` the touched orders and ledger
positions, ``MULTI`` the new facts and the counters' summed difference), acknowledged only
after ``EXEC``. No double count, under redelivery or a crash anywhere in a batch:

- an order's facts and the contribution last applied live in ``…:o:<order>`` and are
  written in the same ``EXEC`` as the counters; folding an event again gives the same
  facts, so a redelivered event moves nothing (and a late one moves what it should);
- each loyalty ledger's last applied stream sequence lives in ``…:pos:<stream>`` (field =
  ledger subject), in the same ``EXEC``; a message at or below it is skipped. A message
  appended after one not applied yet (its ``Nats-Expected-Last-Subject-Sequence`` is above
  the position: redelivery reordered them) has the gap read from the stream first. One
  field per customer: bounded by customers, not by events.

A crash before ``EXEC`` leaves nothing written; after it, the redelivered batch finds its
effect there and changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from bobaku.kernel.bus import Message
from bobaku.kernel.events import Event
from bobaku.services.analytics.domain.events import LEDGER_PREFIX, LOYALTY_EVENTS, ORDER_EVENTS
from bobaku.services.analytics.domain.model import (
    Contribution,
    OrderFacts,
    Rules,
    add_to,
    contribution,
    difference,
    expires_at,
    fold,
    franchise_of,
    merge,
    minute_live,
)

# Reads the messages of one ledger subject stored in (after, before) of a stream: the gap
# before a message whose predecessor was not applied yet.
Filler = Callable[[str, str, int, int], Awaitable[list[Message]]]

# Add to a hash's fields and drop the fields that fall to zero, so a contribution taken
# back leaves nothing behind (live and rebuilt models are then equal key for key).
ADD_FIELDS = """
for i = 1, #ARGV, 2 do
  local v = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  if v == 0 then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
"""

# An item's display name is the one on its most recently created order (ties: the larger
# name), so live and rebuilt models agree whatever order the streams were read in.
# KEYS: names, namets; ARGV: id, name, created (epoch ms) triples.
NAME_IF_NEWER = """
for i = 1, #ARGV, 3 do
  local was = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  local at = tonumber(ARGV[i + 2])
  if at > was or (at == was and ARGV[i + 1] > (redis.call('HGET', KEYS[1], ARGV[i]) or '')) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  end
end
return 1
"""

WATCH_RETRIES = 50


class ProjectionStore:
    def __init__(self, redis: Redis, deployment: str, rules: Rules) -> None:
        self.redis = redis
        self.base = f"an:{deployment}"
        self.rules = rules
        self._add_fields = redis.register_script(ADD_FIELDS)
        self._name_if_newer = redis.register_script(NAME_IF_NEWER)
        self._gen: tuple[float, int] = (0.0, 0)

    # --- generations ---------------------------------------------------------------------

    async def generation(self, *, fresh: bool = False) -> int:
        """The generation readers and the live consumer use (cached for a second)."""
        at, gen = self._gen
        if fresh or time.monotonic() - at > 1.0:
            raw = await self.redis.get(f"{self.base}:gen")
            gen = int(raw or 1)
            self._gen = (time.monotonic(), gen)
        return gen

    async def switch(self, gen: int) -> None:
        await self.redis.set(f"{self.base}:gen", str(gen))
        self._gen = (time.monotonic(), gen)

    def prefix(self, gen: int) -> str:
        return f"{self.base}:g{gen}"

    # --- writing -------------------------------------------------------------------------

    async def apply(
        self, messages: Sequence[Message], gen: int | None = None, fill: Filler | None = None
    ) -> list[OrderFacts]:
        """Apply a batch of stored messages: fold every touched order and ledger in memory,
        then write each touched key once, in one optimistic transaction.

        ``WATCH`` covers the touched orders and the ledgers' positions, so two writers
        racing on one (the live consumer and a rebuild's catch-up, two replicas) cannot both
        count it: the loser reads again and folds again. Idempotent: an order's facts fold
        to the same facts whatever repeats (its counters move by the difference from the
        contribution stored with them); a ledger message at or below the ledger's position
        is skipped, and one appended after a message not applied yet (its ``after_seq`` is
        above the position) has the gap read from the stream first with ``fill``.

        Returns the facts of the orders whose figures moved."""
        p = self.prefix(gen if gen is not None else await self.generation())
        orders: dict[str, list[Event]] = {}
        ledgers: dict[tuple[str, str], list[Message]] = {}
        for message in messages:
            ledger = False
            for event in message.events:
                if event.type in ORDER_EVENTS and (order_id := event.data.get("order_id")):
                    if self.rules.share.handles(franchise_of(event)):
                        orders.setdefault(str(order_id), []).append(event)
                elif event.type.startswith(LEDGER_PREFIX):
                    ledger = True  # any ledger commit moves the position (a tier change too)
            if ledger:
                d = message.delivery
                ledgers.setdefault((d.stream, d.subject), []).append(message)
        if not orders and not ledgers:
            return []
        okeys = [f"{p}:o:{order_id}" for order_id in orders]
        positions = sorted({stream for stream, _ in ledgers})
        pkeys = [f"{p}:pos:{stream}" for stream in positions]
        for _ in range(WATCH_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*okeys, *pkeys)
                    # Read on another connection: WATCH fails the EXEC if anything changed
                    # after it, whoever read it.
                    async with self.redis.pipeline(transaction=False) as read:
                        for key in okeys:
                            read.hmget(key, ["facts", "contrib"])
                        for (stream, subject), _msgs in ledgers.items():
                            read.hget(f"{p}:pos:{stream}", subject)
                        raw = await read.execute()
                    now = time.time()
                    total: Contribution = {}
                    moved: list[OrderFacts] = []
                    pipe.multi()  # type: ignore[no-untyped-call]
                    for (order_id, events), key, got in zip(
                        orders.items(), okeys, raw[: len(okeys)], strict=True
                    ):
                        facts = (
                            OrderFacts.from_dict(json.loads(got[0]))
                            if got[0]
                            else OrderFacts(order_id=order_id)
                        )
                        old: Contribution = json.loads(got[1]) if got[1] else {}
                        before = facts.to_dict()
                        for event in events:
                            facts = fold(facts, event)
                        new = contribution(facts, self.rules, now)
                        diff = self._live(difference(old, new), now)
                        if facts.to_dict() != before or new != old:
                            pipe.hset(
                                key,
                                mapping={
                                    "facts": json.dumps(facts.to_dict()),
                                    "contrib": json.dumps(new),
                                },
                            )
                            await self._queue_names(pipe, p, facts)
                        if diff:
                            merge(total, diff)
                            moved.append(facts)
                    for ((stream, subject), msgs), got in zip(
                        ledgers.items(), raw[len(okeys) :], strict=True
                    ):
                        at = int(got or 0)
                        for message in sorted(msgs, key=lambda m: m.delivery.stream_seq):
                            seq, after = message.delivery.stream_seq, message.delivery.after_seq
                            if seq <= at:
                                continue  # applied before: a redelivery or an overlap
                            if after is not None and after > at and fill is not None:
                                for missed in await fill(stream, subject, at, seq):
                                    self._count_ledger(total, missed.events)
                            self._count_ledger(total, message.events)
                            at = seq
                        pipe.hset(f"{p}:pos:{stream}", subject, str(at))
                    await self._queue(pipe, p, total)
                    await pipe.execute()
                except WatchError:
                    continue
                return moved
        raise RuntimeError(f"{len(okeys)} orders kept changing under {WATCH_RETRIES} attempts")

    def _count_ledger(self, into: Contribution, events: Iterable[Event]) -> None:
        for event in events:
            if (counter := LOYALTY_EVENTS.get(event.type)) is not None:
                points = int(event.data.get("points", 0))
                for key in self.loyalty_keys(event):
                    add_to(into, key, counter, points)

    def loyalty_keys(self, event: Event) -> list[str]:
        """The ledger counters an event moves (read-model keys, without the prefix): the
        brand's, and the franchise's when the event names one (points earned on its order),
        as far as this instance keeps them (``Rules.share``)."""
        day = event.timestamp.astimezone(self.rules.zone).strftime("%Y-%m-%d")
        keys = [f"l:b:d:{day}", "l:b:total"]
        if fid := event.data.get("franchise_id"):
            keys += [f"l:f:{fid}:d:{day}", f"l:f:{fid}:total"]
        return [k for k in keys if self.rules.share.keeps(str(fid or ""), k)]

    def _live(self, diff: Contribution, now: float) -> Contribution:
        """Leave out minute buckets already expired (they are not kept)."""
        return {
            k: v
            for k, v in diff.items()
            if not (
                k.startswith("s:") and ":m:" in k and not minute_live(_minute(k), self.rules, now)
            )
        }

    async def _queue(self, pipe: Pipeline, p: str, diff: Contribution) -> None:
        for key, row in diff.items():
            args: list[Any] = []
            for fld, value in row.items():
                args += [fld, value]
            await self._add_fields(keys=[f"{p}:{key}"], args=args, client=pipe)
            if (until := expires_at(key, self.rules)) is not None:
                pipe.expireat(f"{p}:{key}", until)

    async def _queue_names(self, pipe: Pipeline, p: str, facts: OrderFacts) -> None:
        if not facts.lines or facts.created_ts is None:
            return
        at = _ms(facts.created_ts)
        args: list[Any] = []
        for line in facts.lines:
            args += [str(line["menu_id"]), str(line["name"]), at]
        await self._name_if_newer(keys=[f"{p}:names", f"{p}:namets"], args=args, client=pipe)

    async def write_bulk(
        self,
        gen: int,
        orders: Mapping[str, tuple[OrderFacts, Contribution]],
        totals: Contribution,
        positions: Mapping[str, Mapping[str, int]],
        chunk: int = 500,
    ) -> None:
        """Write a rebuilt model into generation ``gen`` (which must be empty)."""
        p = self.prefix(gen)
        pipe = self.redis.pipeline(transaction=False)
        queued = 0

        async def flush(force: bool = False) -> None:
            nonlocal pipe, queued
            if queued and (force or queued >= chunk):
                await pipe.execute()
                pipe = self.redis.pipeline(transaction=False)
                queued = 0

        names: dict[str, tuple[int, str]] = {}  # id -> (created ms, name): newest wins
        for order_id, (facts, contrib) in orders.items():
            pipe.hset(
                f"{p}:o:{order_id}",
                mapping={"facts": json.dumps(facts.to_dict()), "contrib": json.dumps(contrib)},
            )
            if facts.created_ts is not None:
                for li in facts.lines:
                    seen = (_ms(facts.created_ts), str(li["name"]))
                    names[str(li["menu_id"])] = max(names.get(str(li["menu_id"]), seen), seen)
            queued += 1
            await flush()
        for key, row in totals.items():
            if row := {f: v for f, v in row.items() if v}:
                pipe.hset(f"{p}:{key}", mapping=_m(row))
                if (until := expires_at(key, self.rules)) is not None:
                    pipe.expireat(f"{p}:{key}", until)
                queued += 1
                await flush()
        for stream, at in positions.items():
            for part in _chunks(list(at.items()), chunk):
                pipe.hset(f"{p}:pos:{stream}", mapping=_m({s: str(q) for s, q in part}))
                queued += 1
                await flush()
        if names:
            pipe.hset(f"{p}:names", mapping=_m({k: n for k, (_, n) in names.items()}))
            pipe.hset(f"{p}:namets", mapping=_m({k: at for k, (at, _) in names.items()}))
            queued += 1
        await flush(force=True)

    async def drop(self, gen: int) -> int:
        """Delete a generation's keys (after a rebuild replaced it)."""
        removed = 0
        async for batch in _batches(
            self.redis.scan_iter(match=f"{self.prefix(gen)}:*", count=1000)
        ):
            removed += int(await self.redis.unlink(*batch))
        return removed

    # --- reading -------------------------------------------------------------------------

    async def rows(self, keys: Sequence[str], gen: int | None = None) -> list[dict[str, int]]:
        """The counters of each key (empty for a key never written), by key, in one trip."""
        if not keys:
            return []
        p = self.prefix(gen if gen is not None else await self.generation())
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(f"{p}:{key}")
            raw = await pipe.execute()
        return [{_s(f): int(v) for f, v in row.items()} for row in raw]

    async def names(self, ids: Iterable[str], gen: int | None = None) -> dict[str, str]:
        wanted = list(ids)
        if not wanted:
            return {}
        p = self.prefix(gen if gen is not None else await self.generation())
        got = await self.redis.hmget(f"{p}:names", wanted)
        return {i: (_s(n) if n else i) for i, n in zip(wanted, got, strict=True)}

    async def dump(self, gen: int, kinds: str = "smkculnx") -> dict[str, dict[str, str]]:
        """Every read-model key of a generation (not the per-order facts): for comparing a
        rebuild with the live model, in tests and after a rebuild."""
        p = self.prefix(gen)
        out: dict[str, dict[str, str]] = {}
        async for batch in _batches(self.redis.scan_iter(match=f"{p}:*", count=1000)):
            for key in batch:
                rel = _s(key)[len(p) + 1 :]
                if rel[0] not in kinds or rel.startswith(("o:", "pos:")):
                    continue
                raw = await self.redis.hgetall(key)
                out[rel] = {_s(f): _s(v) for f, v in raw.items()}
        return out


def _m(mapping: Mapping[str, Any]) -> Any:
    """A mapping as redis-py's invariant ``hset`` annotation accepts it."""
    return mapping


def _ms(ts: float) -> int:
    return round(ts * 1000)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _minute(key: str) -> str:
    return ":".join(key.split(":")[-2:])


async def _batches(it: Any, size: int = 500) -> Any:
    batch: list[Any] = []
    async for item in it:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
