"""Redis, and a cache-aside helper whose invalidation cannot race with a slow loader.

Cached values are grouped by *tags* (``menu:fr-jakarta``, ``item:m001``). Each tag has a
generation counter in Redis, and a value is stored under a key that includes the current
generations of its tags. Invalidating a tag is one ``INCR``: readers move to new keys at once,
a loader that read old data before the invalidation writes under the old key nobody reads,
and old entries age out by TTL. Invalidation hooks map event types to the tags they stale,
so a consumer of change events keeps caches correct across processes.

A load is done once per key and process at a time: concurrent misses of the same key wait
for the one loader instead of each reading the databases (the stampede after an
invalidation of a popular key).

:class:`EdgeCache` keeps whole HTTP responses (their bytes, as the upstream encoded them)
in the memory of a process in front of the upstream, the gateway. The upstream marks a
response as cacheable with :func:`edge_headers`: the generations of the tags it read before
working it out, how long it holds at most, and its ``ETag``. Each read then costs one
``MGET`` of those generations: an entry is served only while they are unchanged, so a
change is visible on the first read after its invalidating event has been handled, on every
replica, with nothing pushed to them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis

from bobaku.kernel.bus import Delivery
from bobaku.kernel.events import Event
from bobaku.kernel.lru import LruMap
from bobaku.kernel.settings import Settings
from bobaku.kernel.telemetry import CACHE_LOOKUPS

T = TypeVar("T")

GENERATION_PREFIX = "cachegen:"


def redis_from_settings(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=15,
        client_name=settings.service_name,
    )


class Cache:
    def __init__(self, redis: Redis, name: str, *, ttl_s: int = 300) -> None:
        self.redis = redis
        self.name = name
        self.ttl_s = ttl_s
        self._hooks: dict[str, list[Callable[[Event], Iterable[str]]]] = {}
        # Loads under way in this process, by full key: later misses wait for them.
        self._loading: dict[str, asyncio.Future[Any]] = {}

    async def generations(self, tags: Sequence[str]) -> dict[str, str]:
        """The current generation of each tag (``"0"`` for one never invalidated)."""
        return await generations(self.redis, tags)

    async def _key(self, key: str, tags: Sequence[str]) -> str:
        if not tags:
            return f"cache:{self.name}:{key}"
        gens = await self.generations(tags)
        return f"cache:{self.name}:{key}:g{'.'.join(gens[t] for t in tags)}"

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        *,
        tags: Sequence[str] = (),
        ttl_s: int | None = None,
    ) -> T:
        """The cached value of ``key``, loading and storing it on a miss.

        Values must be JSON-serialisable; ``None`` results are not cached.
        """
        full = await self._key(key, tags)
        raw = await self.redis.get(full)
        if raw is not None:
            CACHE_LOOKUPS.labels(cache=self.name, result="hit").inc()
            value: T = json.loads(raw)
            return value
        loading = self._loading.get(full)
        if loading is not None:
            CACHE_LOOKUPS.labels(cache=self.name, result="waited").inc()
            shared: T = await asyncio.shield(loading)
            return shared
        CACHE_LOOKUPS.labels(cache=self.name, result="miss").inc()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[full] = future
        try:
            value = await loader()
            if value is not None:
                await self.redis.set(full, json.dumps(value, default=str), ex=ttl_s or self.ttl_s)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(value)
        finally:
            del self._loading[full]
        return value

    async def invalidate_tags(self, *tags: str) -> None:
        if tags:
            async with self.redis.pipeline(transaction=False) as pipe:
                for tag in tags:
                    pipe.incr(GENERATION_PREFIX + tag)
                await pipe.execute()

    def on_event(self, event_type: str, tags_of: Callable[[Event], Iterable[str]]) -> None:
        """Register a hook: when ``event_type`` arrives, invalidate ``tags_of(event)``."""
        self._hooks.setdefault(event_type, []).append(tags_of)

    @property
    def invalidated_by(self) -> list[str]:
        return sorted(self._hooks)

    async def handle_event(self, event: Event, delivery: Delivery | None = None) -> None:
        """A bus handler: apply the hooks registered for this event's type."""
        tags: list[str] = []
        for tags_of in self._hooks.get(event.type, ()):
            tags.extend(tags_of(event))
        await self.invalidate_tags(*tags)


async def generations(redis: Redis, tags: Sequence[str]) -> dict[str, str]:
    """The current generation of each tag, as strings (``"0"``: never invalidated)."""
    if not tags:
        return {}
    return decode_generations(tags, await redis.mget([GENERATION_PREFIX + t for t in tags]))


def decode_generations(tags: Sequence[str], values: Sequence[Any]) -> dict[str, str]:
    """``tags``' generations from the values of their keys (``GENERATION_PREFIX + tag``)."""
    return {
        tag: (g.decode() if isinstance(g, bytes) else str(g or 0))
        for tag, g in zip(tags, values, strict=True)
    }


# --- responses cached at the edge ------------------------------------------------------------

