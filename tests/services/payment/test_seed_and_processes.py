"""The seed is harmless to repeat, and both services run as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nats.js.errors import NotFoundError
from payment_testing import PREFIX, new_customer_id, new_franchise, new_order_id
from support import eventually, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.settings import Settings
from bobaku.services.payment.seed import seed_demo


async def test_seeding_twice_changes_nothing(settings: Settings, databases: Databases) -> None:
    fr = new_franchise()
    before = set(await databases.client.list_database_names())

    first = await seed_demo(settings, [fr])
    second = await seed_demo(settings, [fr])

    assert first == second == {"stream": "ES_PAYMENT", "franchises": [fr]}
    # Its read models are in Redis and its documents are read by _id: nothing to index.
    assert set(await databases.client.list_database_names()) == before


async def _start(module: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    # Started outside the repository root: `python -m` puts the working directory first on
    # sys.path, where the operator/ folder would shadow the standard library's operator.
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, env={**os.environ, **env}, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int | None, list[dict[str, Any]]]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    lines = [json.loads(x) for x in stderr.decode().splitlines() if x.startswith("{")]
    return proc.returncode, lines


@pytest.mark.slow
async def test_both_services_run_as_processes_and_a_payment_goes_through(
    settings: Settings,
    token_issuer: TokenIssuer,
    jwt_key_files: tuple[Path, Path],
    bus: EventBus,
    tmp_path: Path,
) -> None:
    sim_port, payment_port = free_port(), free_port()
    sim_url, payment_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{payment_port}"
    durable = f"payment-projector-{secrets.token_hex(4)}"
    sim = await _start(
        "bobaku.services.provider_sim",
        # The suite is a development mode: it may use the documented callback secrets.
        {"HTTP_PORT": str(sim_port), "PROVIDER_SIM_MODE": "instant", "ENVIRONMENT": "test"},
        tmp_path,
    )
    payment = await _start(
        "bobaku.services.payment",
        {
            "HTTP_PORT": str(payment_port),
            "ENVIRONMENT": "test",
            "NATS_URL": settings.nats_url,
            # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
            "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
            "REDIS_URL": settings.redis_url,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DB_PREFIX": settings.mongodb_db_prefix,
            "JWT_PUBLIC_KEY_FILE": str(jwt_key_files[1]),
            "JWT_KEY_ID": "test-1",
            "PROVIDER_SIM_URL": sim_url,
            "PAYMENT_WEBHOOK_BASE_URL": payment_url,
            "PAYMENT_PROJECTOR_DURABLE": durable,
            "DEPLOYMENT_ID": settings.deployment_id,
            "CONSUMERS_START_AT": "new",
        },
        tmp_path,
    )
    token = token_issuer.issue("svc-order", [Role.SERVICE])
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession() as http:

            async def ready(base: str) -> bool:
                try:
                    async with http.get(base + "/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(lambda: ready(sim_url), timeout=30)
            await eventually(lambda: ready(payment_url), timeout=30)
            order = {
                "order_id": new_order_id(),
                "franchise_id": new_franchise(),
                "outlet_id": "outlet-9",
                "customer_id": new_customer_id(),
                "provider": "card",
                "amount": 76_000,
            }
            async with http.post(
                payment_url + "/internal/intents", json=order, headers=headers
            ) as resp:
                assert resp.status == 201, await resp.text()
                intent = (await resp.json())["data"]
            assert intent["transaction_id"].startswith(PREFIX["card"] + "-")

            async def captured() -> bool:
                async with http.get(
                    f"{payment_url}/payments/{intent['intent_id']}", headers=headers
                ) as resp:
                    return bool((await resp.json())["data"]["status"] == "captured")

            await eventually(captured, timeout=15)
            async with http.get(payment_url + "/openapi.json") as resp:
                paths = (await resp.json())["paths"]
            assert "/webhooks/{provider}" in paths
            assert "/reports/settlement" in paths
    finally:
        sim_code, sim_log = await _stop(sim)
        payment_code, payment_log = await _stop(payment)
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer("ES_PAYMENT", f"{settings.deployment_id}-{durable}")
    assert sim_code == 0, sim_log[-5:]
    assert payment_code == 0, payment_log[-5:]
    assert any(e["msg"].startswith("starting provider-sim") for e in sim_log)
    assert all(e["service"] == "payment" for e in payment_log)
