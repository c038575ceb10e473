"""The gateway in front of a peer upstream: auth, limits, idempotency, routing, CORS, docs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from support import eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import default_registry
from bobaku.kernel.openapi import Api
from bobaku.kernel.routing_table import RoutingEntries, routing_key
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import create_app, ok
from bobaku.services.gateway.app import GatewaySettings, build_app
from bobaku.services.gateway.guards import IdempotencyStore
from bobaku.services.gateway.routing import match


@dataclass
class Peer:
    """A stand-in upstream that records what reached it."""

    name: str
    calls: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    raw_paths: list[str] = field(default_factory=list)  # as the request line spelled them
    delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append((request.method, request.path_qs, dict(request.headers), body))
        self.raw_paths.append(request.raw_path)
        await asyncio.sleep(self.delay_s)
        if request.path == "/boom":
            return web.Response(status=500)
        return ok(
            {"served_by": self.name, "path": request.path, "n": len(self.calls)},
            status=201 if request.method == "POST" else 200,
        )


async def start_peer(settings: Settings, name: str) -> tuple[Peer, TestServer]:
    peer = Peer(name)
    docs = Api(name)

    @docs.get("/orders/{order_id}", summary="peer order")
    async def peer_order(request: web.Request) -> web.Response:
        return await peer.handle(request)

    @docs.post("/orders", summary="peer place order")
    async def peer_place(request: web.Request) -> web.Response:
        return await peer.handle(request)

    @docs.post("/internal/secret", summary="never public")
    async def internal(request: web.Request) -> web.Response:
        return await peer.handle(request)

    app = create_app(settings)
    docs.install(app)
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    server = TestServer(app)
    await server.start_server()
    return peer, server


@pytest.fixture
async def stack(
    settings: Settings,
) -> AsyncIterator[tuple[TestClient[Any, Any], Peer, GatewaySettings]]:
    peer, server = await start_peer(settings, "pooled")
    url = str(server.make_url("")).rstrip("/")
    gw_settings = GatewaySettings(
        **{
            **settings.model_dump(),
            "service_name": "gateway",
            "customer_url": url,
            "menu_url": url,
            "order_url": url,
            "payment_url": url,
            "notification_url": url,
            "analytics_url": url,
            "supply_url": url,
            "rate_limit_per_minute": 1000,
            "anonymous_rate_limit_per_minute": 1000,
            "login_rate_limit_per_minute": 3,
        }
    )
    async with TestClient(TestServer(build_app(gw_settings))) as client:
        yield client, peer, gw_settings
    await server.close()


def bearer(issuer: TokenIssuer, **kw: Any) -> dict[str, str]:
    roles = kw.pop("roles", [Role.CUSTOMER])
    return {"Authorization": f"Bearer {issuer.issue(f'u-{secrets.token_hex(6)}', roles, **kw)}"}


def test_paths_map_to_their_services() -> None:
    assert match("/api/v1/outlets/outlet-1/kitchen").service == "order"  # type: ignore[union-attr]
    assert match("/api/v1/outlets/outlet-1/menu").service == "menu"  # type: ignore[union-attr]
    assert match("/api/v1/orders/ord-1/bump").service == "order"  # type: ignore[union-attr]
    assert match("/api/v1/auth/login").service == "customer"  # type: ignore[union-attr]
    assert match("/api/v1/reports/settlement").service == "payment"  # type: ignore[union-attr]
    assert match("/webhooks/gopay").service == "payment"  # type: ignore[union-attr]
    assert match("/api/v1/unknown") is None


async def test_a_protected_route_needs_a_token_and_a_public_one_does_not(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], token_issuer: TokenIssuer
) -> None:
    client, peer, _ = stack
    denied = await client.get("/api/v1/orders")
    assert denied.status == 401
    assert (await denied.json())["error"]["code"] == "unauthorized"
    forged = await client.get("/api/v1/orders", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status == 401
    assert peer.calls == []

    menu = await client.get("/api/v1/outlets/outlet-01/menu?lang=en")
    assert menu.status == 200
    assert (await menu.json())["data"]["path"] == "/outlets/outlet-01/menu"
    assert peer.calls[-1][1] == "/outlets/outlet-01/menu?lang=en"

    mine = await client.get("/api/v1/orders", headers=bearer(token_issuer))
    assert mine.status == 200
    forwarded = peer.calls[-1][2]
    assert forwarded["Authorization"].startswith("Bearer ")
    assert forwarded["X-Correlation-ID"] == mine.headers["X-Correlation-ID"]


async def test_internal_routes_are_never_reachable_through_the_gateway(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], token_issuer: TokenIssuer
) -> None:
    client, peer, _ = stack
    resp = await client.post(
        "/api/v1/orders/internal/secret",
        headers=bearer(token_issuer, roles=[Role.SERVICE]),
        json={},
    )
    assert resp.status == 404
    assert peer.calls == []


async def test_an_idempotency_key_replays_the_first_response(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], token_issuer: TokenIssuer
) -> None:
    client, peer, _ = stack
    headers = {**bearer(token_issuer), "Idempotency-Key": "place-1"}
    body = {"outlet_id": "outlet-01", "items": [{"menu_id": "m001", "quantity": 1}]}
    first = await client.post("/api/v1/orders", json=body, headers=headers)
    again = await client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status == again.status == 201
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(peer.calls) == 1

    changed = await client.post("/api/v1/orders", json={**body, "outlet_id": "x"}, headers=headers)
    assert changed.status == 422
    assert (await changed.json())["error"]["code"] == "idempotency_key_reused"
    assert len(peer.calls) == 1


async def test_a_repeat_while_the_first_is_running_is_a_409(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], token_issuer: TokenIssuer
) -> None:
    client, peer, _ = stack
    peer.delay_s = 0.5
    headers = {**bearer(token_issuer), "Idempotency-Key": "slow-1"}
    first = asyncio.create_task(client.post("/api/v1/orders", json={"a": 1}, headers=headers))
    await eventually(lambda: asyncio.sleep(0, result=peer.calls))
    second = await client.post("/api/v1/orders", json={"a": 1}, headers=headers)
    assert second.status == 409
    assert (await second.json())["error"]["code"] == "request_in_progress"
    assert (await first).status == 201
    assert len(peer.calls) == 1


async def test_a_key_left_in_progress_by_a_gateway_that_died_is_free_after_its_lease(
    settings: Settings, token_issuer: TokenIssuer, redis: Any
) -> None:
    peer, server = await start_peer(settings, "pooled")
    url = str(server.make_url("")).rstrip("/")
    gw_settings = GatewaySettings(
        **{
            **settings.model_dump(),
            "service_name": "gateway",
            "order_url": url,
            "customer_url": url,
            "idempotency_lease_s": 4,
        }
    )
    subject = f"u-{secrets.token_hex(6)}"
    headers = {
        "Authorization": f"Bearer {token_issuer.issue(subject, [Role.CUSTOMER])}",
        "Content-Type": "application/json",
        "Idempotency-Key": f"crash-{secrets.token_hex(4)}",
    }
    body = b'{"a": 1}'
    answers: list[int] = []
    try:
        async with TestClient(TestServer(build_app(gw_settings))) as client:
            # A gateway took the key and was killed before it answered: nothing of it ran
            # after the claim (no finish, no release), as with a SIGKILL mid-request.
            dead = IdempotencyStore(redis, lease_s=gw_settings.idempotency_lease_s)
            key = headers["Idempotency-Key"]
            assert await dead.begin(subject, "/api/v1/orders", key, body) is None

            async def retried() -> bool:
                resp = await client.post("/api/v1/orders", data=body, headers=headers)
                answers.append(resp.status)
                if resp.status == 409:
                    assert (await resp.json())["error"]["code"] == "request_in_progress"
                return resp.status == 201

            await eventually(retried, timeout=20, interval=0.25)
    finally:
        await server.close()
    assert answers[0] == 409  # the lease was still running: the first retry waits
    assert set(answers[:-1]) == {409}
    assert len(peer.calls) == 1  # then the retry went through, once


async def test_logins_are_rate_limited_per_client(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], redis: Any
) -> None:
    client, peer, _ = stack
    # Every test client is 127.0.0.1: forget earlier runs' login counts.
    for key in [k async for k in redis.scan_iter(match="rl:login:*")]:
        await redis.delete(key)
    # Limits count per minute: start well inside a window so it cannot roll over mid-test.
    if 60 - time.time() % 60 < 2:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    statuses = []
    for _ in range(5):
        resp = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
        statuses.append(resp.status)
    assert statuses == [201, 201, 201, 429, 429]
    refused = await client.post("/api/v1/auth/login", json={})
    body = await refused.json()
    assert refused.status == 429
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["limit"] == 3
    assert len(peer.calls) == 3


async def test_a_dead_upstream_is_a_503_envelope_and_opens_the_breaker(
    settings: Settings, token_issuer: TokenIssuer
) -> None:
    from support import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    gw = GatewaySettings(**{**settings.model_dump(), "service_name": "gateway", "order_url": dead})
    async with TestClient(TestServer(build_app(gw))) as client:
        codes = []
        for _ in range(7):
            resp = await client.get("/api/v1/orders", headers=bearer(token_issuer))
            codes.append((resp.status, (await resp.json())["error"]["code"]))
    assert codes[0] == (503, "dependency_unavailable")
    assert codes[-1] == (503, "circuit_open")


async def test_a_franchise_in_its_own_silo_is_routed_there_without_a_restart(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings],
    settings: Settings,
    bus: EventBus,
    token_issuer: TokenIssuer,
) -> None:
    client, _, _ = stack
    _, server = await start_peer(settings, "silo")
    franchise = f"fr-{secrets.token_hex(3)}"
    staff = bearer(token_issuer, roles=[Role.STAFF], franchise_id=franchise, outlet_ids=["o1"])
    try:
        kv = await RoutingEntries.from_settings(bus, settings).kv()
        entry = {
            "franchise_id": franchise,
            "upstreams": {"order": str(server.make_url("")).rstrip("/")},
        }
        await kv.put(routing_key(franchise), json.dumps(entry).encode())

        async def routed_to_silo() -> bool:
            resp = await client.get("/api/v1/outlets/o1/kitchen", headers=staff)
            return bool((await resp.json())["data"]["served_by"] == "silo")

        await eventually(routed_to_silo)
        other = await client.get(
            "/api/v1/outlets/o9/kitchen",
            headers=bearer(token_issuer, roles=[Role.STAFF], franchise_id="fr-other"),
        )
        assert (await other.json())["data"]["served_by"] == "pooled"

        await kv.delete(routing_key(franchise))

        async def back_to_pooled() -> bool:
            resp = await client.get("/api/v1/outlets/o1/kitchen", headers=staff)
            return bool((await resp.json())["data"]["served_by"] == "pooled")

        await eventually(back_to_pooled)
    finally:
        await server.close()


async def test_a_customers_order_at_a_silo_outlet_goes_to_that_silo(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings],
    settings: Settings,
    bus: EventBus,
    token_issuer: TokenIssuer,
) -> None:
    """A customer's token names no franchise: the outlet does. Placed on the pool, the order
    would also be run by the silo (from order.created) and charged by both."""
    client, pooled, _ = stack
    silo, server = await start_peer(settings, "silo")
    franchise = f"fr-{secrets.token_hex(3)}"
    outlet, elsewhere = f"{franchise}-senopati", f"pooled-{secrets.token_hex(3)}"
    customer = {**bearer(token_issuer), "Idempotency-Key": secrets.token_hex(8)}
    try:
        kv = await RoutingEntries.from_settings(bus, settings).kv()
        entry = {
            "franchise_id": franchise,
            "upstreams": {"order": str(server.make_url("")).rstrip("/")},
            "outlets": [outlet],
        }
        await kv.put(routing_key(franchise), json.dumps(entry).encode())

        async def placed_at(outlet_id: str) -> str:
            body = {"outlet_id": outlet_id, "items": [{"menu_id": "m001", "quantity": 1}]}
            headers = {**customer, "Idempotency-Key": secrets.token_hex(8)}
            resp = await client.post("/api/v1/orders", json=body, headers=headers)
            return str((await resp.json())["data"]["served_by"])

        async def routed_to_silo() -> bool:
            return await placed_at(outlet) == "silo"

        await eventually(routed_to_silo)
        assert await placed_at(elsewhere) == "pooled"
        resp = await client.get(f"/api/v1/outlets/{outlet}/orders", headers=bearer(token_issuer))
        assert (await resp.json())["data"]["served_by"] == "silo"
        assert not any(c[0] == "POST" and f'"{outlet}"'.encode() in c[3] for c in pooled.calls)

        await kv.delete(routing_key(franchise))

        async def back_to_pooled() -> bool:
            return await placed_at(outlet) == "pooled"

        await eventually(back_to_pooled)
        assert silo.calls
    finally:
        await server.close()


async def test_browsers_from_allowed_origins_get_cors_headers(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings],
) -> None:
    client, _, _ = stack
    pre = await client.options(
        "/api/v1/orders",
        headers={"Origin": "http://127.0.0.1:18888", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:18888"
    assert "Idempotency-Key" in pre.headers["Access-Control-Allow-Headers"]
    stranger = await client.options("/api/v1/orders", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


async def test_the_public_openapi_document_merges_upstreams_without_internal_paths(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings],
) -> None:
    client, _, _ = stack
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["x-unavailable"] == []
    assert doc["paths"]["/api/v1/orders"]["post"]["summary"] == "peer place order"
    # The gateway composes GET /orders/{id} itself: its own description wins.
    composite = doc["paths"]["/api/v1/orders/{order_id}"]["get"]["summary"]
    assert composite.startswith("An order with its customer")
    assert not any("internal" in path for path in doc["paths"])
    assert doc["openapi"] == "3.1.0"
    # The gateway's own answers on every route are documented: 429 (with Retry-After), 503.
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "Retry-After" in op["responses"]["429"]["headers"], (path, method)
            assert "503" in op["responses"], (path, method)
    page = await client.get("/api/docs")
    html = await page.text()
    assert "swagger-ui" in html
    # Offline: every asset the page loads is the gateway's own, from the package.
    assert "https://" not in html
    assert "http://" not in html
    script = await client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert script.status == 200
    assert "SwaggerUIBundle" in await script.text()
    style = await client.get("/api/docs/assets/swagger-ui.css")
    assert style.status == 200
    assert ".swagger-ui" in await style.text()


async def test_the_gateway_serves_the_asyncapi_document_of_every_subject(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings],
) -> None:
    client, _, _ = stack
    index = await (await client.get("/api/v1")).json()
    assert index["data"]["asyncapi"] == "/api/v1/asyncapi.json"
    resp = await client.get("/api/v1/asyncapi.json")  # no token: a public document
    assert resp.status == 200
    doc = await resp.json()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["ES_ORDER"]["address"] == "es.order.{tenant}.{order_id}"
    assert "order.created" in doc["channels"]["ES_ORDER"]["messages"]
    assert {t for t, _ in default_registry()} <= set(doc["components"]["messages"])


@contextlib.asynccontextmanager
async def gateway_before_peer(
    settings: Settings, **limits: int
) -> AsyncIterator[tuple[TestClient[Any, Any], Peer]]:
    """A gateway with these limits in front of one peer standing for every upstream."""
    peer, server = await start_peer(settings, "pooled")
    upstream = str(server.make_url("")).rstrip("/")
    gw = GatewaySettings(
        **{
            **settings.model_dump(),
            "service_name": "gateway",
            **dict.fromkeys(
                ("customer_url", "menu_url", "order_url", "payment_url", "supply_url"), upstream
            ),
            **limits,
        }
    )
    try:
        async with TestClient(TestServer(build_app(gw))) as client:
            yield client, peer
    finally:
        await server.close()


async def fresh_window(redis: Any, pattern: str) -> None:
    for key in [k async for k in redis.scan_iter(match=pattern)]:
        await redis.delete(key)
    # Limits count per minute: start well inside a window so it cannot roll over mid-test.
    if 60 - time.time() % 60 < 3:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)


async def test_the_path_goes_upstream_as_the_client_encoded_it(
    stack: tuple[TestClient[Any, Any], Peer, GatewaySettings], token_issuer: TokenIssuer
) -> None:
    client, peer, _ = stack
    # yarl would normalise the path of a str URL: send it pre-encoded, as a client does.
    from yarl import URL

    url = URL("/api/v1/payments/pay-1%3Fstatus=paid%23x", encoded=True)
    resp = await client.get(url, headers=bearer(token_issuer))
    assert resp.status == 200, await resp.text()
    # One id upstream: no query, no fragment.
    assert peer.raw_paths[-1] == "/payments/pay-1%3Fstatus=paid%23x"
    # The composed order view sends the id on encoded too.
    order = URL("/api/v1/orders/ord-1%3Fstatus=paid", encoded=True)
    await client.get(order, headers=bearer(token_issuer))
    assert peer.raw_paths[-1] == "/orders/ord-1%3Fstatus=paid"
    # An encoded "internal" is still refused.
    hidden = URL("/api/v1/%69nternal/secret", encoded=True)
    assert (await client.post(hidden, headers=bearer(token_issuer))).status == 404


async def test_forged_tokens_are_rate_limited_before_they_are_verified(
    settings: Settings, redis: Any
) -> None:
    await fresh_window(redis, "rl:ip:*")
    async with gateway_before_peer(settings, ip_rate_limit_per_minute=3) as (client, peer):
        answers = []
        for n in range(5):
            resp = await client.get(
                "/api/v1/orders/ord-1", headers={"Authorization": f"Bearer forged.{n}.x"}
            )
            answers.append((resp.status, resp.headers.get("Retry-After")))
    assert [s for s, _ in answers] == [401, 401, 401, 429, 429]
    (window,) = [k async for k in redis.scan_iter(match="rl:ip:*")]
    assert int(await redis.get(window)) == 5
    assert 0 < await redis.ttl(window) <= 61  # the window's counter lapses with it
    retry_after = answers[-1][1]
    assert retry_after is not None
    assert 1 <= int(retry_after) <= 60
    assert peer.calls == []


async def test_logins_are_limited_per_account_whatever_the_address(
    settings: Settings, redis: Any
) -> None:
    await fresh_window(redis, "rl:login*")
    async with gateway_before_peer(
        settings, login_rate_limit_per_minute=100, login_account_rate_limit_per_minute=3
    ) as (client, peer):
        statuses = []
        for n in range(5):
            # The same account, spelled differently: one account.
            email = "Rina@Example.com " if n % 2 else "rina@example.com"
            resp = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": f"guess-{n}"}
            )
            statuses.append(resp.status)
        refused = await client.post(
            "/api/v1/auth/login", json={"email": "rina@example.com", "password": "x"}
        )
        other = await client.post(
            "/api/v1/auth/login", json={"email": "budi@example.com", "password": "x"}
        )
        assert statuses == [201, 201, 201, 429, 429]
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await refused.json())["error"]["code"] == "rate_limited"
        assert other.status == 201  # another account from the same address goes on
    assert len(peer.calls) == 4


async def redis_commands_naming(redis: Any, needle: str, act: Any) -> list[str]:
    """The commands clients sent to Redis (not those a script ran) that name ``needle``,
    while ``act()`` ran: Redis's own MONITOR, so every round trip is seen."""
    seen: list[str] = []
    async with redis.monitor() as monitor:
        await redis.ping()  # MONITOR is on once the server has answered it

        async def listen() -> None:
            while True:
                command = await monitor.next_command()
                if command["client_type"] != "lua" and needle in command["command"]:
                    seen.append(command["command"])

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0.1)
        try:
            await act()
            await asyncio.sleep(0.2)
        finally:
            listening.cancel()
    return seen


