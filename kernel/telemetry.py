"""Prometheus metrics shared by every process, and JSON logs.

Metric names are fixed here so dashboards and alert rules (``monitoring/``) have one place
to look; docs/metrics.md lists each. Labels stay low-cardinality: routes are the route
template, never the raw path; tenants are franchise and outlet ids (tens to hundreds),
never order, customer or user ids.

The event store counts what aggregates store (:func:`observe_stored`, after a successful,
non-duplicate append, so a retried append is never counted twice). Business numbers
(orders, sales, refunds, kitchen times) are not counted by the writers: the analytics
service exports them from its projections (``services/analytics/service_layer/metrics.py``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram

from bobaku.kernel.context import correlation_id_var, trace_id_var

if TYPE_CHECKING:
    from bobaku.kernel.events import Event

HTTP_REQUESTS = Counter(
    "bobaku_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "bobaku_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge("bobaku_http_requests_in_flight", "HTTP requests in flight", ["service"])
EVENTS_PUBLISHED = Counter(
    "bobaku_events_published_total",
    "Integration events published, by type and tenant (franchise id, or brand)",
    ["type", "tenant", "duplicate"],
)
EVENTS_STORED = Counter(
    "bobaku_events_stored_total",
    "Events appended to aggregate streams, by aggregate kind, type and tenant",
    ["kind", "type", "tenant"],
)
AGGREGATE_LOADS = Counter(
    "bobaku_aggregate_loads_total",
    "Aggregate loads from the event store, by kind (each reads the subject's stored messages)",
    ["kind"],
)
AGGREGATE_LOADS_FROM_MEMORY = Counter(
    "bobaku_aggregate_loads_from_memory_total",
    "Aggregate loads answered from the store's remembered history with no round trip "
    "(a consumer's delivery or the caller's own append told the sequence), by kind",
    ["kind"],
)
AGGREGATE_MESSAGES_READ = Counter(
    "bobaku_aggregate_messages_read_total",
    "Stored messages read by aggregate loads (STREAM.MSG.GET requests), by kind",
    ["kind"],
)
CONSUMER_PENDING = Gauge(
    "bobaku_consumer_pending_messages",
    "Messages in the stream not yet delivered to this durable consumer (lag), as last seen",
    ["consumer"],
)
CONSUMER_HANDLE_SECONDS = Histogram(
    "bobaku_consumer_handle_duration_seconds",
    "Time a consumer's handler took for one message",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_CONSUMED = Counter(
    "bobaku_events_consumed_total", "Events handled by consumers", ["consumer", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "bobaku_events_dead_lettered_total", "Messages sent to the dead-letter stream", ["consumer"]
)
UPSTREAM_CALLS = Counter(
    "bobaku_upstream_calls_total", "Calls to other services by outcome", ["upstream", "outcome"]
)
UPSTREAM_LATENCY = Histogram(
    "bobaku_upstream_call_duration_seconds",
    "One logical call to another service or a payment provider (retries included)",
    ["upstream"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BREAKER_STATE = Gauge(
    "bobaku_circuit_breaker_state",
    "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
    ["upstream"],
)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
CACHE_LOOKUPS = Counter("bobaku_cache_lookups_total", "Cache-aside lookups", ["cache", "result"])
READINESS = Gauge(
    "bobaku_dependency_ready",
    "1 when the dependency answered the last readiness check",
    ["dependency"],
)

# ------------------------------------------------------------ order saga

SAGA_STEP_SECONDS = Histogram(
    "bobaku_saga_step_duration_seconds",
    "One saga step (remote call and append)",
    ["saga", "step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SAGA_STEPS = Counter(
    "bobaku_saga_steps_total",
    "Saga steps by outcome: ok, conflict (another writer won; retried), error",
    ["saga", "step", "outcome"],
)


def observe_stored(kind: str, events: Sequence[Event]) -> None:
    """Count the events an aggregate just stored (once per event)."""
    for event in events:
        EVENTS_STORED.labels(kind, event.type, event.tenant or "brand").inc()


@contextmanager
def saga_step(saga: str, step: str, conflict: type[BaseException] | None = None) -> Iterator[None]:
    """Time one saga step and count its outcome (``conflict`` is a retried race, not a fault)."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except BaseException as exc:
        if conflict is not None and isinstance(exc, conflict):
            outcome = "conflict"
        raise
    finally:
        SAGA_STEP_SECONDS.labels(saga, step).observe(time.perf_counter() - started)
        SAGA_STEPS.labels(saga, step, outcome).inc()


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the correlation and trace ids of the current context."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (cid := correlation_id_var.get()) is not None:
            entry["correlation_id"] = cid
        if (tid := trace_id_var.get()) is not None:
            entry["trace_id"] = tid
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log duplicates our request metrics and logs.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
