"""A leader lease in Redis: at most one process holds it at a time.

The payment projector runs only in the lease holder, so every read-model document has a
single writer even when several payment processes run (FerretDB's updates are read-modify-
write, so two writers could lose each other's counts). The holder renews the lease well
before it runs out and stops projecting as soon as a renewal fails.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from redis.asyncio import Redis

# Renew / release only if we still hold it (another process may have taken it over).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLease:
    def __init__(self, redis: Redis, name: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = f"lease:{name}"
        self.ttl_ms = int(ttl_s * 1000)
        self.token = secrets.token_hex(8)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        result = await cast(Any, self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        return bool(result)

    async def hold(self) -> bool:
        """Renew the lease if held, else try to take it; True while we hold it."""
        return await self.renew() or await self.acquire()

    async def release(self) -> None:
        await cast(Any, self.redis.eval(_RELEASE, 1, self.key, self.token))
