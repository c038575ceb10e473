"""The customer service as a real process: it starts, serves, and drains on SIGTERM."""

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
from support import eventually, free_port

from bobaku.kernel.auth import TokenVerifier
from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings


async def test_the_customer_service_serves_and_drains_on_sigterm(
    settings: Settings, jwt_key_files: tuple[Path, Path], tmp_path: Path, bus: EventBus
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SERVICE_NAME": "customer",
        "HTTP_PORT": str(port),
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": settings.mongodb_db_prefix,
        "DEPLOYMENT_ID": f"{settings.deployment_id}-proc",
        "CONSUMERS_START_AT": "new",
        "JWT_PRIVATE_KEY_FILE": str(jwt_key_files[0]),
        "JWT_PUBLIC_KEY_FILE": str(jwt_key_files[1]),
        "JWT_KEY_ID": "test-1",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "8192",
    }
    # Started outside the repository: `python -m` puts the working directory first on
    # sys.path, and the top-level operator/ folder would shadow the standard library's.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bobaku.services.customer", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> Any:
                try:
                    async with http.get(base + "/readyz") as resp:
                        return await resp.json() if resp.status == 200 else None
                except aiohttp.ClientConnectionError:
                    return None

            body = await eventually(ready, timeout=20)
            assert body["data"]["dependencies"] == {"nats": "ok", "redis": "ok", "mongo": "ok"}

            email = f"proc-{secrets.token_hex(4)}@example.com"
            registration = {
                "email": email, "password": "teh-tarik-2026", "name": "P", "language": "en"
            }  # fmt: skip
            async with http.post(base + "/auth/register", json=registration) as resp:
                assert resp.status == 201
                tokens = (await resp.json())["data"]["tokens"]
            async with http.get(base + "/.well-known/jwks.json") as resp:
                jwks = await resp.json()
            verifier = TokenVerifier.from_jwks(jwks, issuer="bobaku-customer", audience="bobaku")
            assert verifier.verify(tokens["access_token"]).claims["name"] == "P"
            async with http.get(base + "/openapi.json") as resp:
                paths = (await resp.json())["paths"]
            assert "/internal/loyalty/{customer_id}/redemptions" in paths
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
        for stream, durable in (
            ("ES_ORDER", "customer-loyalty-orders"),
            ("ES_LOYALTY", "customer-loyalty-projection"),
        ):
            with contextlib.suppress(Exception):
                await bus.js.delete_consumer(stream, f"{settings.deployment_id}-proc-{durable}")
    assert proc.returncode == 0, stderr.decode()[-2000:]
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(entry["msg"].startswith("starting customer") for entry in lines)
    assert all(entry["service"] == "customer" for entry in lines)
