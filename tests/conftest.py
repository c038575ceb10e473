"""Shared fixtures: real NATS JetStream, Redis and a MongoDB-wire server.

The servers come from ``scripts/infra.sh up`` (or NATS_URL / REDIS_URL / MONGODB_URL).
Each test run uses its own database prefix and its own stream names, so runs never see
each other's data.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from support import seed_order_data

from bobaku.kernel.auth import TokenIssuer, generate_private_key, private_key_pem, public_key_pem
from bobaku.kernel.bus import EventBus, StreamSpec
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.db import Databases, IndexCatalog
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.settings import Settings

RUN_ID = secrets.token_hex(3)

# Processes the tests start must not get the repo root on sys.path from `python -m`: the
# card's top-level `operator/` folder would shadow the standard library's `operator`.
os.environ["PYTHONSAFEPATH"] = "1"
# The test process itself does not trace (its own client spans would become the root of the
# platform's traces); the platform's processes do (tests/integration/conftest.py).
os.environ["OTEL_SDK_DISABLED"] = "true"


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """Signs test tokens; its public key is what every service under test verifies with."""
    return TokenIssuer(
        generate_private_key(), kid="test-1", issuer="bobaku-customer", audience="bobaku"
    )


@pytest.fixture(scope="session")
def jwt_key_files(
    token_issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("jwt")
    private, public = folder / "private.pem", folder / "public.pem"
    private.write_bytes(private_key_pem(token_issuer.key))
    public.write_bytes(public_key_pem(token_issuer.public_key()))
    return private, public


@pytest.fixture(scope="session")
def settings(jwt_key_files: tuple[Path, Path]) -> Settings:
    return Settings(
        service_name="kernel-tests",
        environment="test",
        mongodb_db_prefix=f"t{RUN_ID}",
        event_max_deliveries=3,
        deployment_id=f"t{RUN_ID}",
        # The suite's processes and buses share the default deployment's streams, subjects
        # and buckets (on the suite's own NATS), each with consumers named by its own
        # DEPLOYMENT_ID; tests/kernel/test_isolation.py runs deployments of their own.
        nats_deployment_id="bobaku",
        consumers_start_at="new",
        jwt_private_key_file=jwt_key_files[0],
        jwt_public_key_file=jwt_key_files[1],
        jwt_key_id="test-1",
    )


@pytest.fixture(scope="session")
async def bus(settings: Settings) -> AsyncIterator[EventBus]:
    bus = await EventBus.connect(settings)
    yield bus
    await bus.close()


@pytest.fixture
async def stream(bus: EventBus) -> AsyncIterator[StreamSpec]:
    """A stream of the test's own, deleted afterwards."""
    suffix = secrets.token_hex(4)
    spec = StreamSpec(f"TEST_{suffix.upper()}", (f"t{suffix}.>",), duplicate_window_s=60)
    await bus.ensure_stream(spec)
    yield spec
    await bus.stop_consumers(grace_s=2)
    await bus.js.delete_stream(spec.name)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Any]:
    client = redis_from_settings(settings)
    yield client
    await client.aclose()


@pytest.fixture
async def databases(settings: Settings) -> AsyncIterator[Databases]:
    dbs = Databases.from_settings(settings, IndexCatalog())
    yield dbs
    for name in await dbs.client.list_database_names():
        if name.startswith(settings.mongodb_db_prefix + "_"):
            await dbs.client.drop_database(name)
    await dbs.close()


@pytest.fixture
def order_created() -> Callable[..., Event]:
    def make(**overrides: Any) -> Event:
        return new_event(
            "order.created", seed_order_data(**overrides), source="order-service", tenant="fr-jkt"
        )

    return make
