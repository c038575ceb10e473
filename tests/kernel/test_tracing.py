"""The SERVER span of every request: named by route, continuing the caller's traceparent,
and nothing recorded for a trace the sampler dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bobaku.kernel import tracing

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
EXPORTER = InMemorySpanExporter()


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient[Any, Any]]:
    # The global provider can be set once per process: a provider of this module's, with
    # the SDK's default sampler (parent-based, every root kept), exporting to memory. The
    # test process runs with OTEL_SDK_DISABLED (tests/conftest.py), which a provider reads.
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    saved = dict(tracing._state)
    tracing._state["enabled"] = True

    async def item(request: web.Request) -> web.Response:
        if request.query.get("fail"):
            raise web.HTTPServiceUnavailable()
        return web.json_response({"trace_id": tracing.current_trace_id()})

    app = web.Application(middlewares=tracing.server_middlewares())
    app.router.add_get("/items/{item_id}", item)
    EXPORTER.clear()
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        tracing._state.clear()
        tracing._state.update(saved)


async def test_a_sampled_caller_gets_a_server_span_named_by_route_under_its_own(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get(
        "/items/42?sig=secret&page=2", headers={"traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"}
    )
    assert (await resp.json())["trace_id"] == TRACE
    [span] = EXPORTER.get_finished_spans()
    assert span.name == "GET /items/{item_id}"
    assert span.kind is SpanKind.SERVER
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert f"{span.context.trace_id:032x}" == TRACE
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/items/{item_id}"
    assert attributes["http.method"] == "GET"
    assert attributes["http.status_code"] == 200
    assert attributes["http.target"] == "/items/42?sig=REDACTED&page=2"


async def test_a_dropped_trace_records_nothing_but_keeps_its_trace_id(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/items/1", headers={"traceparent": f"00-{TRACE}-{CALLER_SPAN}-00"})
    assert (await resp.json())["trace_id"] == TRACE
    assert EXPORTER.get_finished_spans() == ()


async def test_a_request_without_a_caller_starts_a_trace_and_a_server_failure_is_an_error(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/items/1?fail=1")
    assert resp.status == 503
    [span] = EXPORTER.get_finished_spans()
    assert span.parent is None
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["http.status_code"] == 503
