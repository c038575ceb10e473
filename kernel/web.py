"""The aiohttp application factory every service starts from.

:func:`create_app` gives a service, for free:

- ``GET /healthz`` (liveness), ``GET /readyz`` (each dependency checked, 503 when one is
  down or the process is draining), ``GET /metrics`` (Prometheus: the process's registry
  and the families of the app's :data:`METRIC_SOURCES`, read at scrape time);
- correlation and trace ids taken from the request (``X-Correlation-ID``, ``traceparent``)
  or minted, echoed back, and present in every log line and event the request causes;
  with tracing on (:mod:`bobaku.kernel.tracing`) a SERVER span per request, whose
  OpenTelemetry trace id is that trace id;
- request counts by route and status and a latency histogram;
- the error envelope for every failure, from the one exception hierarchy in
  :mod:`bobaku.kernel.errors` (plus aiohttp's own 404/405/413);
- a request body limit (``MAX_BODY_BYTES``) and :func:`read_json`, which turns malformed
  JSON and wrong types into 4xx envelopes that name the offending field;
- the connections it asks for (``uses={"nats", "redis", "mongo"}``), opened at start-up,
  checked by readiness, and closed after consumers and in-flight requests have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Literal, TypeVar

from aiohttp import web
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeout
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, ValidationError
from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout

from bobaku.kernel import tracing
from bobaku.kernel.auth import Principal, TokenVerifier, load_public_key
from bobaku.kernel.bus import EventBus
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.context import (
    correlation_id_var,
    new_correlation_id,
    new_trace_id,
    trace_id_var,
)
from bobaku.kernel.db import Databases, IndexCatalog
from bobaku.kernel.deployment import Deployment, LiveConfig
from bobaku.kernel.errors import (
    BobakuError,
    DependencyUnavailable,
    MalformedJSON,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from bobaku.kernel.routing_table import watched_silos
from bobaku.kernel.settings import Settings
from bobaku.kernel.streams import tenant_of
from bobaku.kernel.telemetry import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS, READINESS

log = logging.getLogger(__name__)

Dependency = Literal["nats", "redis", "mongo"]
ReadinessCheck = Callable[[], Awaitable[None]]
# Metric families a service computes when scraped (from its read models, say), not per event.
MetricSource = Callable[[], Awaitable[Iterable[Metric]]]
M = TypeVar("M", bound=BaseModel)

SETTINGS = web.AppKey("settings", Settings)
BUS = web.AppKey("bus", EventBus)
REDIS = web.AppKey("redis", Redis)
DATABASES = web.AppKey("databases", Databases)
VERIFIER = web.AppKey("token_verifier", TokenVerifier)
CHECKS = web.AppKey("readiness_checks", dict)
PRINCIPAL = web.RequestKey("principal", Principal)
DRAINING = web.AppKey("draining", asyncio.Event)
DEPLOYMENT = web.AppKey("deployment", Deployment)
CONFIG = web.AppKey("config", LiveConfig)
METRIC_SOURCES = web.AppKey("metric_sources", list[MetricSource])

CORRELATION_HEADER = "X-Correlation-ID"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CHECK_TIMEOUT_S = 1.5
# A data server or NATS that is down or restarting: the client libraries raise these, and
# the caller gets 503 dependency_unavailable (retry later), never 500. ConnectionFailure
# covers PyMongo's AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError.
OUTAGES: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    NatsTimeout,
    NoRespondersError,
    NoServersError,
    ConnectionClosedError,
    RedisConnectionError,
    RedisTimeout,
)


def outage_error(exc: BaseException) -> DependencyUnavailable:
    """The 503 for an outage of one of our own servers (see :data:`OUTAGES`)."""
    module = type(exc).__module__.split(".")[0]
    dependency = {"pymongo": "mongo", "nats": "nats", "redis": "redis"}.get(module, module)
    return DependencyUnavailable(
        f"{dependency} is unavailable; try again shortly",
        details={"dependency": dependency, "problem": type(exc).__name__, "retry_after_s": 1},
    )


def ok(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """The success envelope ``{"status": "success", "data": ...}``."""
    return web.json_response({"status": "success", "data": data}, status=status, headers=headers)


def error_response(err: BobakuError) -> web.Response:
    """The error envelope; an error that says when to come back (``details.retry_after_s``,
    e.g. 429) also says so in ``Retry-After``, as HTTP clients and proxies read it."""
    headers = None
    retry_after = err.details.get("retry_after_s") if isinstance(err.details, dict) else None
    if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return web.json_response(err.to_envelope(), status=err.status, headers=headers)


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse the body as ``model``: 415 if not JSON, 413 if too large, 400 if malformed,
    422 naming each wrong field. Nothing has been written when any of these is raised."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "send the body as application/json",
            details={"content_type": request.content_type or None},
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(request) from exc
    if not raw.strip():
        raise MalformedJSON("request body is empty; send a JSON object")
    _refuse_duplicate_keys(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise MalformedJSON(
                "request body is not valid JSON", details={"problem": errors[0]["msg"]}
            ) from exc
        raise _invalid_fields(exc) from exc


def validated(model: type[M], data: Any) -> M:
    """``data`` (already decoded) as ``model``, or the 422 :func:`read_json` would give."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid_fields(exc) from exc


