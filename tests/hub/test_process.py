"""The hub as a process: health, readiness, metrics, the two pages, and a clean stop that
tells connected clients to reconnect elsewhere."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id

Clients = Callable[..., Awaitable[HubClient]]


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_health_and_readiness_use_the_platform_envelope(hub_a: HubProcess) -> None:
    status, _, body = await _get(f"{hub_a.url}/healthz")
    assert (status, json.loads(body)) == (
        200,
        {"status": "success", "data": {"alive": True, "service": "hub"}},
    )
    status, _, body = await _get(f"{hub_a.url}/readyz")
    assert status == 200
    assert json.loads(body)["data"]["dependencies"] == {"nats": "ok"}


async def test_metrics_cover_connections_subscriptions_traffic_drops_recoveries_and_latency(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise = new_id("fr")
    client = await clients(hub_a, tokens.owner(franchise))
    await client.subscribe(f"franchise:{franchise}:ops")
    await producers.payment_event(franchise, new_id("pay"))
    await client.publications(1)
    text = await hub_a.metrics()
    for name in (
        "bobaku_hub_connections ",
        'bobaku_hub_subscriptions{namespace="ops"}',
        'bobaku_hub_messages_in_total{op="subscribe"}',
        'bobaku_hub_messages_out_total{kind="pub"}',
        "bobaku_hub_drops_total",
        "bobaku_hub_recoveries_total",
        "bobaku_hub_delivery_latency_seconds_bucket",
        'bobaku_hub_publications_routed_total{duplicate="false",namespace="ops"}',
    ):
        assert name in text, name
    assert await hub_a.metric("bobaku_hub_connections") >= 1
    assert await hub_a.metric("bobaku_hub_delivery_latency_seconds_count") >= 1


async def test_the_kitchen_display_and_tracking_pages_are_served_with_their_settings(
    hub_a: HubProcess,
) -> None:
    for page in ("kds", "track"):
        status, kind, body = await _get(f"{hub_a.url}/{page}")
        assert (status, kind.split(";")[0]) == (200, "text/html")
        assert "/config.js" in body
        assert f"/static/{page}.js" in body
    status, kind, body = await _get(f"{hub_a.url}/config.js")
    assert status == 200
    assert "javascript" in kind
    config = json.loads(body.removeprefix("window.BOBAKU_CONFIG = ").rstrip().rstrip(";"))
    assert config["gatewayUrl"] == "http://127.0.0.1:18080"
    assert config["kdsTargetSeconds"] == 300
    for asset in ("hub-client.js", "kds.js", "track.js", "style.css"):
        assert (await _get(f"{hub_a.url}/static/{asset}"))[0] == 200, asset


async def test_sigterm_tells_clients_to_reconnect_and_exits_cleanly(
    start_hub: Callable[..., Awaitable[HubProcess]], clients: Clients, tokens: Tokens
) -> None:
    hub = await start_hub("stopping")
    client = await clients(hub, tokens.hq())
    await client.subscribe(f"franchise:{new_id('fr')}:ops")
    assert await hub.stop() == 0
    code, reason = await client.wait_closed()
    assert code == 4503
    assert reason is not None
    assert "reconnect" in reason
    lines = [
        json.loads(line) for line in hub.log_path.read_text().splitlines() if line.startswith("{")
    ]
    assert all(line["service"] == "hub" for line in lines)
    assert any(line["msg"] == "hub stopped" for line in lines)


async def test_a_full_replica_turns_further_connections_away_with_4529(
    start_hub: Callable[..., Awaitable[HubProcess]], clients: Clients, tokens: Tokens
) -> None:
    hub = await start_hub("full", HUB_MAX_CONNECTIONS="2")
    for _ in range(2):
        await clients(hub, tokens.hq())
    extra = await clients(hub)
    code, reason = await extra.wait_closed()
    assert code == 4529
    assert reason is not None
    assert "full" in reason
