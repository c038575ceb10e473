"""Pooled and silo analytics on the real order and loyalty streams and Redis: a franchise
with a silo of its own has its detail kept by its silo only, and the pooled instance keeps
the brand-level figures of every franchise, so HQ's brand roll-up stays whole."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from analytics_testing import FR, OUTLET, at, completed, created, line, paid, ready
from support import delete_deployment, eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus, Message
from bobaku.kernel.deployment import Deployment
from bobaku.kernel.errors import TenantForbidden
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.routing_table import RoutingEntries, routing_key
from bobaku.kernel.settings import Settings
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.bootstrap import build_app
from bobaku.services.analytics.domain.model import Rules, Share
from bobaku.services.analytics.entrypoints.consumers import consumer_specs
from bobaku.services.analytics.service_layer import views
from bobaku.services.analytics.service_layer.handlers import ledger_gaps, rebuild
from bobaku.services.analytics.service_layer.views import Period
from bobaku.services.analytics.settings import AnalyticsSettings

RULES = Rules(zone=ZoneInfo("Asia/Jakarta"), service_target_s=300)
T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
DAY = Period(T0.date(), T0.date())
# This test's silo franchise; FR (analytics_testing) stays pooled.
SILO = f"fr-silo{secrets.token_hex(3)}"


def of(franchise: str, event: Event) -> Event:
    """The event as that franchise's order service writes it."""
    data = dict(event.data)
    if "franchise_id" in data:
        data["franchise_id"] = franchise
    return event.model_copy(update={"tenant": franchise, "data": data})


@pytest.fixture
async def stores(redis: Any) -> Any:
    """Three stores on their own keyspaces: everything (one pooled instance, no silos: the
    reference), the pooled instance beside SILO's silo, and that silo."""
    made = {
        name: ProjectionStore(redis, f"t{secrets.token_hex(4)}", replace(RULES, share=share))
        for name, share in (
            ("all", Share()),
            ("pooled", Share(silos=frozenset({SILO}))),
            ("silo", Share(silo_of=SILO)),
        )
    }
    yield made
    for store in made.values():
        for gen in range(1, 4):
            await store.drop(gen)


async def orders_of(bus: EventBus, tag: str, silo: str = SILO) -> list[Message]:
    """Two paid, made and picked-up orders, one of each franchise, and a cancelled one of
    the silo franchise, appended to the order stream; their stored messages, in order."""
    orders = AggregateStore(bus, "order")
    await orders.start()
    lines = [line("m001", 2, 41000, ["t001"]), line("m002", 1, 30000, [])]
    out: list[Message] = []
    for franchise, order, customer in (
        (FR, f"ord-sh-{tag}-p", "u-sh-1"),
        (silo, f"ord-sh-{tag}-s", "u-sh-1"),  # the same customer, at both franchises
    ):
        subject = orders.subject(franchise, order)
        for event in (
            created(order, T0, lines, customer=customer),
            paid(order, T0 + timedelta(seconds=30), 112000, customer=customer),
            ready(order, T0 + timedelta(seconds=400)),
            completed(order, T0 + timedelta(seconds=460)),
        ):
            await orders.append(subject, [of(franchise, event)], await orders.last_seq(subject))
        out += await ledger_gaps(bus)(orders.spec.name, subject, 0, 10**9)
    return out


async def earned(bus: EventBus, tag: str) -> list[Message]:
    """Loyalty points earned on the silo franchise's order, on the (brand-wide) ledger."""
    ledger = AggregateStore(bus, "loyalty")
    await ledger.start()
    subject = ledger.subject(None, f"u-sh-{tag}")
    body = {"customer_id": f"u-sh-{tag}", "order_id": f"ord-sh-{tag}-s", "points": 112}
    fact = at(
        new_event(
            "loyalty.points_earned",
            {**body, "amount": 112000, "franchise_id": SILO},
            source="customer-service",
        ),
        T0,
    )
    await ledger.append(subject, [fact], await ledger.last_seq(subject))
    return await ledger_gaps(bus)(ledger.spec.name, subject, 0, 10**9)


@pytest.fixture
async def own_bus(bus: EventBus) -> Any:
    """A deployment of the test's own (kernel/names.py): a customer service the suite runs
    elsewhere would earn points on these orders in the suite's streams, and the rebuild
    below would count that real earning, which the hand-fed live stores never saw."""
    mine = EventBus(bus.nc, deployment_id=f"t{secrets.token_hex(3)}")
    yield mine
    await delete_deployment(bus.js, mine.names)


