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
from mailpit_testkit import Mailpit, mailpit_binary
from seed import seed_demo_brand
from support import ARTIFACTS, RunningPlatform, free_port, open_all_day, platform_settings

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.settings import Settings


@pytest.fixture(scope="session")
async def mailpit(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mailpit]:
    """The platform's mail server (the notification service sends to it)."""
    server = Mailpit(mailpit_binary(), tmp_path_factory.mktemp("mailpit") / "mailpit.log")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def platform(
    settings: Settings,
    token_issuer: TokenIssuer,
    jwt_key_files: tuple[Path, Path],
    mailpit: Mailpit,
) -> AsyncIterator[RunningPlatform]:
    procs = [Process(p.name, p.module, free_port(), p.public) for p in available()]
    names = {p.name for p in procs}
    missing = {"customer", "menu", "order", "payment", "provider-sim", "gateway"} - names
    assert not missing, f"platform processes missing from this checkout: {sorted(missing)}"
    extra = platform_settings(settings, mailpit.smtp_port)
    envs = environment(procs, token_issuer, *jwt_key_files, extra)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    # The order service may be scaled out by a test (test_order_lifecycle.py, replicas).
    platform = Platform(procs, envs, file_logger(ARTIFACTS), replicas={"order": 1})
    try:
        await platform.start(timeout_s=90)
        await seed_demo_brand(envs)
        await open_all_day(procs, token_issuer)
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
