"""Fixtures for the hub: two real hub processes sharing one history (replicas A and B),
a factory for more, websocket clients, tokens and the source streams.

Every run uses its own history stream, subject prefix and presence bucket, and deletes them
(and its router consumers on the shared source streams) afterwards. Ids in each test are
random, so tests never read each other's channels.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_testing import STEADY_HUB_ENV, HubClient, HubProcess, Producers, Tokens

from bobaku.hub.broker import SOURCES
from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings

RUN = secrets.token_hex(3)
STREAM, PREFIX, BUCKET = f"HUB_T{RUN.upper()}", f"hubt{RUN}", f"hub_presence_t{RUN}"

# Small limits and short intervals, so that each behaviour shows within a second or two.
TEST_HUB_ENV = {
    "HUB_STREAM": STREAM,
    "HUB_SUBJECT_PREFIX": PREFIX,
    "HUB_PRESENCE_BUCKET": BUCKET,
    "HUB_PING_INTERVAL_S": "1",
    "HUB_CONNECT_TIMEOUT_S": "2",
    "HUB_PRESENCE_TTL_S": "3",
    "HUB_HISTORY_SIZE": "150",
    "HUB_MAX_SUBSCRIPTIONS": "8",
    "HUB_MAX_MESSAGE_BYTES": "8192",
    "HUB_CLIENT_QUEUE_FRAMES": "64",
    "HUB_CLIENT_QUEUE_BYTES": "262144",
    "HUB_SOCKET_SEND_BUFFER_BYTES": "32768",
    "HUB_ROUTER_ACK_WAIT_S": "2",
    # No order or menu service in these tests: only the authorization tests start stand-ins.
    "ORDER_URL": "http://127.0.0.1:9",
    "MENU_URL": "http://127.0.0.1:9",
    "LOG_LEVEL": "INFO",
    "ENVIRONMENT": "test",
}

StartHub = Callable[..., Awaitable[HubProcess]]


@pytest.fixture(scope="session")
def hub_env(settings: Settings) -> dict[str, str]:
    assert settings.jwt_public_key_file is not None
    return {
        **TEST_HUB_ENV,
        "DEPLOYMENT_ID": settings.deployment_id,
        "CONSUMERS_START_AT": "new",
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "JWT_PUBLIC_KEY_FILE": str(settings.jwt_public_key_file),
        "JWT_KEY_ID": settings.jwt_key_id,
        "JWT_ISSUER": settings.jwt_issuer,
        "JWT_AUDIENCE": settings.jwt_audience,
    }


@pytest.fixture(scope="session")
async def start_hub(
    hub_env: dict[str, str],
    bus: EventBus,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[StartHub]:
    """Start a hub process of this run's replica group (``**env`` overrides settings)."""
    started: list[HubProcess] = []
    logs = tmp_path_factory.mktemp("hub-logs")

    async def start(name: str, **env: str) -> HubProcess:
        hub = HubProcess(name, {**hub_env, **env}, logs)
        started.append(hub)
        return await hub.start()

    yield start
    for hub in started:
        await hub.stop()
    for _, stream, _ in SOURCES:
        for name in ("order", "payment", "notification"):
            with contextlib.suppress(Exception):
                await bus.js.delete_consumer(
                    stream, f"{settings.deployment_id}-{PREFIX}-router-{name}"
                )
    with contextlib.suppress(Exception):
        await bus.js.delete_stream(STREAM)
    with contextlib.suppress(Exception):
        await bus.js.delete_key_value(BUCKET)


@pytest.fixture(scope="session")
async def hubs(start_hub: StartHub) -> tuple[HubProcess, HubProcess]:
    """Replicas A and B: one history, two processes, as behind a load balancer."""
    a = await start_hub("a")
    b = await start_hub("b")
    return a, b


@pytest.fixture(scope="session")
async def steady_hub(start_hub: StartHub) -> HubProcess:
    """A replica for tests of something else than heartbeats and timeouts, which the 1 s
    heartbeat, 2 s connect timeout and 5 s close grace of replicas A and B race under load."""
    return await start_hub("steady", **STEADY_HUB_ENV)


@pytest.fixture(scope="session")
async def hub_a(hubs: tuple[HubProcess, HubProcess]) -> HubProcess:
    return hubs[0]


@pytest.fixture(scope="session")
def producers(bus: EventBus) -> Producers:
    return Producers(bus)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[HubClient]]]:
    """Open connected clients (closed after the test): ``await clients(hub, token)``."""
    opened: list[HubClient] = []

    async def open_client(hub: HubProcess, token: str | None = None, **kw: str) -> HubClient:
        client = (
            await HubClient.connected(hub.ws_url, token, **kw)
            if token
            else await HubClient.open(hub.ws_url)
        )
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


@pytest.fixture(scope="session")
def tokens(token_issuer: TokenIssuer) -> Tokens:
    return Tokens(token_issuer)
