"""Read models whose every write and every page read costs the same however much history
is stored: keyed documents and the sorted lists that page them, in Redis.

Why not MongoDB: FerretDB 1.24 scans the whole collection for any filter, sort or count on
a field other than ``_id`` and for every update or replace of an existing document, even
by ``_id`` (``docs/performance.md``). A read model that is rewritten per event and paged by
outlet, customer or day is exactly that. Here each write is one Lua script over a handful
of keys (O(log n) sorted-set inserts), and a page is one script that reads ``limit``
entries by rank or by key (O(log n + page)). On a real MongoDB the same design is simply
fast too; MongoDB keeps what it does in constant time on FerretDB: inserts.

:class:`WriteOnceDocuments` — documents inserted once and read by ``_id``: MongoDB holds
them, Redis answers the reads (FerretDB 1.24 scans even for an exact ``_id``).

:class:`Listings` — documents addressed by id, each with a *version* (the aggregate's
stream sequence) and the lists it belongs to with its score in each (newest first pages
use a timestamp). :meth:`Listings.put` is atomic: it stores the document only if its
version is newer than the stored one, and moves the item between lists (an order that
changes status leaves ``…:s:pending_payment`` and enters ``…:s:being_prepared``). So a
redelivered or out-of-order event cannot regress a read model, and the whole read model
can be rebuilt by replaying the streams into it in any order per item.

:class:`Tallies` — counters added to once per event id (settlement figures): one script
checks the event id into the key's applied set and adds the amounts.

:class:`ReadModelGuard` — notices that Redis lost a read model (a flush, a restart without
persistence) and replays its stream into it.

Keys live under the namespace given (``<deployment>:<service>:<model>``); the scripts read
keys they compute, so they need one Redis node (no cluster), as the rest of the platform.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from bobaku.kernel.db import insert_new
from bobaku.kernel.lru import LruMap

log = logging.getLogger(__name__)

# KEYS[1] the item's hash. ARGV: version ('' = always write), document JSON, the lists as a
# JSON object {name: score}, the list key prefix, the item id.
_PUT = """
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] ~= '' and cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
local new = cjson.decode(ARGV[3])
local old = redis.call('HGET', KEYS[1], 'l')
if old then
  for _, name in ipairs(cjson.decode(old)) do
    if new[name] == nil then redis.call('ZREM', ARGV[4] .. name, ARGV[5]) end
  end
end
local names = {}
for name, score in pairs(new) do
  redis.call('ZADD', ARGV[4] .. name, score, ARGV[5])
  names[#names + 1] = name
end
local v = ARGV[1]
if v == '' then v = '0' end
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2], 'l', cjson.encode(names))
return 1
"""

# KEYS[1] the item's hash. ARGV: the list key prefix, the item id.
_REMOVE = """
local old = redis.call('HGET', KEYS[1], 'l')
if old then
  for _, name in ipairs(cjson.decode(old)) do redis.call('ZREM', ARGV[1] .. name, ARGV[2]) end
end
return redis.call('DEL', KEYS[1])
"""

# KEYS[1] the list. ARGV: mode, '1' newest first / '0' oldest first, item prefix, count,
# then per mode: rank -> start; after -> score, member (keyset: entries strictly beyond
# (score, member) in the list's order); upto -> max score (oldest first).
# Returns id, score, document triples.
_PAGE = """
local key, mode, desc, prefix = KEYS[1], ARGV[1], ARGV[2] == '1', ARGV[3]
local count = tonumber(ARGV[4])
local flat = {}
if count <= 0 then return {} end
if mode == 'rank' then
  local start = tonumber(ARGV[5])
  if desc then flat = redis.call('ZREVRANGE', key, start, start + count - 1, 'WITHSCORES')
  else flat = redis.call('ZRANGE', key, start, start + count - 1, 'WITHSCORES') end
elseif mode == 'upto' then
  flat = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[5], 'WITHSCORES', 'LIMIT', 0, count)
