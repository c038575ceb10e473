"""The menu service on real NATS, Redis and FerretDB, driven over HTTP.

Each test module gets one running app (seeded with the demo brand) whose clock the tests
set. Tests that change shared data make their own franchise, outlet or item with random
ids, so they never disturb each other or another run; what they leave in the shared
JetStream streams is purged at the end.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from nats.js.errors import NotFoundError

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.bus import EVENTS_STREAM, EventBus
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import DATABASES
from bobaku.services.menu.bootstrap import build_app
from bobaku.services.menu.entrypoints.consumers import CACHE_INVALIDATION
from bobaku.services.menu.entrypoints.supply_availability import SUPPLY_AVAILABILITY
from bobaku.services.menu.seed import seed_menu

sys.path.insert(0, str(Path(__file__).parent))
from menu_testing import NOON_IN_JAKARTA, FakeClock, MenuService


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def menu(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus
) -> AsyncIterator[MenuService]:
    clock = FakeClock()
    app = build_app(settings.model_copy(update={"service_name": "menu"}), clock=clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    await seed_menu(app[DATABASES], bus, now=clock.now, deployment=settings.deployment_id)
    service = MenuService(client, app, clock, token_issuer, bus, settings)
    yield service
    databases = app[DATABASES]
    for franchise in service.franchises:
        await databases.drop_franchise(franchise)
    await client.close()
    for franchise in service.franchises:
        for stream, subject in ((EVENTS_STREAM, f"events.{franchise}.>"),):
            with contextlib.suppress(NotFoundError):
                await bus.js.purge_stream(stream, subject=subject)


@pytest.fixture(autouse=True)
def _clock_at_noon(request: pytest.FixtureRequest) -> None:
    """Every test starts at noon in Jakarta, whatever the previous one set."""
    if "menu" in request.fixturenames:
        request.getfixturevalue("menu").clock.now = NOON_IN_JAKARTA


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def _forget_this_runs_consumers(settings: Settings, bus: EventBus) -> AsyncIterator[None]:
    yield
    # The durable consumers are named after the run's deployment id: drop them at the end,
    # so runs do not pile up consumers on the shared streams.
    for stream, durable in (
        (EVENTS_STREAM, f"{settings.deployment_id}-{CACHE_INVALIDATION}"),
        (EVENTS_STREAM, f"{settings.deployment_id}-{SUPPLY_AVAILABILITY}"),
    ):
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer(stream, durable)
