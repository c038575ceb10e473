"""Prometheus metrics of the operator: what it reconciled, how it ended and how long it took.

Served on ``OPERATOR_METRICS_PORT`` (``__main__``; the chart's ``operator.metricsPort``, with
the pod annotations or the PodMonitor pointing at it). Labels are bounded: the resource
kind, what triggered the pass and its outcome; never a franchise's or an outlet's name.
docs/metrics.md lists them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Counter, Histogram

RECONCILES = Counter(
    "bobaku_operator_reconciles_total",
    "Reconcile passes of Franchise and Outlet resources, by what started them and how they ended",
    ["kind", "trigger", "outcome"],
)
RECONCILE_SECONDS = Histogram(
    "bobaku_operator_reconcile_duration_seconds",
    "Time of one reconcile pass (a retried pass counts once per attempt)",
    ["kind", "trigger"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# How a pass ended: done (nothing left to do), retry (a step is waiting: kopf tries again
# later, e.g. the database is down or the Franchise of an Outlet is not ready) or error.
OUTCOMES = ("done", "retry", "error")


@asynccontextmanager
async def observed(kind: str, trigger: str, retry: type[BaseException]) -> AsyncIterator[None]:
    """Count and time the pass run inside; ``retry`` is the exception that means "later"."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "done"
    except retry:
        outcome = "retry"
        raise
    finally:
        RECONCILES.labels(kind, trigger, outcome).inc()
        RECONCILE_SECONDS.labels(kind, trigger).observe(time.perf_counter() - started)
