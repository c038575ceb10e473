"""The customer service under test: the real app on real NATS and FerretDB.

One app per test module (stopping one waits out its consumers' fetch, about a second); tests
stay apart by using fresh emails and customer ids. Data lives in this run's database prefix;
the durable consumers are this run's deployment's and start at new messages.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings
from bobaku.services.customer.bootstrap import build_app
from bobaku.services.customer.entrypoints import consumers
from bobaku.services.customer.settings import CustomerSettings

# The tests import their shared helpers (customer_testing) from this folder.
sys.path.insert(0, str(Path(__file__).parent))

from customer_testing import CustomerApi, Orders


@pytest.fixture(scope="session")
async def customer_settings(settings: Settings, bus: EventBus) -> AsyncIterator[CustomerSettings]:
    config = CustomerSettings(
        **{
            **settings.model_dump(),
            "service_name": "customer",
            # Cheap argon2 parameters keep the suite fast; the algorithm is the same.
            "password_hash_time_cost": 1,
            "password_hash_memory_kib": 8192,
            "password_hash_parallelism": 1,
            "outbox_relay_interval_s": 0.5,
        }
    )
    yield config
    for spec in (consumers.order_consumer(config), consumers.projection_consumer(config)):
        with contextlib.suppress(Exception):  # not created if no test started the app
            await bus.js.delete_consumer(spec.stream, f"{config.deployment_id}-{spec.durable}")


@pytest.fixture(scope="module")
async def api(
    customer_settings: CustomerSettings, token_issuer: TokenIssuer, bus: EventBus
) -> AsyncIterator[CustomerApi]:
    app = build_app(customer_settings)
    async with TestClient(TestServer(app)) as client:
        yield CustomerApi(client, token_issuer.issue("order-service", [Role.SERVICE]), bus)


@pytest.fixture(scope="module")
async def orders(api: CustomerApi) -> Orders:
    """Stands in for the order service (after the app has declared ES_ORDER)."""
    return Orders(api.bus)
