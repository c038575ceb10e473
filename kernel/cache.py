"""Redis, and a cache-aside helper whose invalidation cannot race with a slow loader.

Cached values are grouped by *tags* (``menu:fr-jakarta``, ``item:m001``). Each tag has a
generation counter in Redis, and a value is stored under a key that includes the current
generations of its tags. Invalidating a tag is one ``INCR``: readers move to new keys at once,
a loader that read old data before the invalidation writes under the old key nobody reads,
and old entries age out by TTL. Invalidation hooks map event types to the tags they stale,
so a consumer of change events keeps caches correct across processes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from redis.asyncio import Redis

from bobaku.kernel.bus import Delivery
from bobaku.kernel.events import Event
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

    async def _key(self, key: str, tags: Sequence[str]) -> str:
        if not tags:
            return f"cache:{self.name}:{key}"
        gens = await self.redis.mget([GENERATION_PREFIX + t for t in tags])
        suffix = ".".join((g.decode() if isinstance(g, bytes) else str(g or 0)) for g in gens)
        return f"cache:{self.name}:{key}:g{suffix}"

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
        CACHE_LOOKUPS.labels(cache=self.name, result="miss").inc()
        value = await loader()
        if value is not None:
            await self.redis.set(full, json.dumps(value, default=str), ex=ttl_s or self.ttl_s)
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
