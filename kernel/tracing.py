"""OpenTelemetry tracing for every process, exported over OTLP/HTTP (to Jaeger locally).

:func:`setup_tracing` is called once per process (``create_app`` does it for services, the
hub does it itself). Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (scripts/
infra.sh exports it next to the other URLs) and ``OTEL_SDK_DISABLED`` is not ``true``;
otherwise every helper here is a no-op and costs nothing.

What is traced:

- aiohttp servers: :func:`server_middlewares` (outermost in ``create_app``) makes one
  SERVER span per request, parent from the caller's ``traceparent``. It lets the sampler
  decide before anything else, so a dropped trace costs a few microseconds: only a kept
  span gets its attributes. Every aiohttp client session created after setup injects
  ``traceparent`` (the client instrumentation patches ``ClientSession``, so
  ``ServiceClient`` and a service's own sessions, such as the provider simulator's
  callbacks, do);
- PyMongo commands and Redis commands (their instrumentations);
- NATS: :func:`publish_span` wraps a publish in a PRODUCER span and writes the W3C trace
  context into the message headers; :func:`consume_span` continues that context in a
  CONSUMER span on the other side (``kernel/bus.py``, ``kernel/eventstore.py``, the hub);
- the hub's Tornado handlers (``TornadoInstrumentor``).

The trace id in log lines, response headers (``X-Trace-ID``) and event metadata is the
OpenTelemetry trace id of the current span, so a log line leads to its trace in Jaeger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

TRACER_NAME = "bobaku"
# The standard OpenTelemetry variables a process reads to export and sample, which the
# operator hands on to the silos it creates (so they trace as the platform does).
# Sampling: OTEL_TRACES_SAMPLER (default parentbased_always_on: every trace) and
# OTEL_TRACES_SAMPLER_ARG (the ratio for *traceidratio); the chart sets
# parentbased_traceidratio at 0.1. Parent-based means the root's decision travels in
# ``traceparent``, so a kept trace is whole across processes.
PROPAGATED_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
)
_state: dict[str, Any] = {"enabled": False, "service": None, "provider": None, "tracer": None}


def enabled() -> bool:
    return bool(_state["enabled"])


def wanted() -> bool:
    """Whether the environment asks for tracing."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def propagated_env() -> tuple[tuple[str, str], ...]:
    """The tracing variables of this process's environment that are set, in a fixed order."""
    return tuple((name, os.environ[name]) for name in PROPAGATED_ENV if os.environ.get(name))


def setup_tracing(service_name: str, *, version: str = "0.1.0", tornado: bool = False) -> bool:
    """Install the tracer provider and the instrumentations; idempotent. True when on."""
    if _state["enabled"] or not wanted():
        return bool(_state["enabled"])
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": service_name,
            "service.version": version,
            "service.namespace": "bobaku",
            "deployment.environment": os.environ.get("ENVIRONMENT", "dev"),
        }
    )
    provider = TracerProvider(resource=resource)
    # The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; spans leave in batches from a
    # background thread, so a slow collector never blocks a request.
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500, max_queue_size=8192)
    )
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    PymongoInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    if tornado:
        from opentelemetry.instrumentation.tornado import TornadoInstrumentor

        TornadoInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    # One tracer for the process: ``trace.get_tracer`` builds a new one per call (2 % of the
    # order service's CPU in a profile, where every span asked for it).
    _state.update(
        enabled=True,
        service=service_name,
        provider=provider,
        tracer=provider.get_tracer(TRACER_NAME),
    )
    log.info(
        "tracing on: OTLP to %s, sampler %s",
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        provider.sampler.get_description(),
    )
    return True


def shutdown_tracing() -> None:
    """Flush what is buffered (called at process exit)."""
    provider = _state.get("provider")
    if provider is not None:
        provider.shutdown()


def tracer() -> trace.Tracer:
    made: trace.Tracer | None = _state.get("tracer")
    return made if made is not None else trace.get_tracer(TRACER_NAME)