else
  local score, member = ARGV[5], ARGV[6]
  local ties, rest
  if desc then
    ties = redis.call('ZREVRANGEBYSCORE', key, score, score, 'WITHSCORES')
    rest = redis.call('ZREVRANGEBYSCORE', key, '(' .. score, '-inf',
                      'WITHSCORES', 'LIMIT', 0, count)
  else
    ties = redis.call('ZRANGEBYSCORE', key, score, score, 'WITHSCORES')
    rest = redis.call('ZRANGEBYSCORE', key, '(' .. score, '+inf',
                      'WITHSCORES', 'LIMIT', 0, count)
  end
  for i = 1, #ties, 2 do
    if (desc and ties[i] < member) or ((not desc) and ties[i] > member) then
      flat[#flat + 1] = ties[i]; flat[#flat + 1] = ties[i + 1]
    end
  end
  for i = 1, #rest do flat[#flat + 1] = rest[i] end
end
local out = {}
local n = 0
for i = 1, #flat, 2 do
  if n >= count then break end
  n = n + 1
  out[#out + 1] = flat[i]
  out[#out + 1] = flat[i + 1]
  out[#out + 1] = redis.call('HGET', prefix .. flat[i], 'd') or ''
end
return out
"""

# KEYS[1] the applied-event set, KEYS[2] the counters hash, KEYS[3] the group set ('' none).
# ARGV: event id, the key's name in its group, then field, amount pairs.
_TALLY = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
if KEYS[3] ~= '' then redis.call('SADD', KEYS[3], ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class Entry:
    """One item of a list: its id, its score in that list and its document."""

    id: str
    score: float
    doc: dict[str, Any]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _score(value: float) -> str:
    # repr keeps every bit of the float, so a keyset cursor compares equal to what is stored.
    return repr(float(value))


class Listings:
    """Versioned documents by id and the sorted lists that page them (see the module)."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self._items = f"{namespace}:i:"
        self._lists = f"{namespace}:l:"
        self._put = redis.register_script(_PUT)
        self._remove = redis.register_script(_REMOVE)
        self._page = redis.register_script(_PAGE)

    async def put(
        self,
        item_id: str,
        doc: Mapping[str, Any],
        *,
        lists: Mapping[str, float],
        version: int | None = None,
    ) -> bool:
        """Store ``doc`` as the item's state and place it in exactly ``lists`` (name →
        score), unless the stored version is ``version`` or newer; True if written.
        ``version=None`` writes unconditionally (state that has no stream sequence)."""
        args = [
            "" if version is None else str(int(version)),
            json.dumps(doc, separators=(",", ":"), default=str),
            json.dumps({name: _score(s) for name, s in lists.items()}),
            self._lists,
            item_id,
        ]
        return bool(await self._put(keys=[self._items + item_id], args=args))

    async def get(self, item_id: str) -> dict[str, Any] | None:
        raw = await cast(Any, self.redis.hget(self._items + item_id, "d"))
        return json.loads(raw) if raw else None

    async def version(self, item_id: str) -> int:
        """The stored version of the item (0 when there is none)."""
        raw = await cast(Any, self.redis.hget(self._items + item_id, "v"))
        return int(raw) if raw else 0

    async def remove(self, item_id: str) -> None:
        """Take the item out of its lists and forget it."""
        await self._remove(keys=[self._items + item_id], args=[self._lists, item_id])

    async def count(self, name: str) -> int:
        return int(await self.redis.zcard(self._lists + name))

    async def page(
        self, name: str, *, start: int, count: int, newest_first: bool = True
    ) -> list[Entry]:
        """``count`` entries of list ``name`` from rank ``start`` (offset pages)."""
        return await self._read(name, "rank", newest_first, count, start)

    async def after(
        self,
        name: str,
        cursor: tuple[float, str] | None,
        *,
        count: int,
        newest_first: bool = True,
    ) -> list[Entry]:
        """``count`` entries that come after ``cursor`` (score, id) in the list's order
        (keyset pages: stable while items are added in front)."""
        if cursor is None:
            return await self.page(name, start=0, count=count, newest_first=newest_first)
        score, member = cursor
        return await self._read(name, "after", newest_first, count, _score(score), member)

    async def upto(self, name: str, max_score: float, *, count: int) -> list[Entry]:
        """Up to ``count`` entries with a score of at most ``max_score``, lowest first
        (work that is due)."""
        return await self._read(name, "upto", False, count, _score(max_score))

    async def upto_many(self, names: Sequence[str], max_score: float, *, count: int) -> list[Entry]:
        """:meth:`upto` over several lists in one round trip (work due in many queues, most
        with nothing due): up to ``count`` entries, lowest score first."""
        if not names or count <= 0:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                args: list[str | int] = ["upto", "0", self._items, count, _score(max_score)]
                await self._page(keys=[self._lists + name], args=args, client=pipe)
            replies = await pipe.execute()
        entries = [entry for flat in replies for entry in _entries(flat)]
        entries.sort(key=lambda e: (e.score, e.id))
        return entries[:count]

    async def merged_after(
        self,
        names: Sequence[str],
        cursor: tuple[float, str] | None,
        *,
        count: int,
    ) -> list[Entry]:
        """Newest first across several lists (an outlet manager's outlets): each list's
        next ``count`` after ``cursor``, merged. O(lists * page)."""
        entries: dict[str, Entry] = {}
        for name in names:
            for entry in await self.after(name, cursor, count=count):
                entries[entry.id] = entry
        ordered = sorted(entries.values(), key=lambda e: (e.score, e.id), reverse=True)
        return ordered[:count]

    async def _read(
        self, name: str, mode: str, newest_first: bool, count: int, *extra: Any
    ) -> list[Entry]:
        args = [mode, "1" if newest_first else "0", self._items, count, *extra]
        return _entries(await self._page(keys=[self._lists + name], args=args))


def _entries(flat: Sequence[Any]) -> list[Entry]:
    """The id, score, document triples of the page script, as entries."""
    out: list[Entry] = []
    for i in range(0, len(flat), 3):
        raw = flat[i + 2]
        if not raw:  # listed but forgotten meanwhile: not shown
            continue
        out.append(Entry(_text(flat[i]), float(_text(flat[i + 1])), json.loads(raw)))
    return out


class Tallies:
    """Counters that each event adds to once (see the module): ``add`` is idempotent per
    event id, and keys may be grouped (a day's outlets) to be read together."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self._tally = redis.register_script(_TALLY)

    def _key(self, key: str) -> str:
        return f"{self.namespace}:t:{key}"

    async def add(
        self, key: str, event_id: str, amounts: Mapping[str, int], *, group: str | None = None
    ) -> bool:
        """Add ``amounts`` to the counters of ``key`` unless ``event_id`` was added already;
        True if it was added now. ``group`` names a set ``key`` is listed in."""
        keys = [
            f"{self.namespace}:a:{key}",
            self._key(key),
            f"{self.namespace}:g:{group}" if group else "",
        ]
        args: list[Any] = [event_id, key]
        for name, amount in amounts.items():
            args.extend((name, int(amount)))
        return bool(await self._tally(keys=keys, args=args))

    async def get(self, key: str) -> dict[str, int]:
        raw = await cast(Any, self.redis.hgetall(self._key(key)))
        return {_text(k): int(v) for k, v in raw.items()}

    async def group(self, group: str) -> list[str]:
        """The keys listed in ``group``, sorted."""
        raw = await cast(Any, self.redis.smembers(f"{self.namespace}:g:{group}"))
        return sorted(_text(k) for k in raw)

    async def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {key: await self.get(key) for key in keys}


class WriteOnceDocuments:
    """Documents written once and then only read by ``_id`` (an order's directory entry,
    an idempotency key, a payment intent's home): MongoDB keeps them, Redis answers reads.

    FerretDB 1.24's SQLite backend never uses its ``_id`` index (``explain`` shows
    ``SCAN`` even for an exact ``_id`` match), so a ``find_one`` by ``_id`` costs a scan of
    the collection; an insert checks uniqueness through the index and stays flat. So
    :meth:`insert` writes MongoDB (the durable copy, and the unique ``_id`` that decides a
    race) and then Redis, and :meth:`get` reads Redis, falling back to MongoDB only for a
    key Redis does not hold (then copying it back). The documents never change after the
    insert, so the two copies cannot disagree; on a real MongoDB the fallback is simply fast.

    For the same reason the process remembers the last ``remember`` documents it inserted
    or read (least recently used out first): a document read again (an order's directory
    entry at each of its kitchen steps, an intent at each provider callback) costs no round
    trip, and no replica can hold a stale copy. A miss is not remembered: the document may
    be inserted by another replica a moment later.
    """

    def __init__(
        self, redis: Redis, namespace: str, collection: Any, *, remember: int = 10_000
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.collection = collection
        self._known: LruMap[str, dict[str, Any]] = LruMap(remember)

    def _key(self, doc_id: str) -> str:
        return f"{self.namespace}:d:{doc_id}"

    async def insert(self, doc: Mapping[str, Any]) -> bool:
        """Store ``doc`` (with its ``_id``); False when that ``_id`` exists already (the
        stored document is kept)."""
        if not await insert_new(self.collection, dict(doc)):
            return False
        text = json.dumps(doc, default=str)
        await self.redis.set(self._key(str(doc["_id"])), text)
        self._known.put(str(doc["_id"]), json.loads(text))  # as a read from Redis gives it
        return True

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        known = self._known.get(doc_id)
        if known is not None:
            return dict(known)
        raw = await self.redis.get(self._key(doc_id))
        if raw:
            doc = cast(dict[str, Any], json.loads(raw))
        else:
            found = await self.collection.find_one({"_id": doc_id})
            if found is None:
                return None
            text = json.dumps(found, default=str)
            await self.redis.set(self._key(doc_id), text)
            doc = cast(dict[str, Any], json.loads(text))
        self._known.put(doc_id, doc)
        return dict(doc)


class ReadModelGuard:
    """Notices that Redis lost a read model (flushed, or restarted without persistence)
    and rebuilds it from its source, the streams, while the process keeps serving.

    A marker key beside the model says it is whole: written at start (the consumers'
    durable positions, kept by NATS, say the model has been kept up) and after each
    rebuild. :meth:`check` (a :class:`~bobaku.kernel.tasks.BackgroundTask` step, every few
    seconds) finds the marker gone, replays the source through ``rebuild`` (idempotent:
    :meth:`Listings.put` never regresses an item, so events projected meanwhile are safe)
    and writes it again. Without it, an order that did not change after a flush was missing
    from every list until it changed again."""

    def __init__(self, redis: Redis, namespace: str, rebuild: Callable[[], Awaitable[int]]) -> None:
        self.redis = redis
        self.namespace = namespace
        self.marker = f"{namespace}:whole"
        self.rebuild = rebuild
        self.rebuilds = 0

    async def start(self) -> None:
        await self.redis.set(self.marker, "1", nx=True)

    async def check(self) -> None:
        if await self.redis.exists(self.marker):
            return
        log.warning(
            "read model %s is gone from Redis; rebuilding it from its stream", self.namespace
        )
        items = await self.rebuild()
        await self.redis.set(self.marker, "1")
        self.rebuilds += 1
        log.warning("read model %s rebuilt: %d items", self.namespace, items)
