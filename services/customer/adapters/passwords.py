"""Password hashing with argon2id, off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_kib: int = 65_536,
        parallelism: int = 4,
        workers: int = 2,
    ) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, self._argon2.verify, password_hash, password
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def prepare(self) -> None:
        """Make the decoy hash at start-up, so even the first unknown-email login costs
        exactly one verification."""
        if self._decoy is None:
            self._decoy = await self.hash(secrets.token_urlsafe(16))

    async def verify_decoy(self, password: str) -> None:
        """Spend the time of one verification, for a login whose email matched nobody, so
        the response time does not tell whether an account exists."""
        await self.prepare()
        assert self._decoy is not None
        await self.verify(self._decoy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
