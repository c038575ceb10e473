"""The analytics projections on the real NATS JetStream and Redis of the test run."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bobaku.kernel.bus import EventBus
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import Rules

sys.path.insert(0, str(Path(__file__).parent))

RULES = Rules(zone=ZoneInfo("Asia/Jakarta"), service_target_s=300)


@pytest.fixture
async def store(redis: Any) -> AsyncIterator[ProjectionStore]:
    """A projection store of the test's own (its own deployment prefix in Redis)."""
    store = ProjectionStore(redis, f"t{secrets.token_hex(4)}", RULES)
    yield store
    for gen in range(1, 4):
        await store.drop(gen)


@pytest.fixture
async def replaying_bus(bus: EventBus) -> AsyncIterator[EventBus]:
    """The session's connection, with consumers that start at the beginning of a stream
    (as the analytics service's do), named apart for each test."""
    own = EventBus(bus.nc, deployment_id=f"t{secrets.token_hex(4)}", names=bus.names)
    for kind in ("order", "loyalty"):
        await AggregateStore(own, kind).start()
    yield own
    await own.stop_consumers(grace_s=2)
    for name in await own.js.streams_info():
        for consumer in await own.js.consumers_info(name.config.name):
            if consumer.name.startswith(f"{own.deployment_id}-"):
                await own.js.delete_consumer(name.config.name, consumer.name)