def _invalid_fields(exc: ValidationError) -> ValidationFailed:
    return ValidationFailed(
        "request body has invalid fields", details={"fields": validation_fields(exc)}
    )


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _refuse_duplicate_keys(raw: bytes) -> None:
    """400 for an object that names a key twice: parsers disagree on which one wins (the
    last, here), so a body that a proxy or a signature check read one way must not be
    acted on another way. Invalid JSON is left to the model's parser to report."""
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as dup:
        raise MalformedJSON(
            f"request body names the key {dup.key!r} more than once",
            details={"field": dup.key, "problem": "duplicate key"},
        ) from None
    except ValueError:
        return


class RequestBody(BaseModel):
    """Base of request bodies: JSON types are taken strictly (``"2"`` is not a quantity)
    and unknown fields are refused, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    """Verify tokens with the public key in ``JWT_PUBLIC_KEY_FILE`` (key id ``JWT_KEY_ID``)."""
    if settings.jwt_public_key_file is None:
        raise ValueError("JWT_PUBLIC_KEY_FILE is not set")
    key = load_public_key(settings.jwt_public_key_file.read_bytes())
    return TokenVerifier(
        {settings.jwt_key_id: key}, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def principal(request: web.Request) -> Principal:
    """The verified caller of this request (``Authorization: Bearer <jwt>``), or 401."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    token = _bearer(request)
    if token is None:
        raise Unauthorized("send an access token as 'Authorization: Bearer <token>'")
    if VERIFIER not in request.app:
        raise Unauthorized("this service has no token verifier (set JWT_PUBLIC_KEY_FILE)")
    who = request.app[VERIFIER].verify(token)
    request[PRINCIPAL] = who
    return who