async def test_the_pooled_instance_leaves_a_silo_franchises_detail_to_its_silo(
    own_bus: EventBus, stores: dict[str, ProjectionStore]
) -> None:
    bus = own_bus
    tag = secrets.token_hex(3)
    messages = await orders_of(bus, tag) + await earned(bus, tag)
    moved = {}
    for name, store in stores.items():
        moved[name] = {f.franchise_id for f in await store.apply(messages)}
    everything, pooled, silo = stores["all"], stores["pooled"], stores["silo"]
    # The silo folds its own franchise's orders only.
    assert moved == {"all": {FR, SILO}, "pooled": {FR, SILO}, "silo": {SILO}}

    async def sales(store: ProjectionStore, scope: str) -> dict[str, Any]:
        return dict((await views.sales(store, scope, DAY, "hour", compare=False))["totals"])

    silo_scopes = (f"f:{SILO}", f"o:{SILO}:{OUTLET}")
    pooled_scopes = (f"f:{FR}", f"o:{FR}:{OUTLET}")
    # HQ's brand roll-up and its table of franchises, from the pooled instance: whole.
    assert (await sales(pooled, "b"))["orders"] >= 2
    assert await sales(pooled, "b") == await sales(everything, "b")
    assert await views.customers(pooled, "b", DAY) == await views.customers(everything, "b", DAY)
    assert await views.kitchen(pooled, "b", DAY, "hour") == await views.kitchen(
        everything, "b", DAY, "hour"
    )
    table = (await views.franchises(pooled, DAY))["franchises"]
    assert table == (await views.franchises(everything, DAY))["franchises"]
    assert {row["franchise_id"] for row in table} >= {FR, SILO}
    assert await views.loyalty(pooled, "b", DAY) == await views.loyalty(everything, "b", DAY)
    # A pooled franchise's detail stays pooled; a silo franchise's is not kept there ...
    for scope in pooled_scopes:
        assert await sales(pooled, scope) == await sales(everything, scope)
        assert await views.menu(pooled, scope, DAY, 5) == await views.menu(
            everything, scope, DAY, 5
        )

    async def hourly(store: ProjectionStore, scope: str) -> int:
        report = await views.sales(store, scope, DAY, "hour", compare=False)
        return sum(row["placed"] for row in report["series"])

    # (The franchise's day totals stay: they are HQ's table of franchises.)
    assert await sales(pooled, f"f:{SILO}") == await sales(everything, f"f:{SILO}")
    assert (await sales(pooled, f"o:{SILO}:{OUTLET}"))["placed"] == 0
    for scope in silo_scopes:
        assert await hourly(pooled, scope) == 0
        assert await hourly(everything, scope) == 1
        assert (await views.menu(pooled, scope, DAY, 5))["top_items"] == []
        assert (await views.kitchen(pooled, scope, DAY, "hour"))["totals"]["orders"] == 0
    assert (await views.loyalty(pooled, f"f:{SILO}", DAY))["issued"] == 0
    # ... but in the silo, equal to what one instance keeping everything has.
    for scope in silo_scopes:
        assert (await sales(silo, scope))["orders"] == 1
        assert await sales(silo, scope) == await sales(everything, scope)
        assert await hourly(silo, scope) == 1
        assert await views.menu(silo, scope, DAY, 5) == await views.menu(everything, scope, DAY, 5)
        assert await views.kitchen(silo, scope, DAY, "hour") == await views.kitchen(
            everything, scope, DAY, "hour"
        )
    assert await views.customers(silo, f"f:{SILO}", DAY) == await views.customers(
        everything, f"f:{SILO}", DAY
    )
    assert (await views.loyalty(silo, f"f:{SILO}", DAY))["issued"] == 112
    # The silo keeps nothing of the pooled franchise, and no brand figures.
    for scope in (*pooled_scopes, "b"):
        assert (await sales(silo, scope))["placed"] == 0
    assert (await views.loyalty(silo, "b", DAY))["issued"] == 0
    # Applied again (a redelivery), nothing moves anywhere.
    for store in stores.values():
        assert await store.apply(messages) == []

    # The silo rebuilt from the streams equals its live model (the streams hold every
    # franchise's orders, other tests' too: it folds only its own).
    gen = await silo.generation()
    done = await rebuild(bus, silo, switch=False)
    assert await silo.dump(done.generation) == await silo.dump(gen)
    await silo.drop(done.generation)


