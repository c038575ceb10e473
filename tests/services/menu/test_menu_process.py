"""The menu service as a real process: it starts, documents its routes, serves a seeded
menu, and drains on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import aiohttp
from support import eventually, free_port

from bobaku.kernel.settings import Settings
from bobaku.services.menu.seed import seed_demo

ROUTES = {
    ("get", "/outlets"),
    ("get", "/outlets/{outlet_id}"),
    ("get", "/outlets/{outlet_id}/menu"),
    ("get", "/items/{item_id}"),
    ("get", "/toppings"),
    ("post", "/items"),
    ("patch", "/items/{item_id}"),
    ("get", "/franchises/{franchise_id}/prices"),
    ("put", "/franchises/{franchise_id}/prices/{item_id}"),
    ("delete", "/franchises/{franchise_id}/prices/{item_id}"),
    ("put", "/outlets/{outlet_id}/availability"),
    ("put", "/outlets/{outlet_id}/hours"),
    ("put", "/internal/outlets/{outlet_id}"),
    ("delete", "/internal/outlets/{outlet_id}"),
    ("post", "/internal/quotes"),
    ("get", "/internal/outlets/{outlet_id}/pricing"),
}


async def test_the_menu_process_serves_the_seeded_menu_and_drains_on_sigterm(
    settings: Settings,
) -> None:
    await seed_demo(settings)
    port = free_port()
    env = {
        **os.environ,
        "HTTP_PORT": str(port),
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": settings.mongodb_db_prefix,
        "DEPLOYMENT_ID": settings.deployment_id,
        "CONSUMERS_START_AT": settings.consumers_start_at,
        "JWT_PUBLIC_KEY_FILE": str(settings.jwt_public_key_file),
        "JWT_KEY_ID": settings.jwt_key_id,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bobaku.services.menu", env=env, cwd="/",
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

            _, body = await eventually(ready, timeout=30)
            assert body["data"]["dependencies"] == {"nats": "ok", "redis": "ok", "mongo": "ok"}
            _, health = await get("/healthz")
            assert health["data"]["service"] == "menu"
            _, document = await get("/openapi.json")
            documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
            assert documented == ROUTES
            status, menu = await get("/outlets/outlet-01/menu")
            assert status == 200
            names = [i["name"] for c in menu["data"]["categories"] for i in c["items"]]
            assert "Brown Sugar Boba Milk Tea" in names
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()[-2000:]
