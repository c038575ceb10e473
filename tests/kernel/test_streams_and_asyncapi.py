"""The stream catalog against real JetStream, and the AsyncAPI document made from it."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from support import eventually

from bobaku.kernel import streams
from bobaku.kernel.asyncapi import asyncapi_document
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus
from bobaku.kernel.events import Event, default_registry, new_event
from bobaku.kernel.eventstore import AggregateStore

EVENT_TYPES = sorted({t for t, _ in default_registry()})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_exactly_one_stream(event_type: str) -> None:
    carriers = [s for s in streams.CATALOG if s.carries_type(event_type)]
    assert [s.name for s in carriers] == [streams.stream_of(event_type).name]


def test_filters_name_real_subjects() -> None:
    assert streams.EVENTS.filter("notification.requested") == "events.*.notification.requested"
    assert streams.EVENTS.filter("menu.outlet_changed", "fr-a") == "events.fr-a.menu.outlet_changed"
    assert streams.EVENTS.family("menu") == "events.*.menu.>"
    assert streams.ORDER.filter("order.created") == "es.order.>"
    with pytest.raises(ValueError, match="does not carry"):
        streams.ORDER.filter("payment.captured")
    with pytest.raises(KeyError, match="no stream carries"):
        streams.stream_of("supply.unknown")


async def test_the_catalog_is_what_the_servers_hold(bus: EventBus) -> None:
    await streams.ensure_streams(bus, streams.ORDER, streams.PAYMENT, streams.EVENTS)
    for stream in (streams.ORDER, streams.PAYMENT, streams.EVENTS):
        info = await bus.js.stream_info(stream.name)
        assert list(info.config.subjects or []) == list(stream.spec.subjects)
    # The aggregate store writes where the catalog says.
    assert AggregateStore(bus, "order").spec == streams.ORDER.spec


async def test_an_integration_event_reaches_a_consumer_of_its_catalog_filter(
    bus: EventBus,
) -> None:
    tenant = f"fr-{secrets.token_hex(3)}"
    received: list[Event] = []

    async def handler(event: Event, _: Delivery) -> None:
        received.append(event)

    spec = ConsumerSpec(
        f"catalog-{tenant}",
        streams.EVENTS.name,
        (streams.EVENTS.filter("menu.outlet_changed", tenant),),
        deliver_new_only=True,
    )
    await bus.consume(spec, handler)
    event = new_event(
        "menu.outlet_changed",
        {"franchise_id": tenant, "outlet_id": "o-1", "change": "updated"},
        source="menu-service",
        tenant=tenant,
    )
    await bus.publish(event)

    async def arrived() -> bool:
        return [e.id for e in received] == [event.id]

    await eventually(arrived)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve (at {part})"
        node = node[part]
    return node


def test_the_asyncapi_document_covers_every_subject_and_schema() -> None:
    doc = asyncapi_document("9.9.9")
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["version"] == "9.9.9"
    for ref in _refs(doc):
        _resolve(doc, ref)
    messages = doc["components"]["messages"]
    assert set(EVENT_TYPES) <= set(messages)
    for event_type, version in default_registry():
        assert f"{event_type}.v{version}" in doc["components"]["schemas"]
    carried = {m for ch in doc["channels"].values() for m in ch["messages"]}
    assert set(EVENT_TYPES) <= carried
    for channel_id, channel in doc["channels"].items():
        params = set(re.findall(r"\{([a-z_]+)\}", channel["address"]))
        assert params == set(channel["parameters"]), channel_id
        assert f"publish.{channel_id}" in doc["operations"]
        assert doc["operations"][f"publish.{channel_id}"]["action"] == "send"
    registered = doc["channels"]["EVENTS.customer.registered"]
    assert registered["address"] == "events.{tenant}.customer.registered"
    assert doc["channels"]["ES_PAYMENT"]["address"] == "es.payment.{tenant}.{intent_id}"
    payload = messages["order.created"]["payload"]["allOf"][1]["properties"]
    assert _resolve(doc, payload["data"]["$ref"])["title"].startswith("order.created")
