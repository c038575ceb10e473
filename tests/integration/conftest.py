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
from support import ARTIFACTS, RunningPlatform, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.settings import Settings

# Payment intents expire fast here so the timeout path runs in seconds, yet slowly enough
# that a payment service restarted mid-saga (a crash test) is back before its intent lapses.
INTENT_TTL_S = 20


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
    extra = {
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": f"{settings.mongodb_db_prefix}p",
        "DEPLOYMENT_ID": f"{settings.deployment_id}-p",
        "CONSUMERS_START_AT": "new",
        "ENVIRONMENT": "test",
        "OTEL_SDK_DISABLED": "false",  # traced to the suite's Jaeger (docs/observability.md)
        "PAYMENT_INTENT_TTL_S": str(INTENT_TTL_S),
        "LOGIN_RATE_LIMIT_PER_MINUTE": "10000",
        # The authorization matrix and the fuzzing send thousands of requests from this one
        # address in a minute (the limits themselves are tested in tests/services/gateway).
        "IP_RATE_LIMIT_PER_MINUTE": "1000000",
        "ANONYMOUS_RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "INFO",
        # The simulated providers behave unless a test says otherwise (/_control/.../next).
        "PROVIDER_SETTLEMENT_DELAY_S": "0.3",
        "PROVIDER_FAILURE_RATE": "0",
        "PROVIDER_TIMEOUT_RATE": "0",
        "PROVIDER_DUPLICATE_RATE": "0",
        "PROVIDER_REORDER_RATE": "0",
        # Notifications: the suite's Mailpit, and back-off short enough for a test.
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailpit.smtp_port),
        "IN_APP_RETRY_DELAYS_S": "[0.2, 0.5]",
        "EMAIL_RETRY_DELAYS_S": "[0.3, 0.6, 1.0]",
        "PUSH_RETRY_DELAYS_S": "[0.3, 0.6]",
        "EMAIL_TRIES": "60",
        "PUSH_RECEIPT_DELAY_S": "0.2",
        # Short, so that failures other tests caused have left the window within one test.
        "PROVIDER_FAILURE_WINDOW_S": "20",
        # An order's service target: 20 s after the kitchen gets a one-drink order (its
        # estimate is 4 minutes out), so the late-order alert shows within a test.
        "LATE_GRACE_S": "-220",
        # Every process logs the MongoDB commands it sends (test_storage_rule.py).
        "MONGODB_COMMAND_LOG": str(ARTIFACTS / "mongo-commands"),
        # The loyalty expiry job walks its calendar often enough for a test to see it.
        "LOYALTY_EXPIRY_INTERVAL_S": "0.5",
    }
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


DEMO_OUTLETS = {
    "fr-jakarta": ("outlet-01", "outlet-02", "outlet-03"),
    "fr-bandung": ("outlet-04", "outlet-05"),
}


async def open_all_day(procs: list[Process], issuer: TokenIssuer) -> None:
    """The demo outlets open 10:00-22:00 Jakarta time; tests must not depend on the clock,
    so their owners open them around the clock, through the public API."""
    gateway = next(p for p in procs if p.name == "gateway")
    week = {day: [{"open": "00:00", "close": "24:00"}] for day in DAYS}
    async with aiohttp.ClientSession() as http:
        for franchise, outlets in DEMO_OUTLETS.items():
            owner = issuer.issue(
                f"u-owner-{franchise}", [Role.FRANCHISE_OWNER], franchise_id=franchise
            )
            for outlet in outlets:
                async with http.put(
                    f"http://127.0.0.1:{gateway.port}/api/v1/outlets/{outlet}/hours",
                    json={"opening_hours": week},
                    headers={"Authorization": f"Bearer {owner}"},
                ) as resp:
                    assert resp.status == 200, await resp.text()


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
