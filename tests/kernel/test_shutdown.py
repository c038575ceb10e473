"""Graceful shutdown: SIGTERM lets in-flight requests finish and stops taking new ones."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap

import aiohttp
from support import eventually, free_port

SERVICE = textwrap.dedent(
    """
    import asyncio, sys
    from bobaku.kernel.settings import Settings
    from bobaku.kernel.web import create_app, ok, run_service

    async def brew(request):
        await asyncio.sleep(1.5)
        return ok({"brewed": True})

    app = create_app(Settings(service_name="drain-test", http_port=int(sys.argv[1])))
    app.router.add_get("/brew", brew)
    run_service(app)
    """
)


async def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVICE, str(port), stderr=asyncio.subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def alive() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(alive, timeout=15)

            async def brew() -> tuple[int, object]:
                async with http.get(f"{base}/brew") as resp:
                    return resp.status, await resp.json()

            in_flight = asyncio.create_task(brew())
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert await in_flight == (200, {"status": "success", "data": {"brewed": True}})

        await asyncio.wait_for(proc.wait(), 15)
        assert proc.returncode == 0
        async with aiohttp.ClientSession() as http:
            assert not await alive_after(http, base)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def alive_after(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/healthz"):
            return True
    except aiohttp.ClientConnectionError:
        return False
