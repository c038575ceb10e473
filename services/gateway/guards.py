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


# Each check's window counter and, while it has none, its expiry; the first check over its
# limit ends the script, so a later check (the caller's own, after its address's) is not
# counted for a refused request. Then the values of any further keys (the edge cache's
# generations). Atomic, one round trip for every check of a request.
# KEYS: the n counters, then the keys to read; ARGV: n, then each counter's TTL and limit.
COUNT_IN_WINDOWS = """
local n = tonumber(ARGV[1])
local counts = {}
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
  counts[i] = count
  if count > tonumber(ARGV[2 * i + 1]) then return counts end
end
if #KEYS == n then return counts end
local values = redis.call('MGET', unpack(KEYS, n + 1))
for i = 1, #values do counts[n + i] = values[i] end
return counts
"""


@dataclass(frozen=True)
class Check:
    """One rate limit to count a request against: ``bucket`` and ``who`` name its counter."""

    bucket: str
    who: str
    limit: Limit


class RateLimiter:
    """Fixed-window counters: one script per request for all of its checks (``INCR``, and
    ``EXPIRE`` on the first hit of a window)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._count = redis.register_script(COUNT_IN_WINDOWS)

    async def check(self, bucket: str, who: str, limit: Limit) -> dict[str, str]:
        return (await self.check_all([Check(bucket, who, limit)]))[0]

    async def check_all(
        self, checks: Sequence[Check], keys: Sequence[str] = ()
    ) -> tuple[dict[str, str], list[bytes | None]]:
        """Count the request against every check in order, stopping at (and refusing with
        429 for) the first one over its limit, and read the values of ``keys``: one round
        trip. The headers are the last check's."""
        if not checks:
            raise ValueError("check_all needs at least one check")
        now = time.time()
        counters = [f"rl:{c.bucket}:{c.who}:{int(now // c.limit.window_s)}" for c in checks]
        args: list[int] = [len(checks)]
        for c in checks:
            args += [c.limit.window_s + 1, c.limit.requests]
        reply = await self._count(keys=[*counters, *keys], args=args)
        for c, count in zip(checks, reply, strict=False):
            if int(count) > c.limit.requests:
                retry_after = c.limit.window_s - int(now) % c.limit.window_s
                raise RateLimited(
                    f"too many requests; try again in {retry_after}s",
                    details={
                        "limit": c.limit.requests,
                        "window_s": c.limit.window_s,
                        "retry_after_s": retry_after,
                    },
                )
        last = checks[-1].limit
        headers = {
            "X-RateLimit-Limit": str(last.requests),
            "X-RateLimit-Remaining": str(max(last.requests - int(reply[len(checks) - 1]), 0)),
        }
        return headers, list(reply[len(checks) :])


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
