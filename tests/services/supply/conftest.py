"""The supply service on real NATS and FerretDB, beside a real menu service (which
registers outlets), both driven over HTTP. Two supply replicas share the same streams and
databases, so races between processes' in-memory ledgers are real.

Tests make their own franchises and outlets with random ids; what they leave in the shared
JetStream streams is purged at the end.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from nats.js.errors import NotFoundError

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EVENTS_STREAM, EventBus
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import DATABASES
from bobaku.services.menu.bootstrap import build_app as build_menu
from bobaku.services.menu.entrypoints.consumers import CACHE_INVALIDATION
from bobaku.services.menu.entrypoints.supply_availability import SUPPLY_AVAILABILITY
from bobaku.services.menu.seed import seed_menu
from bobaku.services.supply.adapters.announcements import BUCKET as ANNOUNCED
from bobaku.services.supply.bootstrap import build_app as build_supply
from bobaku.services.supply.entrypoints.consumers import ARRIVALS, LISTS, RELAY
from bobaku.services.supply.seed import seed_supply

sys.path.insert(0, str(Path(__file__).parent))
from supply_testing import Client, SupplyHarness


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def harness(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus
) -> AsyncIterator[SupplyHarness]:
    menu_app = build_menu(settings.model_copy(update={"service_name": "menu"}))
    menu: Client = TestClient(TestServer(menu_app))
    await menu.start_server()
    await seed_menu(menu_app[DATABASES], bus, deployment=settings.deployment_id)
    service_token = token_issuer.issue("svc-supply", [Role.SERVICE])
    supply_settings = settings.model_copy(
        update={
            "service_name": "supply",
            "menu_url": str(menu.make_url("")).rstrip("/"),
            "service_token": service_token,
            # No analytics here (nothing listens on the discard port): suggestions fall
            # back to par levels. tests/integration/test_supply_saga.py has the real one.
            "analytics_url": "http://127.0.0.1:9",
        }
    )
    replicas: list[Client] = []
    for n in range(2):
        app = build_supply(supply_settings, run_consumers=n == 0)
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        replicas.append(client)
    await seed_supply(replicas[0].app[DATABASES], bus, deployment=settings.deployment_id)
    harness = SupplyHarness(menu, replicas, token_issuer, bus)
    yield harness
    for client in replicas:
        await client.close()
    await menu.close()
    for franchise in harness.franchises:
        for stream, subject in (
            ("ES_SUPPLY", f"es.supply.{franchise}.>"),
            ("ES_SUPPLYPO", f"es.supplypo.{franchise}.>"),
            ("ES_SUPPLYTRANSFER", f"es.supplytransfer.{franchise}.>"),
            (EVENTS_STREAM, f"events.{franchise}.>"),
            (f"KV_{ANNOUNCED}", f"$KV.{ANNOUNCED}.{franchise}.>"),
        ):
            with contextlib.suppress(NotFoundError):
                await bus.js.purge_stream(stream, subject=subject)
    for stream, durable in (
        ("ES_SUPPLY", RELAY),
        ("ES_SUPPLYPO", f"{ARRIVALS}-es-supplypo"),
        ("ES_SUPPLYTRANSFER", f"{ARRIVALS}-es-supplytransfer"),
        ("ES_SUPPLYPO", f"{LISTS}-es-supplypo"),
        ("ES_SUPPLYTRANSFER", f"{LISTS}-es-supplytransfer"),
        (EVENTS_STREAM, CACHE_INVALIDATION),
        (EVENTS_STREAM, SUPPLY_AVAILABILITY),
    ):
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer(stream, f"{settings.deployment_id}-{durable}")