async def test_a_known_callers_request_is_counted_against_its_address_and_itself_at_once(
    settings: Settings, redis: Any, token_issuer: TokenIssuer
) -> None:
    """A token the gateway verified before is counted against the client's address and
    its subject in one Redis round trip; the address still comes first (a request over it
    is refused and not counted against the caller), and the caller's own limit holds."""
    await fresh_window(redis, "rl:*")
    subject = f"u-{secrets.token_hex(6)}"
    headers = {"Authorization": f"Bearer {token_issuer.issue(subject, [Role.CUSTOMER])}"}
    statuses: list[int] = []
    async with gateway_before_peer(
        settings, ip_rate_limit_per_minute=4, rate_limit_per_minute=1000
    ) as (client, peer):

        async def requests(n: int) -> None:
            for _ in range(n):
                statuses.append(
                    (await client.get("/api/v1/payments/pay-1", headers=headers)).status
                )

        first = await redis_commands_naming(redis, f"rl:api:{subject}", lambda: requests(1))
        later = await redis_commands_naming(redis, f"rl:api:{subject}", lambda: requests(2))
        await requests(3)
    assert len(first) == 1  # the first time: the address, the signature, then the caller
    assert "rl:ip:" not in first[0]
    assert len(later) == 2  # then one round trip per request for both counters
    assert all("rl:ip:" in c for c in later), later
    assert statuses == [200, 200, 200, 200, 429, 429]
    (ip_window,) = [k async for k in redis.scan_iter(match="rl:ip:*")]
    (caller_window,) = [k async for k in redis.scan_iter(match=f"rl:api:{subject}:*")]
    assert int(await redis.get(ip_window)) == 6
    assert int(await redis.get(caller_window)) == 4  # the refused two did not count
    assert 0 < await redis.ttl(caller_window) <= 61
    assert len(peer.calls) == 4


async def test_a_known_callers_own_limit_refuses_it_and_not_others_at_its_address(
    settings: Settings, redis: Any, token_issuer: TokenIssuer
) -> None:
    await fresh_window(redis, "rl:*")
    busy = bearer(token_issuer)
    async with gateway_before_peer(
        settings, ip_rate_limit_per_minute=1000, rate_limit_per_minute=2
    ) as (client, peer):
        statuses = [
            (await client.get("/api/v1/payments/pay-1", headers=busy)).status for _ in range(4)
        ]
        refused = await client.get("/api/v1/payments/pay-1", headers=busy)
        other = await client.get("/api/v1/payments/pay-1", headers=bearer(token_issuer))
        assert statuses == [200, 200, 429, 429]
        assert refused.status == 429
        body = await refused.json()
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"]["limit"] == 2
        assert other.status == 200
        assert other.headers["X-RateLimit-Remaining"] == "1"
    assert len(peer.calls) == 3
