"""The gateway as a real process: it starts, reports health, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import aiohttp
from support import eventually, free_port

from bobaku.kernel.settings import Settings


async def test_the_gateway_serves_health_and_drains_on_sigterm(settings: Settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SERVICE_NAME": "gateway",
        "HTTP_PORT": str(port),
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bobaku.services.gateway", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def get(path: str) -> tuple[int, Any]:
                try:
                    async with http.get(base + path) as resp:
                        return resp.status, await resp.json()
                except aiohttp.ClientConnectionError:
                    return 0, None

            async def ready() -> tuple[int, Any] | None:
                got = await get("/readyz")
                return got if got[0] == 200 else None

            _, body = await eventually(ready, timeout=20)
            assert body["data"]["dependencies"] == {"redis": "ok", "nats": "ok"}
            assert await get("/healthz") == (
                200,
                {"status": "success", "data": {"alive": True, "service": "gateway"}},
            )
            status, index = await get("/api/v1")
            assert status == 200
            assert index["data"]["name"] == "BobaKu API"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(entry["msg"].startswith("starting gateway") for entry in lines)
    assert all(entry["service"] == "gateway" for entry in lines)
