"""Composition root of the gateway: the single entry point ``/api/v1/...``.

For every request: CORS, the caller's token verified (asymmetric keys), a rate limit in
Redis, an idempotency key honoured on POSTs, then the upstream chosen by the routing table
and called through the kernel's client (timeouts, safe retries within a budget, a circuit
breaker and a bulkhead per upstream). ``GET /api/v1/orders/{id}`` is composed here.

Public reads that are the same for every caller (routes marked ``edge_cached``, an outlet's
menu) are answered from the upstream's bytes kept in memory (``kernel.cache.EdgeCache``):
the upstream's cache generations read on every read (without a token: in the rate limit's
script, one Redis round trip), ``If-None-Match`` answered with a 304, one upstream call for
concurrent misses of the same path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from bobaku.kernel.asyncapi import asyncapi_document
from bobaku.kernel.auth import Principal
from bobaku.kernel.cache import (
    GENERATION_PREFIX,
    EdgeCache,
    EdgeResponse,
    decode_generations,
    etag_matches,
)
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import NotFound, Unauthorized
from bobaku.kernel.openapi import Api
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import BUS, REDIS, SETTINGS, create_app, ok, principal, remembered_principal
from bobaku.services.gateway.compose import compose_order
from bobaku.services.gateway.docs import SWAGGER_ASSETS, SWAGGER_PAGE, ApiDocs
from bobaku.services.gateway.guards import (
    Check,
    IdempotencyStore,
    Limit,
    RateLimiter,
    StoredResponse,
)
from bobaku.services.gateway.routing import (
    UpstreamRoute,
    UpstreamTable,
    franchise_for,
    match,
    outlet_of,
)
from bobaku.services.gateway.settings import GatewaySettings

# Headers a client may send on to an upstream (everything else is dropped).
FORWARDED = ("Authorization", "Content-Type", "Accept", "Idempotency-Key", "X-Provider-Signature")
RETURNED = ("Content-Type", "Retry-After", "Location", "ETag", "Cache-Control")


class Gateway:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.routing = UpstreamTable(settings)
        self._proxies: dict[str, ServiceClient] = {}
        # Only the composite view calls an internal endpoint, with the gateway's own token.
        self.customers_internal = ServiceClient(
            "customer", settings.customer_url, token=settings.service_token, timeout_s=2
        )
        self.events_document = asyncapi_document(settings.service_version)
        self.docs = ApiDocs(
            {name: self.proxy(name, url) for name, url in self.routing.defaults.items()}
        )

    def proxy(self, service: str, base_url: str) -> ServiceClient:
        """One client (breaker, bulkhead) per upstream address, without a token of its own."""
        if base_url not in self._proxies:
            self._proxies[base_url] = ServiceClient(
                service, base_url, timeout_s=self.settings.upstream_timeout_s
            )
        return self._proxies[base_url]

    async def close(self) -> None:
        for client in self._proxies.values():
            await client.close()
        await self.customers_internal.close()


CONTEXT = web.AppKey("gateway_context", Gateway)
LIMITER = web.AppKey("rate_limiter", RateLimiter)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
EDGE = web.AppKey("edge_cache", EdgeCache)

api = Api("gateway", "The public BobaKu API")


def _client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


async def _admit(request: web.Request) -> tuple[Principal | None, dict[str, str]]:
    """Rate limits first, then the caller's token: a request over its client's limit is a
    429 (with ``Retry-After``) before any signature is checked, and a token is verified only
    within the limit. Logins count per client address and per account."""
    settings = request.app[CONTEXT].settings
    limiter = request.app[LIMITER]
    ip = _client_ip(request)
    has_token = "Authorization" in request.headers
    if request.path.startswith("/api/v1/auth/"):
        headers = await limiter.check("login", ip, Limit(settings.login_rate_limit_per_minute, 60))
        account = await _login_account(request)
        if account is not None:
            per_account = Limit(settings.login_account_rate_limit_per_minute, 60)
            await limiter.check("login-account", account, per_account)
        return (principal(request) if has_token else None), headers
    if not has_token:
        anonymous = Limit(settings.anonymous_rate_limit_per_minute, 60)
        return None, await limiter.check("anon", ip, anonymous)
    checks = [Check("ip", ip, Limit(settings.ip_rate_limit_per_minute, 60))]
    who = remembered_principal(request)
    if who is None:  # a token not seen yet: the address's limit before its signature
        await limiter.check_all(checks)
        who, checks = principal(request), []
    checks.append(Check("api", who.subject, Limit(settings.rate_limit_per_minute, 60)))
    return who, (await limiter.check_all(checks))[0]


async def _login_account(request: web.Request) -> str | None:
    """The account a login names (a digest of its email, kept out of Redis keys), if any."""
    if request.method != "POST" or not request.path.startswith("/api/v1/auth/login"):
        return None
    try:
        email = json.loads(await request.read()).get("email")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    if not isinstance(email, str) or not email.strip():
        return None
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]


@api.get("/api/v1", summary="What this API is", auth=False)
async def api_index(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return ok(
        {
            "name": "BobaKu API",
            "version": settings.service_version,
            "environment": settings.environment,
            "docs": "/api/docs",
            "openapi": "/api/v1/openapi.json",
            "asyncapi": "/api/v1/asyncapi.json",
        }
    )


@api.get(
    "/api/v1/orders/{order_id}",
    summary="An order with its customer, outlet, payment and loyalty",
    errors=(404,),
)
async def get_order(request: web.Request) -> web.Response:
    who, headers = await _admit(request)
    if who is None:
        raise Unauthorized("send an access token as 'Authorization: Bearer <token>'")
    gateway = request.app[CONTEXT]
    token = request.headers["Authorization"].partition(" ")[2]
    orders = gateway.proxy("order", gateway.routing.upstream("order", who.franchise_id))
    body = await compose_order(
        request.match_info["order_id"], token, orders, gateway.customers_internal
    )
    return ok(body, headers=headers)


async def asyncapi(request: web.Request) -> web.Response:
    """Every event subject and schema (AsyncAPI 3), beside the OpenAPI document."""
    return web.json_response(request.app[CONTEXT].events_document)


async def openapi_document(request: web.Request) -> web.Response:
    own = api.document()
    return web.json_response(await request.app[CONTEXT].docs.document(own))


async def swagger(_: web.Request) -> web.Response:
    return web.Response(text=SWAGGER_PAGE, content_type="text/html")


async def forward(request: web.Request) -> web.StreamResponse:
    """Everything else under /api/v1 and /webhooks goes to the upstream that owns it."""
    # The path goes upstream as the client encoded it: decoded, a %3F or %23 inside an id
    # would become a query or a fragment there. Routing reads that same encoded path; the
    # internal check reads the decoded one too, so %69nternal cannot slip past it.
    raw_path = request.rel_url.raw_path
    route = match(raw_path)
    if route is None or "/internal/" in request.path or "/internal/" in raw_path:
        raise NotFound(f"no route for {request.method} {request.path}")
    edge = route.edge_cached and request.method == "GET" and not request.query_string
    if edge and "Authorization" not in request.headers:
        return await _anonymous_from_edge(request, route, raw_path)
    who, limit_headers = await _admit(request)
    if who is None and request.method not in route.public_methods:
        raise Unauthorized("send an access token as 'Authorization: Bearer <token>'")
    if edge:
        franchise_id = who.franchise_id if who else None
        return await _from_edge(request, route, raw_path, franchise_id, limit_headers)
    caller = who.subject if who else _client_ip(request)
    body = await request.read()

    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    store = request.app[IDEMPOTENCY]
    if key:
        replay = await store.begin(caller, request.path, key, body)
        if replay is not None:
            return _response(replay, {**limit_headers, "Idempotent-Replayed": "true"})

    gateway = request.app[CONTEXT]
    franchise = franchise_for(route, raw_path, who.franchise_id if who else None)
    if franchise is None:  # a customer: the outlet's franchise, if it has a silo
        franchise = gateway.routing.outlet_franchise(outlet_of(request.method, raw_path, body))
    base = gateway.routing.upstream(route.service, franchise)
    path = raw_path[len(route.strip) :] if route.strip else raw_path
    try:
        reply = await gateway.proxy(route.service, base).call(
            request.method,
            path,
            body=body or None,
            headers={h: request.headers[h] for h in FORWARDED if h in request.headers},
            params=dict(request.query),
        )
    except BaseException:
        if key:
            await store.finish(caller, request.path, key, body, StoredResponse(503, b"", ""))
        raise
    stored = StoredResponse(reply.status, reply.body, reply.headers.get("Content-Type", ""))
    if key:
        await store.finish(caller, request.path, key, body, stored)
    extra = {h: reply.headers[h] for h in RETURNED if h in reply.headers and h != "Content-Type"}
    return _response(stored, {**limit_headers, **extra})


def _edge_key(
    request: web.Request, route: UpstreamRoute, raw_path: str, franchise_id: str | None
) -> tuple[str, str, str]:
    """The upstream's base URL, the path there, and the edge cache's key for them."""
    base = request.app[CONTEXT].routing.upstream(route.service, franchise_id)
    path = raw_path[len(route.strip) :] if route.strip else raw_path
    return base, path, base + path


async def _anonymous_from_edge(
    request: web.Request, route: UpstreamRoute, raw_path: str
) -> web.Response:
    """A public read without a token: the anonymous rate limit and the generations of the
    cached copy in one Redis round trip (one script), then :func:`_from_edge`."""
    settings = request.app[CONTEXT].settings
    key = _edge_key(request, route, raw_path, None)[2]
    tags = request.app[EDGE].tags_of(key)
    anonymous = Check(
        "anon", _client_ip(request), Limit(settings.anonymous_rate_limit_per_minute, 60)
    )
    headers, values = await request.app[LIMITER].check_all(
        [anonymous], [GENERATION_PREFIX + t for t in tags]
    )
    current = decode_generations(tags, values)
    return await _from_edge(request, route, raw_path, None, headers, current)


async def _from_edge(
    request: web.Request,
    route: UpstreamRoute,
    raw_path: str,
    franchise_id: str | None,
    headers: dict[str, str],
    current: dict[str, str] | None = None,
) -> web.Response:
    """A public read from the edge cache: the same answer for every caller of the same
    upstream (a franchise in its own silo has its own), so neither the caller's token nor
    anything else of the request goes upstream."""
    gateway = request.app[CONTEXT]
    base, path, key = _edge_key(request, route, raw_path, franchise_id)

    async def fetch() -> EdgeResponse:
        reply = await gateway.proxy(route.service, base).call("GET", path)
        return EdgeResponse.of(reply.status, reply.body, reply.headers)

    cached = await request.app[EDGE].get(key, fetch, current)
    if cached.etag:
        headers = {**headers, "ETag": cached.etag, "Cache-Control": "no-cache"}
        if cached.status == 200 and etag_matches(request.headers.get("If-None-Match"), cached.etag):
            return web.Response(status=304, headers=headers)
    return _response(StoredResponse(cached.status, cached.body, cached.content_type), headers)


def _response(stored: StoredResponse, headers: dict[str, str]) -> web.Response:
    content_type = stored.content_type.split(";")[0] or "application/octet-stream"
    return web.Response(
        status=stored.status, body=stored.body, content_type=content_type, headers=headers
    )


def cors_middleware(origins: list[str]) -> Callable[..., Any]:
    allowed = set(origins)

    @web.middleware
    async def cors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin:
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if origin and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, Idempotency-Key, X-Correlation-ID"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
            response.headers["Access-Control-Expose-Headers"] = (
                "X-Correlation-ID, X-RateLimit-Remaining"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    return cors


def build_app(settings: Settings) -> web.Application:
    gw_settings = (
        settings
        if isinstance(settings, GatewaySettings)
        else GatewaySettings(**settings.model_dump())
    )
    # Redis backs the rate limits and idempotency keys, NATS the routing table.
    app = create_app(gw_settings, uses=("redis", "nats"))
    app.middlewares.insert(0, cors_middleware(gw_settings.cors_origins))
    api.install(app)
    app.router.add_get("/api/v1/openapi.json", openapi_document)
    app.router.add_get("/api/v1/asyncapi.json", asyncapi)
    app.router.add_get("/api/docs", swagger)
    # Swagger UI's own files, from the package (the docs work offline, no CDN).
    app.router.add_static(SWAGGER_ASSETS, swagger_ui_path, append_version=False)
    app.router.add_route("*", "/api/v1/{tail:.*}", forward)
    app.router.add_route("POST", "/webhooks/{provider}", forward)
    # The analytics dashboard page and its files (routing.py says which).
    app.router.add_get("/dashboard", forward)
    app.router.add_get("/dashboard/{tail:.*}", forward)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        gateway = Gateway(gw_settings)
        app[CONTEXT] = gateway
        app[LIMITER] = RateLimiter(app[REDIS])
        app[IDEMPOTENCY] = IdempotencyStore(app[REDIS], lease_s=gw_settings.idempotency_lease_s)
        app[EDGE] = EdgeCache(app[REDIS], "gateway-edge")
        await gateway.routing.start(app[BUS])
        yield
        await gateway.routing.stop()
        await gateway.close()

    app.cleanup_ctx.append(wire)
    return app
