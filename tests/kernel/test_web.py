"""The HTTP app factory: readiness, the error envelope, body limits and metrics."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import Field
from support import eventually, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import (
    DATABASES,
    METRIC_SOURCES,
    RequestBody,
    create_app,
    metrics,
    ok,
    principal,
    read_json,
)


class Topping(RequestBody):
    name: str = Field(min_length=1, max_length=60)
    price: int = Field(ge=0)


class NewMenuItem(RequestBody):
    name: str = Field(min_length=1, max_length=80)
    base_price: int = Field(ge=0)
    toppings: list[Topping] = []


async def create_menu_item(request: web.Request) -> web.Response:
    body = await read_json(request, NewMenuItem)
    db = await request.app[DATABASES].franchise("fr-web")
    await db.menu_items.insert_one(body.model_dump())
    return ok(body.model_dump(), status=201)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), uses=("mongo",))
    app.router.add_post("/menu-items", create_menu_item)
    async with TestClient(TestServer(app)) as client:
        db = await app[DATABASES].franchise("fr-web")
        await db.menu_items.delete_many({})
        yield client


async def stored_items(client: TestClient[Any, Any]) -> int:
    db = await client.app[DATABASES].franchise("fr-web")  # type: ignore[index]
    return int(await db.menu_items.count_documents({}))


async def test_a_valid_body_is_stored_and_answered_in_the_success_envelope(
    client: TestClient[Any, Any],
) -> None:
    item = {
        "name": "Taro Milk Tea",
        "base_price": 25000,
        "toppings": [{"name": "Pearl", "price": 5000}],
    }
    resp = await client.post("/menu-items", json=item)
    assert resp.status == 201
    assert await resp.json() == {"status": "success", "data": item}
    assert await stored_items(client) == 1


async def test_malformed_json_is_a_400_that_says_where(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/menu-items",
        data=b'{"name": "Taro", "base_price": ',
        headers={"Content-Type": "application/json"},
    )
    body = await resp.json()
    assert resp.status == 400
    assert body["status"] == "error"
    assert body["error"]["code"] == "malformed_json"
    assert "EOF" in body["error"]["details"]["problem"]
    assert await stored_items(client) == 0


async def test_an_oversized_body_is_a_413_naming_the_limit(client: TestClient[Any, Any]) -> None:
    item = {"name": "Taro", "base_price": 1, "toppings": [{"name": "x" * 50, "price": 1}] * 60}
    resp = await client.post("/menu-items", json=item)
    body = await resp.json()
    assert resp.status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"]["limit_bytes"] == 2048
    assert await stored_items(client) == 0


async def test_an_oversized_chunked_body_without_a_length_is_also_refused(
    client: TestClient[Any, Any],
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Taro", "base_price": 1, "toppings": ['
        for _ in range(100):
            yield b'{"name": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "price": 1},'
        yield b'{"name": "y", "price": 1}]}'

    resp = await client.post(
        "/menu-items", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert await stored_items(client) == 0


async def test_wrong_types_are_a_422_naming_each_field(client: TestClient[Any, Any]) -> None:
    item = {"name": "", "base_price": "25000", "toppings": [{"name": "Pearl", "price": -1}], "x": 1}
    resp = await client.post("/menu-items", json=item)
    body = await resp.json()
    assert resp.status == 422
    assert body["error"]["code"] == "validation_failed"
    fields = {f["field"] for f in body["error"]["details"]["fields"]}
    assert fields == {"name", "base_price", "toppings.0.price", "x"}
    assert await stored_items(client) == 0


async def test_a_body_that_is_not_json_is_a_415(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/menu-items", data="name=Taro")
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert await stored_items(client) == 0


async def test_unknown_routes_and_methods_get_the_envelope_too(
    client: TestClient[Any, Any],
) -> None:
    missing = await client.get("/nope")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.delete("/menu-items")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


async def test_correlation_ids_are_echoed_or_minted(client: TestClient[Any, Any]) -> None:
    given = await client.get("/healthz", headers={"X-Correlation-ID": "corr-abc123"})
    assert given.headers["X-Correlation-ID"] == "corr-abc123"
    minted = await client.get("/healthz", headers={"X-Correlation-ID": "bad id; drop"})
    assert minted.headers["X-Correlation-ID"].startswith("corr-")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    traced = await client.get(
        "/healthz", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    )
    assert traced.headers["X-Trace-ID"] == trace


async def test_metrics_count_requests_by_route_template_and_status(
    client: TestClient[Any, Any],
) -> None:
    await client.post("/menu-items", data=b"{", headers={"Content-Type": "application/json"})
    text = await (await client.get("/metrics")).text()
    line = next(
        (
            row
            for row in text.splitlines()
            if row.startswith("bobaku_http_requests_total{")
            and 'route="/menu-items"' in row
            and 'status="400"' in row
        ),
        None,
    )
    assert line is not None, "no request counter for POST /menu-items 400"
    assert float(line.rsplit(" ", 1)[1]) >= 1
    assert "bobaku_http_request_duration_seconds_bucket" in text


async def test_metric_sources_are_read_at_each_scrape_and_a_failing_one_costs_only_itself(
    settings: Settings,
) -> None:
    from prometheus_client.core import GaugeMetricFamily

    scrapes: list[int] = []

    async def cups_waiting() -> list[GaugeMetricFamily]:
        scrapes.append(1)
        family = GaugeMetricFamily("test_cups_waiting", "Cups waiting", labels=["outlet"])
        family.add_metric(["outlet-01"], len(scrapes))
        return [family]

    async def broken() -> list[GaugeMetricFamily]:
        raise ConnectionError("read model unavailable")

    app = create_app(settings)
    app[METRIC_SOURCES] += [broken, cups_waiting]
    async with TestClient(TestServer(app)) as client:
        first = await (await client.get("/metrics")).text()
        second = await (await client.get("/metrics")).text()
    assert 'test_cups_waiting{outlet="outlet-01"} 1.0' in first
    assert 'test_cups_waiting{outlet="outlet-01"} 2.0' in second
    # The process's own registry is still there, whatever a source did.
    assert "bobaku_http_requests_total" in second
    # An app not made by create_app (the push simulator's) serves the registry alone.
    plain = web.Application()
    plain.router.add_get("/metrics", metrics)
    async with TestClient(TestServer(plain)) as client:
        reply = await client.get("/metrics")
        assert reply.status == 200
        assert "bobaku_http_requests_total" in await reply.text()


class RedisServer:
    """A Redis of the test's own, so that stopping it disturbs nobody else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is installed by scripts/infra.sh"
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def test_readiness_turns_red_when_a_dependency_stops_and_green_when_it_is_back(
    settings: Settings,
) -> None:
    redis = RedisServer()
    await redis.start()
    app = create_app(
        settings.model_copy(update={"redis_url": redis.url}), uses=("redis", "nats", "mongo")
    )

    async def readiness(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
        resp = await client.get("/readyz")
        return resp.status, await resp.json()

    try:
        async with TestClient(TestServer(app)) as client:
            await eventually(lambda: _status_is(readiness(client), 200))

            await redis.kill()
            _, body = await eventually(lambda: _status_is(readiness(client), 503))
            deps = body["error"]["details"]["dependencies"]
            assert deps["redis"].startswith("down")
            assert deps["nats"] == "ok"
            assert deps["mongo"] == "ok"
            assert body["error"]["code"] == "not_ready"

            await redis.start()
            _, body = await eventually(lambda: _status_is(readiness(client), 200), timeout=15)
            assert body["data"]["dependencies"] == {"redis": "ok", "nats": "ok", "mongo": "ok"}
            metrics = await (await client.get("/metrics")).text()
            assert 'bobaku_dependency_ready{dependency="redis"} 1.0' in metrics
    finally:
        await redis.kill()


async def _status_is(probe: Any, status: int) -> tuple[int, dict[str, Any]] | None:
    got, body = await probe
    return (got, body) if got == status else None


def test_error_envelope_shape_is_stable() -> None:
    from bobaku.kernel.errors import ValidationFailed

    err = ValidationFailed("bad", details={"fields": [{"field": "x"}]})
    assert json.loads(json.dumps(err.to_envelope())) == {
        "status": "error",
        "error": {
            "code": "validation_failed",
            "message": "bad",
            "details": {"fields": [{"field": "x"}]},
        },
    }


async def test_the_bearer_token_names_the_caller_and_a_bad_one_is_401(
    settings: Settings, token_issuer: TokenIssuer
) -> None:
    issuer = token_issuer
    app = create_app(settings)  # verifies with JWT_PUBLIC_KEY_FILE

    async def franchise_sales(request: web.Request) -> web.Response:
        who = principal(request)
        who.require_franchise(request.match_info["franchise"])
        return ok({"caller": who.subject})

    app.router.add_get("/franchises/{franchise}/sales", franchise_sales)
    owner = issuer.issue("u-own", [Role.FRANCHISE_OWNER], franchise_id="fr-a")
    async with TestClient(TestServer(app)) as client:
        auth = {"Authorization": f"Bearer {owner}"}
        mine = await client.get("/franchises/fr-a/sales", headers=auth)
        assert (mine.status, (await mine.json())["data"]) == (200, {"caller": "u-own"})
        theirs = await client.get("/franchises/fr-b/sales", headers=auth)
        assert theirs.status == 403
        assert (await theirs.json())["error"]["code"] == "tenant_forbidden"
        anonymous = await client.get("/franchises/fr-a/sales")
        assert anonymous.status == 401
        forged = await client.get(
            "/franchises/fr-a/sales", headers={"Authorization": "Bearer x.y.z"}
        )
        assert (await forged.json())["error"]["code"] == "unauthorized"


async def test_a_key_named_twice_is_refused_and_nothing_is_stored(
    client: TestClient[Any, Any],
) -> None:
    # Parsers disagree on which duplicate wins; the last one would have been taken silently.
    raw = b'{"name": "Taro", "base_price": 25000, "base_price": 1}'
    resp = await client.post("/menu-items", data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 400
    assert body["error"]["code"] == "malformed_json"
    assert body["error"]["details"]["field"] == "base_price"
    nested = (
        b'{"name": "Taro", "base_price": 1, "toppings": [{"name": "a", "name": "b", "price": 1}]}'
    )
    resp = await client.post(
        "/menu-items", data=nested, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["details"]["field"] == "name"
    assert await stored_items(client) == 0


async def test_an_outage_of_a_data_server_or_nats_is_a_503_not_a_500(
    settings: Settings,
) -> None:
    from nats.aio.client import Client as NATS
    from pymongo import AsyncMongoClient

    # Real clients against a server that is not there (a stopped FerretDB) and a NATS
    # subject whose only subscriber never answers (a stalled responder during a restart).
    dead_mongo: AsyncMongoClient[Any] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=200
    )
    nc = NATS()
    await nc.connect(settings.nats_url)
    silent = f"t.silent.{free_port()}"

    async def never_answer(_msg: Any) -> None:
        return None

    await nc.subscribe(silent, cb=never_answer)

    async def place_order(_: web.Request) -> web.Response:
        await dead_mongo["x"]["orders"].insert_one({"n": 1})
        return ok({})

    async def ask(_: web.Request) -> web.Response:
        await nc.request(silent, b"{}", timeout=0.2)
        return ok({})

    app = create_app(settings)
    app.router.add_post("/orders", place_order)
    app.router.add_get("/ask", ask)
    try:
        async with TestClient(TestServer(app)) as client:
            for resp, dependency in (
                (await client.post("/orders"), "mongo"),
                (await client.get("/ask"), "nats"),
            ):
                body = await resp.json()
                assert resp.status == 503, body
                assert body["error"]["code"] == "dependency_unavailable"
                assert body["error"]["details"]["dependency"] == dependency
                assert resp.headers["Retry-After"] == "1"
    finally:
        await nc.close()
        await dead_mongo.close()


async def test_readiness_does_not_wait_out_server_selection_when_mongo_is_gone(
    settings: Settings,
) -> None:
    from pymongo import AsyncMongoClient

    from bobaku.kernel.db import Databases, IndexCatalog
    from bobaku.kernel.errors import DependencyUnavailable

    # A client that would wait 30 s to pick a server: the probe must not.
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=30_000
    )
    dbs = Databases(client, "tping", IndexCatalog())
    try:
        # Never reached yet: the first probe is bounded, not 30 s.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(dbs.ping(), 5)
        # Once the driver has seen the server fail, the probe answers at once.
        await eventually(
            lambda: asyncio.sleep(
                0, any(s.error for s in client.topology_description.server_descriptions().values())
            )
        )
        with pytest.raises(DependencyUnavailable, match="no reachable MongoDB server"):
            await asyncio.wait_for(dbs.ping(), 5)
    finally:
        await dbs.close()