def remembered_principal(request: web.Request) -> Principal | None:
    """The caller of this request if its token verified before and still would
    (:meth:`TokenVerifier.remembered`: no signature check), else None, and then
    :func:`principal` decides."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    token = _bearer(request)
    if token is None or VERIFIER not in request.app:
        return None
    who = request.app[VERIFIER].remembered(token)
    if who is not None:
        request[PRINCIPAL] = who
    return who


def validation_fields(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "problem": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors(include_url=False)
    ]


def _too_large(request: web.Request) -> PayloadTooLarge:
    limit = request.app[SETTINGS].max_body_bytes
    return PayloadTooLarge(
        f"request body is larger than the limit of {limit} bytes",
        details={"limit_bytes": limit, "content_length": request.content_length},
    )


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def context_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    cid = request.headers.get(CORRELATION_HEADER, "")
    cid = cid if SAFE_ID.match(cid) else new_correlation_id()
    # With tracing on, the SERVER-span middleware (outermost) has already continued the
    # caller's traceparent or started a trace: its id is the one logs and events carry.
    tid = tracing.current_trace_id()
    if tid is None:
        match = TRACEPARENT.match(request.headers.get("traceparent", ""))
        tid = match.group(1) if match else new_trace_id()
    tokens = (correlation_id_var.set(cid), trace_id_var.set(tid))
    try:
        response = await handler(request)
        response.headers[CORRELATION_HEADER] = cid
        response.headers["X-Trace-ID"] = tid
        return response
    finally:
        correlation_id_var.reset(tokens[0])
        trace_id_var.reset(tokens[1])


@web.middleware
async def metrics_and_errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    service = request.app[SETTINGS].service_name
    started = time.perf_counter()
    HTTP_IN_FLIGHT.labels(service).inc()
    try:
        limit = request.app[SETTINGS].max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(request)
        response = await handler(request)
    except BobakuError as err:
        if err.status >= 500:
            log.error("request failed: %s", err.message, exc_info=err)
        response = error_response(err)
    except OUTAGES as exc:
        log.warning(
            "%s %s: a dependency is unavailable: %s: %s",
            request.method,
            request.path,
            type(exc).__name__,
            exc,
        )
        response = error_response(outage_error(exc))
    except web.HTTPRequestEntityTooLarge:
        response = error_response(_too_large(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_http_error(exc))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response(BobakuError("internal error; see the server log"))
    finally:
        HTTP_IN_FLIGHT.labels(service).dec()
    route = _route_of(request)
    HTTP_REQUESTS.labels(service, request.method, route, str(response.status)).inc()
    HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
    return response


def _http_error(exc: web.HTTPException) -> BobakuError:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    err = BobakuError(exc.reason or "error")
    err.status = exc.status
    err.code = codes.get(exc.status, "http_error")
    return err


@web.middleware
async def silo_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """In a silo: a caller whose token names another franchise is refused before any
    handler runs (403 and a security event). Data access is guarded again in
    :meth:`Databases.franchise`, for callers whose token names no franchise."""
    if request.headers.get("Authorization") and VERIFIER in request.app:
        try:
            who = principal(request)
        except Unauthorized:
            who = None  # the handler answers 401 if it needs a caller
        if who is not None:
            request.app[DEPLOYMENT].guard(who.franchise_id, subject=who.subject)
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    return ok({"alive": True, "service": request.app[SETTINGS].service_name})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, ReadinessCheck] = request.app[CHECKS]
    results = await asyncio.gather(*(_run_check(n, c) for n, c in checks.items()))
    report = dict(zip(checks, results, strict=True))
    draining = request.app[DRAINING].is_set()
    ready = not draining and all(r == "ok" for r in report.values())
    body = {"ready": ready, "draining": draining, "dependencies": report}
    if ready:
        return ok(body)
    return web.json_response(
        {
            "status": "error",
            "error": {
                "code": "not_ready",
                "message": "a dependency is unavailable",
                "details": body,
            },
        },
        status=503,
    )


async def _run_check(name: str, check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:
        READINESS.labels(name).set(0)
        return f"down: {type(exc).__name__}: {exc}"[:300]
    READINESS.labels(name).set(1)
    return "ok"


class _Collected(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest()
    families: list[Metric] = []
    for source in request.app.get(METRIC_SOURCES, ()):  # (an app not from create_app: none)
        try:
            families += await source()
        except Exception:  # a source's outage must not cost the scrape its other metrics
            log.warning("metric source %s failed", getattr(source, "__qualname__", source),
                        exc_info=True)  # fmt: skip
    if families:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collected(families))
        body += generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(
    settings: Settings,
    *,
    uses: Collection[Dependency] = (),
    indexes: IndexCatalog | None = None,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    franchise_scoped: bool = False,
) -> web.Application:
    """A service application with health, metrics, errors, limits and its connections.

    ``franchise_scoped``: a service the operator may also run in a franchise's silo
    (order, payment, menu, supply). Its consumers then handle only their share of the
    events (:func:`franchise_scope`): a silo its own franchise's (and the brand's), the
    pooled instance every franchise's except those with a silo."""
    tracing.setup_tracing(settings.service_name, version=settings.service_version)
    deployment = Deployment.from_settings(settings)
    # The SERVER span (with tracing on) is outermost: the trace id is known to what follows.
    middlewares = [*tracing.server_middlewares(), context_middleware, metrics_and_errors_middleware]
    if deployment.is_silo:
        middlewares.append(silo_middleware)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[DEPLOYMENT] = deployment
    if settings.bobaku_config_file is not None:
        app[CONFIG] = LiveConfig(settings.bobaku_config_file, poll_s=settings.config_reload_s)
        app.cleanup_ctx.append(_watch_config)
    if settings.jwt_public_key_file is not None:
        app[VERIFIER] = verifier_from_settings(settings)
    app[CHECKS] = dict(extra_checks or {})
    app[DRAINING] = asyncio.Event()
    app[METRIC_SOURCES] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_connections(set(uses), indexes, franchise_scoped=franchise_scoped))
    app.on_shutdown.append(_drain)
    return app