def test_a_silo_refuses_brand_and_other_franchises_requests() -> None:
    silo = Deployment("silo", SILO)
    silo.guard(SILO)
    with pytest.raises(TenantForbidden):
        silo.guard(FR)
    with pytest.raises(TenantForbidden):
        silo.guard_brand(subject="u-hq")
    Deployment().guard_brand()  # pooled: the brand's figures are there


async def test_the_services_pooled_and_silo_instances_answer_where_the_figures_are(
    settings: Settings, bus: EventBus, redis: Any, token_issuer: TokenIssuer
) -> None:
    """The analytics process itself, pooled and as the silo: the pooled one learns from
    the routing table that the franchise has a silo; each answers from what it keeps, and the silo
    refuses the brand and other franchises, HQ included."""
    tag = secrets.token_hex(3)
    silo_fr = f"fr-silo{tag}"  # (its own: the other test names SILO)
    bucket = f"routing_t{tag}"
    base = {**settings.model_dump(), "service_name": "analytics", "routing_bucket": bucket}
    pooled_cfg = AnalyticsSettings(**{**base, "deployment_id": f"t{tag}"})
    silo_cfg = AnalyticsSettings(
        **{**base, "deployment_id": f"t{tag}", "deployment_mode": "silo", "franchise_id": silo_fr}
    )
    assert silo_cfg.instance_id == f"t{tag}-{silo_fr}" != pooled_cfg.instance_id

    async def silo_entry() -> dict[str, Any]:
        return {"franchise_id": silo_fr, "mode": "silo", "upstreams": {}, "updated_at": "1"}

    await RoutingEntries(bus, bucket).publish(routing_key(silo_fr), silo_entry)
    await orders_of(bus, tag, silo_fr)
    hq = token_issuer.issue("u-hq-sh", [Role.HQ_ADMIN])
    owner = token_issuer.issue("u-own-sh", [Role.FRANCHISE_OWNER], franchise_id=silo_fr)
    other = token_issuer.issue("u-own-p", [Role.FRANCHISE_OWNER], franchise_id=FR)
    day = {"from": T0.date().isoformat(), "to": T0.date().isoformat(), "granularity": "hour"}

    async def get(client: TestClient[Any, Any], path: str, token: str) -> tuple[int, Any]:
        reply = await client.get(
            f"/analytics/{path}/sales", params=day, headers={"Authorization": f"Bearer {token}"}
        )
        return reply.status, await reply.json()

    def hourly(body: Any) -> int:
        return sum(row["placed"] for row in body["data"]["series"])

    try:
        async with (
            TestClient(TestServer(build_app(pooled_cfg))) as pooled,
            TestClient(TestServer(build_app(silo_cfg))) as silo,
        ):
            mine = f"franchises/{silo_fr}/outlets/{OUTLET}"

            async def counted() -> bool:
                status, body = await get(silo, mine, owner)
                _, theirs = await get(pooled, f"franchises/{FR}/outlets/{OUTLET}", hq)
                return status == 200 and hourly(body) == 1 and hourly(theirs) >= 1

            await eventually(counted, timeout=60, interval=0.5)
            # The pooled instance: the silo franchise in the brand and HQ's table of
            # franchises, not its outlet detail.
            status, body = await get(pooled, "brand", hq)
            assert status == 200
            table = {}
            reply = await pooled.get(
                "/analytics/brand/franchises", params=day,
                headers={"Authorization": f"Bearer {hq}"},
            )  # fmt: skip
            assert reply.status == 200
            for row in (await reply.json())["data"]["franchises"]:
                table[row["franchise_id"]] = row["placed"]
            assert table[silo_fr] == 1
            status, body = await get(pooled, mine, hq)
            assert (status, hourly(body)) == (200, 0)
            # The silo: its own franchise, for its owner and for HQ; nothing else for anyone.
            status, body = await get(silo, mine, hq)
            assert (status, hourly(body)) == (200, 1)
            for path, token in (("brand", hq), (f"franchises/{FR}", hq), (mine, other)):
                status, body = await get(silo, path, token)
                assert status == 403, (path, body)
                assert body["error"]["code"] == "tenant_forbidden"
    finally:
        await bus.js.delete_key_value(bucket)
        for cfg in (pooled_cfg, silo_cfg):
            for spec in consumer_specs(cfg.analytics_durable):
                with contextlib.suppress(Exception):
                    await bus.js.delete_consumer(spec.stream, f"{cfg.instance_id}-{spec.durable}")
            store = ProjectionStore(redis, cfg.instance_id, RULES)
            await store.drop(1)