# Set by the upstream on a response every caller may be given (internal: the gateway
# strips them). Generations: ``tag=gen`` pairs joined by ``,``; max age in seconds.
EDGE_GENERATIONS = "X-Bobaku-Cache-Generations"
EDGE_MAX_AGE = "X-Bobaku-Cache-Max-Age"


def weak_etag(content: Any) -> str:
    """A weak validator of ``content`` (any JSON value): equal content, equal ETag."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return f'W/"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` against ``etag`` by the weak comparison (RFC 9110, 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(c.strip().removeprefix("W/") == opaque for c in if_none_match.split(","))


def edge_headers(etag: str, gens: Mapping[str, str], max_age_s: float) -> dict[str, str]:
    """What marks a response as cacheable at the edge (see :class:`EdgeCache`)."""
    return {
        "ETag": etag,
        # Clients keep it but ask again each time (If-None-Match: a 304 costs no body).
        "Cache-Control": "no-cache",
        EDGE_GENERATIONS: ",".join(f"{tag}={gen}" for tag, gen in gens.items()),
        EDGE_MAX_AGE: f"{max(max_age_s, 0.0):.3f}",
    }


@dataclass(frozen=True)
class EdgeResponse:
    """A response as the upstream gave it, and what keeps it valid if it may be cached."""

    status: int
    body: bytes
    content_type: str
    etag: str | None = None
    gens: Mapping[str, str] | None = None  # None: not cacheable
    expires_at: float = 0.0  # time.monotonic()

    @classmethod
    def of(cls, status: int, body: bytes, headers: Mapping[str, str]) -> EdgeResponse:
        content_type = headers.get("Content-Type", "application/octet-stream").split(";")[0]
        raw_gens, max_age = headers.get(EDGE_GENERATIONS), headers.get(EDGE_MAX_AGE)
        etag = headers.get("ETag")
        if status != 200 or raw_gens is None or max_age is None or not etag:
            return cls(status, body, content_type, etag)
        try:
            pairs = [p.rsplit("=", 1) for p in raw_gens.split(",") if p]
            gens = {tag: gen for tag, gen in pairs}
            expires_at = time.monotonic() + float(max_age)
        except ValueError:
            return cls(status, body, content_type, etag)
        return cls(status, body, content_type, etag, gens, expires_at)


class EdgeCache:
    """Responses kept in this process's memory, each valid while the generations of the
    tags its upstream read are unchanged (one ``MGET`` per read) and its max age lasts.

    :meth:`get` with a key the caller has decided is the same for every caller (the path
    of a public read). Concurrent misses of a key share one fetch; a response shared that
    way is checked against the generations once more after it arrives, so no caller is
    given a response older than an invalidation handled before it asked.
    """

    def __init__(self, redis: Redis, name: str, *, max_entries: int = 10_000) -> None:
        self.redis = redis
        self.name = name
        self._entries: LruMap[str, EdgeResponse] = LruMap(max_entries)
        self._loading: dict[str, asyncio.Future[EdgeResponse]] = {}

    def tags_of(self, key: str) -> list[str]:
        """The tags the entry of ``key`` depends on (none without an entry): a caller may
        read their generations with a command of its own and pass them to :meth:`get`."""
        entry = self._entries.peek(key)
        return list(entry.gens) if entry is not None and entry.gens is not None else []

    async def _current(self, entry: EdgeResponse, known: Mapping[str, str] | None = None) -> bool:
        if entry.gens is None or time.monotonic() >= entry.expires_at:
            return False
        if known is not None and known.keys() == entry.gens.keys():
            return dict(known) == dict(entry.gens)
        return await generations(self.redis, list(entry.gens)) == dict(entry.gens)

    async def get(
        self,
        key: str,
        fetch: Callable[[], Awaitable[EdgeResponse]],
        current: Mapping[str, str] | None = None,
    ) -> EdgeResponse:
        """The response for ``key``. ``current``: the generations of :meth:`tags_of`,
        read by the caller during this request (else they are read here)."""
        entry = self._entries.peek(key)
        if entry is not None and await self._current(entry, current):
            CACHE_LOOKUPS.labels(cache=self.name, result="hit").inc()
            return entry
        for _ in range(3):
            loading = self._loading.get(key)
            if loading is None:
                break
            CACHE_LOOKUPS.labels(cache=self.name, result="waited").inc()
            shared = await asyncio.shield(loading)
            if shared.gens is None or await self._current(shared):
                return shared
        CACHE_LOOKUPS.labels(cache=self.name, result="miss").inc()
        return await self._load(key, fetch)

    async def _load(self, key: str, fetch: Callable[[], Awaitable[EdgeResponse]]) -> EdgeResponse:
        future: asyncio.Future[EdgeResponse] = asyncio.get_running_loop().create_future()
        owner = key not in self._loading
        if owner:
            self._loading[key] = future
        try:
            response = await fetch()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            if owner:
                del self._loading[key]
        future.set_result(response)
        if response.gens is not None:
            self._entries.put(key, response)
        else:
            self._entries.forget(key)
        return response