async def _watch_config(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CONFIG].watch(), name="config-watch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def franchise_scope(bus: EventBus, settings: Settings) -> AsyncIterator[None]:
    """Set ``bus.scope`` for a silo-capable service, for as long as the context lasts.

    In a silo: messages of its franchise, of the brand, and those naming no tenant. In the
    pooled instance: all but those of a franchise that the routing table places in a silo
    (watched, so a franchise moved into a silo is left to it from then on; the set is
    known before any consumer starts). Both instances see every message of the shared
    streams, and each franchise's work is done by exactly one of them."""
    if settings.deployment_mode == "silo" and settings.franchise_id:
        own = {settings.franchise_id, "brand"}

        def in_silo(subject: str) -> bool:
            tenant = tenant_of(subject)
            return tenant is None or tenant in own

        bus.scope = in_silo
        yield
        return
    async with watched_silos(bus, settings) as silos:

        def pooled(subject: str) -> bool:
            return tenant_of(subject) not in silos

        bus.scope = pooled
        yield


def _connections(
    uses: set[Dependency], indexes: IndexCatalog | None, *, franchise_scoped: bool = False
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def connections(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        checks: dict[str, ReadinessCheck] = app[CHECKS]
        scoped = contextlib.AsyncExitStack()
        if "nats" in uses:
            bus = await EventBus.connect(settings)
            app[BUS] = bus
            if franchise_scoped:
                await scoped.enter_async_context(franchise_scope(bus, settings))

            async def nats_check() -> None:
                if not bus.nc.is_connected:
                    raise ConnectionError("not connected to NATS")
                await bus.js.account_info()

            checks["nats"] = nats_check
        if "redis" in uses:
            redis = redis_from_settings(settings)
            app[REDIS] = redis

            async def redis_check() -> None:
                await redis.ping()

            checks["redis"] = redis_check
        if "mongo" in uses:
            dbs = Databases.from_settings(settings, indexes)
            await dbs.start()
            app[DATABASES] = dbs
            checks["mongo"] = dbs.ping
        yield
        # Consumers were stopped in on_shutdown; now close what we opened.
        await scoped.aclose()
        if "nats" in uses:
            await app[BUS].close()
        if "redis" in uses:
            await app[REDIS].aclose()
        if "mongo" in uses:
            await app[DATABASES].close()

    return connections


async def _drain(app: web.Application) -> None:
    """On shutdown: report not-ready at once, then let consumers finish what they hold."""
    app[DRAINING].set()
    if BUS in app:
        await app[BUS].stop_consumers(app[SETTINGS].shutdown_timeout_s)


def run_service(app: web.Application) -> None:
    """Serve until SIGINT/SIGTERM, then drain in-flight requests and consumers."""
    settings = app[SETTINGS]
    log.info(
        "starting %s on http://%s:%d", settings.service_name, settings.http_host, settings.http_port
    )
    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        reuse_port=settings.http_reuse_port or None,
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,
        print=None,
    )
    log.info("%s stopped", settings.service_name)
