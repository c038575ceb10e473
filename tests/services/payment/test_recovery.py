"""Redis loses the payment read models (a real FLUSHALL): the payments list, the settlement
report and the deadlines come back from the stream, and the sweeper sweeps only the
franchises its instance serves.

The flush runs on a Redis server of this module's own, and the payment service under test
on a NATS deployment of its own (kernel/names.py), so the flush disturbs no other test and
the rebuild replays only this module's payments."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from payment_testing import INTENT_TTL_S, World, new_franchise, running_world
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from support import eventually, free_port

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.listings import Listings
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import REDIS
from bobaku.services.payment.adapters.documents import Deadline, Deadlines
from bobaku.services.payment.entrypoints.http import CONTEXT
from bobaku.services.payment.service_layer.handlers import sweep_deadlines

FIGURES = ("captured", "refunded", "provider_fees", "count")
ROOT = Path(__file__).resolve().parents[3]


def redis_binary() -> str:
    """The Redis server the suite's infrastructure runs (scripts/infra.sh builds it)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "infra.sh"), "redis-bin"],
        check=True, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
async def flushable(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus, tmp_path: Path
) -> AsyncIterator[World]:
    """A payment world on its own Redis server and its own NATS deployment."""
    binary = await asyncio.to_thread(redis_binary)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    redis_url = f"redis://127.0.0.1:{port}/0"

    async def answers() -> bool:
        client = Redis.from_url(redis_url)
        try:
            return bool(await client.ping())
        except (OSError, RedisConnectionError):  # not listening yet
            return False
        finally:
            await client.aclose()

    deployment = f"rec{secrets.token_hex(3)}"
    try:
        await eventually(answers, timeout=20)
        async with running_world(
            settings, token_issuer, bus, redis_url=redis_url, nats_deployment_id=deployment
        ) as world:
            yield world
    finally:
        server.kill()
        await server.wait()
        # The deployment's streams and buckets (kernel/names.py) go with it.
        for info in await bus.js.streams_info():
            name = info.config.name or ""
            if name.startswith((f"{deployment}_", f"KV_{deployment}_")):
                with contextlib.suppress(Exception):
                    await bus.js.delete_stream(name)


async def listed(world: World, franchise_id: str) -> list[tuple[str, str]]:
    status, body = await world.call(
        "GET", f"/payments?limit=50&franchise_id={franchise_id}", token=world.hq_token
    )
    assert status == 200, body
    return sorted((p["intent_id"], p["status"]) for p in body["data"]["items"])


async def figures(world: World, franchise_id: str, days: set[str]) -> dict[str, Any]:
    """The franchise's settlement figures summed over ``days``, and per outlet."""
    total = dict.fromkeys(FIGURES, 0)
    outlets: dict[str, dict[str, int]] = {}
    for day in sorted(days):
        status, body = await world.call(
            "GET",
            f"/reports/settlement?date={day}&franchise_id={franchise_id}",
            token=world.owner_token(franchise_id),
        )
        assert status == 200, body
        for name in FIGURES:
            total[name] += body["data"]["franchise"][name]
        for row in body["data"]["outlets"]:
            mine = outlets.setdefault(row["outlet_id"], dict.fromkeys(FIGURES, 0))
            for name in FIGURES:
                mine[name] += row[name]
    return {"franchise": total, "outlets": outlets}


def business_days() -> set[str]:
    # Jakarta is UTC+7: today's and tomorrow's UTC dates cover a test that crosses midnight.
    now = datetime.now(UTC)
    return {(now + timedelta(hours=7 + h)).date().isoformat() for h in (-1, 0, 1)}


async def test_after_a_redis_flush_payments_settlement_and_deadlines_come_back(
    flushable: World,
) -> None:
    world = flushable
    fr = new_franchise()
    first = await world.paid(fr, outlet_id="outlet-1", provider="gopay", amount=82_000)
    second = await world.paid(fr, outlet_id="outlet-2", provider="card", amount=150_000)
    status, body = await world.call(
        "POST",
        f"/payments/{second['intent_id']}/refunds",
        token=world.owner_token(fr),
        json={"amount": 20_000, "reason": "wrong size"},
        headers={"Idempotency-Key": secrets.token_hex(4)},
    )
    assert status == 201, body
    days = business_days()

    async def settled() -> dict[str, Any] | None:
        seen = await figures(world, fr, days)
        return seen if seen["franchise"]["refunded"] == 20_000 else None

    before = await eventually(settled, timeout=20)
    assert before["franchise"]["count"] == 2
    listed_before = await listed(world, fr)
    assert len(listed_before) == 2
    # A charge the provider never answers: only its deadline will ever expire it.
    pending = world.intent_body(fr, provider="dana", outlet_id="outlet-1")
    await world.force("dana", pending["order_id"], "timeout")
    intent = await world.create_intent(pending)

    await world.app[REDIS].flushall()
    assert "payment.expired" not in await world.types(fr, intent["intent_id"])

    # The pending intent expires on time from its rebuilt deadline...
    expired = await world.wait_status(intent["intent_id"], "expired", timeout=INTENT_TTL_S + 15)
    assert expired["ended_at"] >= expired["expires_at"]
    # ... the listing and the report are whole again, each event counted once...
    expected = sorted([*listed_before, (intent["intent_id"], "expired")])

    async def whole() -> bool:
        return await listed(world, fr) == expected

    await eventually(whole, timeout=20)
    assert await figures(world, fr, days) == before
    # ... and what happens next is counted on top, once.
    third = await world.paid(fr, outlet_id="outlet-1", provider="gopay", amount=10_025)

    async def counted() -> dict[str, Any] | None:
        seen = await figures(world, fr, days)
        return seen if seen["franchise"]["count"] == 3 else None

    after = await eventually(counted, timeout=20)
    assert after["franchise"]["captured"] == 82_000 + 150_000 + 10_025
    assert after["franchise"]["refunded"] == 20_000
    assert after["outlets"]["outlet-1"]["count"] == 2
    assert first["intent_id"] in {i for i, _ in await listed(world, fr)}
    assert (third["intent_id"], "captured") in await listed(world, fr)


async def test_the_sweeper_sweeps_only_the_franchises_its_instance_serves(world: World) -> None:
    ctx = world.app[CONTEXT]
    mine, theirs = new_franchise(), new_franchise()
    listings = Listings(world.app[REDIS], f"test-deadlines-{secrets.token_hex(4)}")
    scoped = replace(ctx, deadlines=Deadlines(listings, serves=lambda f: f == mine))
    every = Deadlines(listings)
    due = datetime.now(UTC) - timedelta(seconds=1)
    for franchise_id in (mine, theirs):
        # Intents that never appeared: a look reschedules the deadline with one more attempt.
        intent_id = f"pay-{secrets.token_hex(6)}"
        await every.schedule(
            Deadline(f"expire:{intent_id}", "expire", franchise_id, intent_id, due)
        )

    assert await sweep_deadlines(scoped) == 1

    left = {d.franchise_id: d.attempts for d in await every.due(datetime.now(UTC))}
    assert left == {theirs: 0}  # theirs untouched and still due; mine looked at, later
    assert await scoped.deadlines.franchises() == [mine]
    assert sorted(await every.franchises()) == sorted([mine, theirs])