def current_trace_id() -> str | None:
    """The 32-hex trace id of the current span, if one is being recorded."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


@contextmanager
def publish_span(
    subject: str, headers: MutableMapping[str, str], **attributes: Any
) -> Iterator[Span | None]:
    """A PRODUCER span around a NATS publish; its context goes into ``headers``."""
    if not enabled():
        yield None
        return
    with tracer().start_as_current_span(
        f"publish {_subject_family(subject)}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.operation.type": "publish",
            **attributes,
        },
    ) as span:
        propagate.inject(headers)
        yield span


@contextmanager
def consume_span(
    name: str, headers: Mapping[str, str] | None, **attributes: Any
) -> Iterator[Span | None]:
    """A CONSUMER span continuing the trace context found in a message's headers."""
    if not enabled():
        yield None
        return
    parent = propagate.extract(dict(headers or {}))
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(
            name,
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.operation.type": "process",
                        **attributes},
        ) as span:  # fmt: skip
            yield span
    finally:
        otel_context.detach(token)


@contextmanager
def internal_span(name: str, **attributes: Any) -> Iterator[Span | None]:
    """An INTERNAL span (e.g. the hub's fan-out of one publication)."""
    if not enabled():
        yield None
        return
    with tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Query parameters whose values never go into a span (signed URLs' secrets).
_SECRET_QUERY_KEYS = frozenset({"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"})
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)


def server_middlewares() -> tuple[Middleware, ...]:
    """The SERVER-span middleware for an aiohttp application (put it first), or nothing
    when tracing is off."""
    return (trace_request,) if enabled() else ()


@web.middleware
async def trace_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One SERVER span per request, named ``<METHOD> <route>`` (``POST /api/v1/{tail}``).

    The caller's W3C ``traceparent`` (and ``tracestate``) is continued when sent. The span
    is started before any attribute is computed, so the sampler's decision comes first: a
    dropped trace is a non-recording span that still carries the trace id (logs,
    ``X-Trace-ID``) and the not-sampled flag (to the services this request calls), and costs
    nothing more. A kept one gets the attributes of the HTTP semantic conventions that the
    OpenTelemetry aiohttp-server instrumentation recorded before.
    """
    headers = request.headers
    parent = propagate.extract(headers) if "traceparent" in headers else None
    method = request.method if request.method in _KNOWN_METHODS else "HTTP"
    route = _canonical_route(request)
    span = tracer().start_span(
        f"{method} {route}" if route else method, context=parent, kind=SpanKind.SERVER
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        if not span.is_recording():
            return await handler(request)
        span.set_attributes(_request_attributes(request, route))
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _set_http_status(span, exc.status)
            if exc.status >= 500:
                span.record_exception(exc)
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
            raise
        _set_http_status(span, response.status)
        return response
    finally:
        span.end()
        otel_context.detach(token)


def _canonical_route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


def _request_attributes(request: web.Request, route: str) -> dict[str, Any]:
    target = request.path
    if request.query_string:
        query = [
            (k, "REDACTED" if k in _SECRET_QUERY_KEYS else v)
            for k, v in parse_qsl(request.query_string, keep_blank_values=True)
        ]
        target = f"{target}?{urlencode(query)}"
    host = request.url.host or ""
    attributes: dict[str, Any] = {
        "http.method": request.method,
        "http.scheme": request.scheme,
        "http.host": host,
        "net.host.name": host,
        "http.target": target,
        "http.url": f"{request.scheme}://{request.host}{target}",
        "http.flavor": f"{request.version.major}.{request.version.minor}",
        "http.route": route,
        "http.server_name": request.host,
    }
    if request.url.port:
        attributes["net.host.port"] = request.url.port
    if user_agent := request.headers.get("User-Agent"):
        attributes["http.user_agent"] = user_agent
    return attributes


def _set_http_status(span: Span, status: int) -> None:
    span.set_attribute("http.status_code", status)
    if status >= 500:  # a server span is an error only when the server failed
        span.set_status(Status(StatusCode.ERROR))


def mark_error(span: Span | None, exc: BaseException) -> None:
    if span is not None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))


def _subject_family(subject: str) -> str:
    """A span name without ids: ``events.fr-jakarta.order.created`` → ``events.*.order.created``,
    ``es.order.fr-jakarta.ord-1`` → ``es.order``."""
    parts = subject.split(".")
    if parts[0] == "events" and len(parts) > 2:
        return ".".join(["events", "*", *parts[2:]])
    if parts[0] == "es" and len(parts) > 1:
        return f"es.{parts[1]}"
    if parts[0] == "hub":
        return "hub"
    return parts[0]
