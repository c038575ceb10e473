"""`make run`'s supervisor: a process that crashes is restarted with back-off and the rest of
the platform keeps running (it used to stop everything, data servers included)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from launcher import Platform, Process, environment, is_ready
from support import eventually, free_port

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.settings import Settings


async def test_a_crashed_process_is_restarted_and_the_others_keep_running(
    settings: Settings, token_issuer: TokenIssuer, jwt_key_files: tuple[Path, Path]
) -> None:
    procs = [
        Process("provider-sim", "bobaku.services.provider_sim", free_port()),
        Process("provider-sim-2", "bobaku.services.provider_sim", free_port()),
    ]
    extra = {
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": f"{settings.mongodb_db_prefix}s",
        "DEPLOYMENT_ID": f"{settings.deployment_id}-s",
        "ENVIRONMENT": "test",
    }
    envs = environment(procs, token_issuer, *jwt_key_files, extra)
    envs["provider-sim-2"] = {**envs["provider-sim"], "HTTP_PORT": str(procs[1].port)}
    platform = Platform(procs, envs, lambda name, line: None)
    said: list[str] = []
    stop = asyncio.Event()
    await platform.start()
    supervisor = asyncio.create_task(platform.supervise(stop, said.append, backoff=(0.2, 0.5)))
    try:
        first, other = platform.running["provider-sim"], platform.running["provider-sim-2"]
        first_pid, other_pid = first.child.pid, other.child.pid
        await platform.kill("provider-sim")
        await eventually(lambda: back(said, 1), timeout=60)
        assert platform.running["provider-sim"].child.pid != first_pid
        assert await asyncio.to_thread(is_ready, procs[0].port)
        assert platform.running["provider-sim-2"].child.pid == other_pid  # untouched
        assert platform.running["provider-sim-2"].child.returncode is None
        assert said[0] == "provider-sim exited with code -9; restarting in 0.2s (restart 1)"
        # A second crash soon after waits longer.
        await platform.kill("provider-sim")
        await eventually(lambda: back(said, 2), timeout=60)
        assert "restarting in 0.5s (restart 2)" in said[2]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(supervisor, 10)
        await platform.stop()
    # Ctrl-C (stop) ends supervision without restarting anything.
    assert all(r.child.returncode is not None for r in platform.running.values())


async def back(said: list[str], times: int) -> bool:
    return sum(line.startswith("provider-sim is back") for line in said) >= times
