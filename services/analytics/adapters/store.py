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

Each order's facts and the contribution last applied live in ``…:o:<order>``; applying an
event is one optimistic Redis transaction (``WATCH`` the order, ``MULTI`` the new facts and
the counters' difference), so two consumers racing on one order cannot both count it.
Loyalty counters carry a per-event marker set in the same script as the increments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from bobaku.kernel.events import Event
from bobaku.services.analytics.domain.model import (
    Contribution,
    OrderFacts,
    Rules,
    contribution,
    difference,
    expires_at,
    fold,
    minute_live,
)

# Add to a hash's fields and drop the fields that fall to zero, so a contribution taken
# back leaves nothing behind (live and rebuilt models are then equal key for key).
ADD_FIELDS = """
for i = 1, #ARGV, 2 do
  local v = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  if v == 0 then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
"""

# Count an event's points once: the marker and the increments in one script.
COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX') then
  for i = 2, #KEYS do redis.call('HINCRBY', KEYS[i], ARGV[1], ARGV[2]) end
  return 1
end
return 0
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
        self._count_once = redis.register_script(COUNT_ONCE)
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

    async def apply_order_event(self, event: Event, gen: int | None = None) -> OrderFacts | None:
        """Fold the event into its order and move the counters by the difference.

        Returns the order's facts if any counter moved (None for a repeat or an event without
        effect)."""
        order_id = event.data.get("order_id")
        if not order_id:
            return None
        p = self.prefix(gen if gen is not None else await self.generation())
        okey = f"{p}:o:{order_id}"
        for _ in range(WATCH_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(okey)
                    raw = await pipe.hmget(okey, ["facts", "contrib"])
                    facts = (
                        OrderFacts.from_dict(json.loads(raw[0]))
                        if raw[0]
                        else OrderFacts(order_id=order_id)
                    )
                    old: Contribution = json.loads(raw[1]) if raw[1] else {}
                    facts = fold(facts, event)
                    now = time.time()
                    new = contribution(facts, self.rules, now)
                    diff = self._live(difference(old, new), now)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(
                        okey,
                        mapping={"facts": json.dumps(facts.to_dict()), "contrib": json.dumps(new)},
                    )
                    await self._queue(pipe, p, diff)
                    await self._queue_names(pipe, p, facts)
                    await pipe.execute()
                except WatchError:
                    continue
                return facts if diff else None
        raise RuntimeError(f"order {order_id} kept changing under {WATCH_RETRIES} attempts")

    async def apply_loyalty_event(self, event: Event, counter: str, gen: int | None = None) -> bool:
        p = self.prefix(gen if gen is not None else await self.generation())
        keys = [f"{p}:e:{event.id}", *self.loyalty_keys(p, event)]
        points = int(event.data.get("points", 0))
        done = await self._count_once(keys=keys, args=[counter, points])
        return bool(done)

    def loyalty_keys(self, p: str, event: Event) -> list[str]:
        day = event.timestamp.astimezone(self.rules.zone).strftime("%Y-%m-%d")
        keys = [f"{p}:l:b:d:{day}", f"{p}:l:b:total"]
        if fid := event.data.get("franchise_id"):
            keys += [f"{p}:l:f:{fid}:d:{day}", f"{p}:l:f:{fid}:total"]
        return keys

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
        markers: Sequence[str],
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
        for marker in markers:
            pipe.set(f"{p}:e:{marker}", "1")
            queued += 1
            await flush()
        if names:
            pipe.hset(f"{p}:names", mapping=_m({k: n for k, (_, n) in names.items()}))
            pipe.hset(f"{p}:namets", mapping=_m({k: at for k, (at, _) in names.items()}))
            queued += 1
        await flush(force=True)

    async def loyalty_bulk(self, gen: int, counts: Contribution) -> None:
        p = self.prefix(gen)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, row in counts.items():
                for fld, value in row.items():
                    pipe.hincrby(f"{p}:{key}", fld, value)
            await pipe.execute()

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
                if rel[0] not in kinds or rel.startswith(("o:", "e:")):
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
