"""The payment service and the provider simulator, both serving on real ports.

The simulator runs in instant mode (settles at once, never misbehaves unless a test forces
an outcome), the payment service with a short intent TTL so expiry tests are quick. They
talk to each other over HTTP exactly as in production: charges and refunds one way, signed
callbacks the other. NATS, Redis and FerretDB are the real servers. One pair of servers
serves the whole session; tests stay apart by using fresh franchise and order ids.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings

# The tests import their shared helpers (payment_testing) from this folder.
sys.path.insert(0, str(Path(__file__).parent))

from payment_testing import World, running_world


@pytest.fixture(scope="session")
async def world(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus
) -> AsyncIterator[World]:
    async with running_world(settings, token_issuer, bus) as world:
        yield world
