"""The service client: retries only when safe, breaker, bulkhead, errors passed through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bobaku.kernel.client import CircuitBreaker, CircuitOpen, ServiceClient, UpstreamTimeout
from bobaku.kernel.context import correlation_id_var
from bobaku.kernel.errors import BobakuError


class Upstream:
    """A peer service whose answers the test scripts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.script: list[int] = []
        self.delay_s = 0.0
        self.active = 0
        self.max_active = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path, dict(request.headers)))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.active -= 1
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            return web.json_response({"status": "success", "data": {"path": request.path}})
        if status == 409:
            body = {
                "code": "insufficient_stock",
                "message": "sold out",
                "details": {"items": ["m1"]},
            }
            return web.json_response({"status": "error", "error": body}, status=409)
        return web.Response(status=status, text="upstream trouble")


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    peer = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    server = TestServer(app)
    await server.start_server()
    yield peer, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_a_get_is_retried_through_a_503_and_carries_the_correlation_id(
    upstream: tuple[Upstream, str],
) -> None:
    peer, url = upstream
    client = ServiceClient("menu", url, token="svc-token")
    peer.script = [503, 200]
    token = correlation_id_var.set("corr-test-1")
    try:
        data = await client.request("GET", "/outlets/outlet-1")
    finally:
        correlation_id_var.reset(token)
        await client.close()
    assert data == {"path": "/outlets/outlet-1"}
    assert len(peer.calls) == 2
    assert all(h["X-Correlation-ID"] == "corr-test-1" for _, _, h in peer.calls)
    assert peer.calls[0][2]["Authorization"] == "Bearer svc-token"


async def test_a_post_without_an_idempotency_key_is_never_repeated(
    upstream: tuple[Upstream, str],
) -> None:
    peer, url = upstream
    client = ServiceClient("payment", url)
    peer.script = [503, 200]
    reply = await client.call("POST", "/internal/intents", json_body={"a": 1})
    assert reply.status == 503
    assert len(peer.calls) == 1
    peer.script = [503, 200]
    keyed = await client.call(
        "POST", "/internal/intents", json_body={"a": 1}, headers={"Idempotency-Key": "ord-1"}
    )
    await client.close()
    assert keyed.status == 200
    assert len(peer.calls) == 3


async def test_an_upstream_error_envelope_comes_back_as_the_same_error(
    upstream: tuple[Upstream, str],
) -> None:
    peer, url = upstream
    client = ServiceClient("menu", url)
    peer.script = [409]
    with pytest.raises(BobakuError) as caught:
        await client.request("POST", "/internal/stock/reservations", json_body={})
    await client.close()
    assert (caught.value.status, caught.value.code) == (409, "insufficient_stock")
    assert caught.value.details == {"items": ["m1"]}


async def test_the_breaker_opens_after_repeated_failures_and_closes_after_a_good_trial(
    upstream: tuple[Upstream, str],
) -> None:
    peer, url = upstream
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=0.2)
    client = ServiceClient("menu", url, retries=0, breaker=breaker)
    peer.script = [500, 500, 500]
    for _ in range(3):
        assert (await client.call("GET", "/x")).status == 500
    with pytest.raises(CircuitOpen):
        await client.call("GET", "/x")
    assert len(peer.calls) == 3  # the open breaker spared the upstream
    await asyncio.sleep(0.25)
    assert (await client.call("GET", "/x")).status == 200
    assert breaker.state == "closed"
    await client.close()


async def test_a_slow_upstream_times_out_with_a_504(upstream: tuple[Upstream, str]) -> None:
    peer, url = upstream
    peer.delay_s = 0.5
    client = ServiceClient("menu", url, timeout_s=0.1, retries=1)
    with pytest.raises(UpstreamTimeout) as caught:
        await client.request("GET", "/slow")
    await client.close()
    assert caught.value.status == 504
    assert len(peer.calls) == 2


async def test_the_bulkhead_caps_concurrent_calls(upstream: tuple[Upstream, str]) -> None:
    peer, url = upstream
    peer.delay_s = 0.2
    client = ServiceClient("menu", url, max_concurrent=2, timeout_s=1)
    replies = await asyncio.gather(*(client.call("GET", "/x") for _ in range(6)))
    await client.close()
    assert [r.status for r in replies] == [200] * 6
    assert peer.max_active == 2


async def test_an_open_breaker_closes_as_soon_as_the_upstream_is_ready_again() -> None:
    from support import eventually, free_port

    port = free_port()
    # reset_after_s is far longer than the test: only the readiness probe can close it.
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=600)
    client = ServiceClient("order", f"http://127.0.0.1:{port}", retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(BobakuError):
            await client.call("GET", "/orders/o-1")
    with pytest.raises(CircuitOpen):
        await client.call("GET", "/orders/o-1")

    # The order service comes back: not ready at first (still connecting), then ready.
    peer = Upstream()
    probes: list[int] = []
    ready = asyncio.Event()

    async def readyz(_: web.Request) -> web.Response:
        status = 200 if ready.is_set() else 503
        probes.append(status)
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_route("*", "/{tail:.*}", peer.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await eventually(lambda: asyncio.sleep(0, bool(probes)))
        assert breaker.state == "open"  # not ready yet: still open
        ready.set()
        await eventually(lambda: asyncio.sleep(0, breaker.state == "closed"))
        assert (await client.call("GET", "/orders/o-1")).status == 200
        # No request reached the upstream while it was not ready, only the probes.
        assert [c[1] for c in peer.calls] == ["/orders/o-1"]
    finally:
        await client.close()
        await server.close()
