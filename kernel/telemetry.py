"""Prometheus metrics shared by every process, and JSON logs.

Metric names are fixed here so dashboards and alert rules (``monitoring/``) have one place
to look. Labels stay low-cardinality: routes are the route template, never the raw path.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from bobaku.kernel.context import correlation_id_var, trace_id_var

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
    "bobaku_events_published_total", "Events published", ["type", "duplicate"]
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
CACHE_LOOKUPS = Counter("bobaku_cache_lookups_total", "Cache-aside lookups", ["cache", "result"])
READINESS = Gauge(
    "bobaku_dependency_ready",
    "1 when the dependency answered the last readiness check",
    ["dependency"],
)

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
