"""Rate limits and idempotency keys, both kept in Redis so every gateway replica agrees."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bobaku.kernel.errors import BobakuError, Conflict, RateLimited


@dataclass(frozen=True)
class Limit:
    requests: int
    window_s: int


# The window's counter and, while it has none, its expiry: atomic, one command per check
# (a MULTI/INCR/EXPIRE/EXEC transaction was four commands and more client work).
COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if #KEYS == 1 then return {count} end
return {count, unpack(redis.call('MGET', unpack(KEYS, 2)))}
"""


class RateLimiter:
    """Fixed-window counters: one script per check (``INCR``, and ``EXPIRE`` on the
    first hit of a window)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._count = redis.register_script(COUNT_IN_WINDOW)

    async def check(self, bucket: str, who: str, limit: Limit) -> dict[str, str]:
        return (await self.check_and_get(bucket, who, limit, ()))[0]

    async def check_and_get(
        self, bucket: str, who: str, limit: Limit, keys: Sequence[str]
    ) -> tuple[dict[str, str], list[bytes | None]]:
        """:meth:`check`, and the values of ``keys`` read in the same round trip (the
        edge cache's generations: a cached read is one Redis command)."""
        window = int(time.time() // limit.window_s)
        key = f"rl:{bucket}:{who}:{window}"
        count, *values = await self._count(keys=[key, *keys], args=[limit.window_s + 1])
        remaining = max(limit.requests - int(count), 0)
        headers = {
            "X-RateLimit-Limit": str(limit.requests),
            "X-RateLimit-Remaining": str(remaining),
        }
        if int(count) > limit.requests:
            retry_after = limit.window_s - int(time.time()) % limit.window_s
            err = RateLimited(
                f"too many requests; try again in {retry_after}s",
                details={
                    "limit": limit.requests,
                    "window_s": limit.window_s,
                    "retry_after_s": retry_after,
                },
            )
            raise err
        return headers, values


class IdempotencyKeyReused(BobakuError):
    status = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str


class IdempotencyStore:
    """Replays the first response to a POST carrying the same ``Idempotency-Key``.

    The key is scoped to the caller and the path; the request body's hash is kept with it,
    so the same key with a different body is refused instead of silently replayed.
    While the first request is still running, a repeat gets ``409 request_in_progress``.
    Server errors release the key so the client may retry. The "in progress" mark is a
    lease of ``lease_s``: if the process handling the first request dies before it finishes,
    the mark runs out and the client's retry goes ahead instead of meeting 409 for ever.
    """

    def __init__(self, redis: Redis, ttl_s: int = 24 * 3600, lease_s: int = 30) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.lease_s = lease_s

    @staticmethod
    def _key(who: str, path: str, key: str) -> str:
        return f"idem:gw:{who}:{path}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def begin(self, who: str, path: str, key: str, body: bytes) -> StoredResponse | None:
        """None: go ahead (the key is now ours). A response: replay it."""
        redis_key = self._key(who, path, key)
        digest = hashlib.sha256(body).hexdigest()
        pending = json.dumps({"state": "pending", "body_hash": digest})
        if await self.redis.set(redis_key, pending, nx=True, ex=self.lease_s):
            return None
        raw = await self.redis.get(redis_key)
        if raw is None:  # expired between the two calls
            return await self.begin(who, path, key, body)
        stored: dict[str, Any] = json.loads(raw)
        if stored["body_hash"] != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body",
                details={"field": "Idempotency-Key"},
            )
        if stored["state"] == "pending":
            err = Conflict(
                "a request with this Idempotency-Key is still in progress",
                details={"field": "Idempotency-Key"},
            )
            err.code = "request_in_progress"
            raise err
        return StoredResponse(stored["status"], stored["body"].encode(), stored["content_type"])

    async def finish(
        self, who: str, path: str, key: str, body: bytes, response: StoredResponse
    ) -> None:
        redis_key = self._key(who, path, key)
        if response.status >= 500:
            await self.redis.delete(redis_key)
            return
        record = {
            "state": "done",
            "body_hash": hashlib.sha256(body).hexdigest(),
            "status": response.status,
            "body": response.body.decode(errors="replace"),
            "content_type": response.content_type,
        }
        await self.redis.set(redis_key, json.dumps(record), ex=self.ttl_s)
