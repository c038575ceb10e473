"""The whole platform as real processes, for tests that cross services.

Every service runs as its own process (as under `make run`), on free ports, with this test
run's database prefix and consumer names, and the demo brand seeded. Process logs are kept
under ``.run/test-artifacts/platform/`` for post-mortems.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from launcher import Platform, Process, available, environment, file_logger
from seed import seed_demo_brand
from support import ARTIFACTS, RunningPlatform, free_port

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.settings import Settings

# Payment intents expire fast here so the timeout path runs in seconds.
INTENT_TTL_S = 5


@pytest.fixture(scope="session")
async def platform(
    settings: Settings, token_issuer: TokenIssuer, jwt_key_files: tuple[Path, Path]
) -> AsyncIterator[RunningPlatform]:
    procs = [Process(p.name, p.module, free_port(), p.public) for p in available()]
    names = {p.name for p in procs}
    missing = {"customer", "menu", "order", "payment", "provider-sim", "gateway"} - names
    assert not missing, f"platform processes missing from this checkout: {sorted(missing)}"
    extra = {
        "NATS_URL": settings.nats_url,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": f"{settings.mongodb_db_prefix}p",
        "DEPLOYMENT_ID": f"{settings.deployment_id}-p",
        "CONSUMERS_START_AT": "new",
        "ENVIRONMENT": "test",
        "PAYMENT_INTENT_TTL_S": str(INTENT_TTL_S),
        "LOG_LEVEL": "INFO",
    }
    envs = environment(procs, token_issuer, *jwt_key_files, extra)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    platform = Platform(procs, envs, file_logger(ARTIFACTS))
    try:
        await platform.start(timeout_s=90)
        await seed_demo_brand(envs)
        yield RunningPlatform(
            platform, f"http://127.0.0.1:{platform.running['gateway'].proc.port}", envs,
            {p.name: p.port for p in procs},
        )  # fmt: skip
    finally:
        await platform.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
