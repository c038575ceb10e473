"""Silo-capable services share the streams with their franchises' silos: each franchise's
events are handled by exactly one instance (kernel.web.franchise_scope), the others
acknowledge them unhandled."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support import eventually

from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Message, StreamSpec
from bobaku.kernel.events import Event
from bobaku.kernel.routing_table import Entry, RoutingEntries, routing_key
from bobaku.kernel.settings import Settings
from bobaku.kernel.streams import tenant_of
from bobaku.kernel.web import franchise_scope

SILO = "fr-silo"


def test_the_tenant_is_read_from_the_subject_grammar() -> None:
    assert tenant_of("es.order.fr-jkt.ord-1") == "fr-jkt"
    assert tenant_of("es.loyalty.brand.cus-1") == "brand"
    assert tenant_of("events.fr-jkt.menu.price_changed") == "fr-jkt"
    assert tenant_of("events.brand.menu.item_changed") == "brand"
    assert tenant_of("deadletter.ES_ORDER.x") is None
    assert tenant_of("es.order") is None


@pytest.fixture
async def aggregate_stream(bus: EventBus) -> AsyncIterator[StreamSpec]:
    """A stream of aggregates of a kind of its own: ``es.<kind>.<tenant>.<key>``."""
    kind = f"t{secrets.token_hex(4)}"
    spec = StreamSpec(f"ES_{kind.upper()}", (f"es.{kind}.>",), duplicate_window_s=60)
    await bus.ensure_stream(spec)
    yield spec
    await bus.js.delete_stream(spec.name)


@pytest.fixture
async def routed(settings: Settings, bus: EventBus) -> AsyncIterator[Settings]:
    name = f"routing_t{secrets.token_hex(4)}"
    yield settings.model_copy(update={"routing_bucket": name})
    await bus.js.delete_key_value(name)


def entry(mode: str) -> Callable[[], Awaitable[Entry]]:
    async def compute() -> Entry:
        return {"mode": mode, "upstreams": {}, "updated_at": "1"}

    return compute


async def test_each_franchise_is_handled_by_its_silo_or_the_pooled_instance_never_both(
    bus: EventBus,
    routed: Settings,
    aggregate_stream: StreamSpec,
    order_created: Callable[..., Event],
) -> None:
    writer = RoutingEntries.from_settings(bus, routed)
    await writer.publish(routing_key(SILO), entry("silo"))
    tag = secrets.token_hex(3)
    pooled_settings = routed.model_copy(update={"deployment_id": f"t{tag}"})
    silo_settings = routed.model_copy(
        update={"deployment_id": f"t{tag}", "deployment_mode": "silo", "franchise_id": SILO}
    )
    pooled = EventBus(bus.nc, deployment_id=pooled_settings.instance_id, names=bus.names)
    silo = EventBus(bus.nc, deployment_id=silo_settings.instance_id, names=bus.names)
    assert pooled.deployment_id != silo.deployment_id  # a durable each, both see everything
    kind = aggregate_stream.subjects[0].split(".")[1]
    spec = ConsumerSpec(durable="scope", stream=aggregate_stream.name, ack_wait_s=5)
    handled: dict[str, list[str]] = {"pooled": [], "silo": []}

    async def by_pooled(event: Event, delivery: Delivery) -> None:
        handled["pooled"].append(delivery.subject)

    async def by_silo(messages: list[Message]) -> None:
        handled["silo"].extend(m.delivery.subject for m in messages)

    async with franchise_scope(pooled, pooled_settings), franchise_scope(silo, silo_settings):
        await pooled.consume(spec, by_pooled)
        await silo.consume_batches(spec, by_silo)  # both consumer kinds honour the scope
        subjects = [
            f"es.{kind}.fr-pooled.o1",
            f"es.{kind}.{SILO}.o2",
            f"es.{kind}.fr-other.o3",
            f"es.{kind}.brand.c4",
        ]
        for subject in subjects:
            await bus.publish(order_created(), subject)

        async def settled() -> bool:
            await asyncio.sleep(0.05)
            for b in (pooled, silo):
                info = await bus.js.consumer_info(aggregate_stream.name, f"{b.deployment_id}-scope")
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(settled)
        assert sorted(handled["pooled"]) == sorted(
            [f"es.{kind}.fr-pooled.o1", f"es.{kind}.fr-other.o3", f"es.{kind}.brand.c4"]
        )
        assert sorted(handled["silo"]) == sorted([f"es.{kind}.{SILO}.o2", f"es.{kind}.brand.c4"])

        # fr-other moves into a silo: from then on the pooled instance leaves it alone.
        await writer.publish(routing_key("fr-other"), entry("silo"))

        async def moved() -> bool:
            await asyncio.sleep(0.05)
            return pooled.scope is not None and not pooled.scope(f"es.{kind}.fr-other.x")

        await eventually(moved)
        await bus.publish(order_created(), f"es.{kind}.fr-other.o5")
        await bus.publish(order_created(), f"es.{kind}.fr-pooled.o6")
        sixth = f"es.{kind}.fr-pooled.o6"
        await eventually(lambda: asyncio.sleep(0, result=sixth in handled["pooled"]))
        await eventually(settled)
        assert f"es.{kind}.fr-other.o5" not in handled["pooled"]
        assert f"es.{kind}.fr-other.o5" not in handled["silo"]  # another franchise's silo
        await pooled.stop_consumers(grace_s=2)
        await silo.stop_consumers(grace_s=2)
