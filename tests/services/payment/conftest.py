"""The payment service and the provider simulator, both serving on real ports.

The simulator runs in instant mode (settles at once, never misbehaves unless a test forces
an outcome), the payment service with a short intent TTL so expiry tests are quick. They
talk to each other over HTTP exactly as in production: charges and refunds one way, signed
callbacks the other. NATS, Redis and FerretDB are the real servers. One pair of servers
serves the whole session; tests stay apart by using fresh franchise and order ids.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from nats.js.errors import NotFoundError
from support import free_port

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings
from bobaku.services.payment.bootstrap import build_app as build_payment
from bobaku.services.payment.settings import PaymentSettings
from bobaku.services.provider_sim.bootstrap import build_app as build_sim
from bobaku.services.provider_sim.settings import ProviderSimSettings

# The tests import their shared helpers (payment_testing) from this folder.
sys.path.insert(0, str(Path(__file__).parent))

from payment_testing import INTENT_TTL_S, World


@pytest.fixture(scope="session")
async def world(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus
) -> AsyncIterator[World]:
    sim_port, payment_port = free_port(), free_port()
    sim_url, payment_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{payment_port}"
    base = settings.model_dump()
    sim_settings = ProviderSimSettings(
        **{**base, "service_name": "provider-sim", "provider_sim_mode": "instant"}
    )
    durable = f"payment-projector-{secrets.token_hex(4)}"
    payment_settings = PaymentSettings(
        **{
            **base,
            "service_name": "payment",
            "provider_sim_url": sim_url,
            "payment_webhook_base_url": payment_url,
            "payment_intent_ttl_s": INTENT_TTL_S,
            "payment_sweep_interval_s": 0.1,
            "payment_refund_retry_s": 1.0,
            "payment_projector_durable": durable,
        }
    )
    payment_app = build_payment(payment_settings)
    sim_server = TestServer(build_sim(sim_settings), host="127.0.0.1", port=sim_port)
    payment_server = TestServer(payment_app, host="127.0.0.1", port=payment_port)
    # A short drain bound: a callback in flight at the end must not hold the session open.
    await sim_server.start_server(shutdown_timeout=3)
    await payment_server.start_server(shutdown_timeout=3)
    try:
        async with aiohttp.ClientSession() as http:
            yield World(http, payment_url, sim_url, payment_app, token_issuer)
    finally:
        await payment_server.close()
        await sim_server.close()
    # The projector's durable consumer is this session's own: remove it (if still there).
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_consumer("ES_PAYMENT", f"{settings.deployment_id}-{durable}")
