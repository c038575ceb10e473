"""The operator's own metrics: counted per reconcile pass and scraped by the real Prometheus."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import eventually

# Fixtures from this folder's conftest.py: `cluster`, `operator`, `unique`.

pytestmark = pytest.mark.slow

Cluster = Any  # conftest.Cluster


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite through `make test` (scripts/infra.sh)")
    return value


async def _reconciles(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, str, str], float]:
    async with http.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bobaku_operator_reconciles_total":
                labels = sample.labels
                counts[(labels["kind"], labels["trigger"], labels["outcome"])] = sample.value
    return counts


async def test_reconcile_passes_are_counted_and_prometheus_scrapes_them(
    cluster: Cluster, operator: Any, unique: str
) -> None:
    targets = Path(_env("BOBAKU_SCRAPE_TARGETS_DIR")) / "operator.json"
    host_port = operator.metrics_url.removeprefix("http://").removesuffix("/metrics")
    targets.write_text(json.dumps([{"targets": [host_port], "labels": {"service": "operator"}}]))
    try:
        async with aiohttp.ClientSession() as http:
            before = await _reconciles(http, operator.metrics_url)
            name = f"metrics-{unique}"
            await cluster.apply(
                "Franchise", name, {"displayName": "Metrics", "owner": "o@example.com"}
            )
            await cluster.wait_for("Franchise", name, "Ready")
            # An Outlet whose Franchise does not exist waits: a pass that ends in "retry".
            await cluster.apply(
                "Outlet",
                f"orphan-{unique}",
                {"franchiseRef": f"nowhere-{unique}", "displayName": "Orphan", "city": "Bogor"},
            )

            async def counted() -> dict[tuple[str, str, str], float] | None:
                after = await _reconciles(http, operator.metrics_url)
                grew = {k for k, v in after.items() if v > before.get(k, 0.0)}
                wanted = {("Franchise", "change", "done"), ("Outlet", "change", "retry")}
                return after if wanted <= grew else None

            await eventually(counted, timeout=60, interval=0.5)

            async def scraped() -> list[dict[str, Any]] | None:
                query = (
                    'bobaku_operator_reconciles_total{service="operator",kind="Franchise",'
                    'outcome="done"}'
                )
                async with http.get(
                    f"{_env('PROMETHEUS_URL')}/api/v1/query", params={"query": query}
                ) as resp:
                    body = await resp.json()
                result: list[dict[str, Any]] = body["data"]["result"]
                return result if result and float(result[0]["value"][1]) >= 1 else None

            await eventually(scraped, timeout=60, interval=1)
    finally:
        targets.write_text("[]")
