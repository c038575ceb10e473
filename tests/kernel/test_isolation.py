"""Two deployments side by side on one NATS server (kernel/names.py): an event, an
aggregate, a key-value entry or a dead letter of one is never seen by the other, and each
still works on its own."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError
from pydantic import ValidationError
from support import delete_deployment, eventually

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec, Delivery, EventBus, Reject, read_dead_letters
from bobaku.kernel.events import Event, SchemaRegistry, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.names import names_for
from bobaku.kernel.routing_table import RoutingEntries, routing_key
from bobaku.kernel.settings import Settings

TYPE = "notification.requested"
ORDER_TYPE = "order.created"


def registry() -> SchemaRegistry:
    reg = SchemaRegistry()
    for event_type in (TYPE, ORDER_TYPE):
        reg.register(event_type, "1.0", {"type": "object"})
    return reg


@pytest.fixture
async def pair(bus: EventBus) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """Deployments A and B on the suite's NATS connection, each with its own names."""
    run = secrets.token_hex(3)
    a = EventBus(bus.nc, registry(), deployment_id=f"isoa{run}")
    b = EventBus(bus.nc, registry(), deployment_id=f"isob{run}")
    for one in (a, b):
        for spec in (streams.EVENTS.spec, streams.DEAD_LETTERS.spec):
            await one.ensure_stream(spec)
    yield a, b
    for one in (a, b):
        await one.stop_consumers(grace_s=2)
        await delete_deployment(bus.js, one.names)


def event(tenant: str = "fr-iso", **data: str) -> Event:
    return new_event(TYPE, dict(data), source="iso-test", tenant=tenant)


def test_the_default_deployment_keeps_todays_names_and_others_are_prefixed() -> None:
    default, other = names_for("bobaku"), names_for("bench-1")
    assert not default.isolated
    assert (default.stream("ES_ORDER"), default.subject("es.order.>")) == ("ES_ORDER", "es.order.>")
    assert default.bucket("hub_presence") == "hub_presence"
    assert other.stream("ES_ORDER") == "bench-1_ES_ORDER"
    assert other.subject("events.fr-1.menu.x") == "bench-1.events.fr-1.menu.x"
    assert other.bucket("bobaku_routing") == "bench-1_bobaku_routing"
    assert other.local_subject(other.subject("es.order.fr-1.o-1")) == "es.order.fr-1.o-1"
    assert other.local_stream(other.stream("EVENTS")) == "EVENTS"
    # NATS's own subjects are never prefixed.
    assert other.subject("$KV.x.y") == "$KV.x.y"


@pytest.mark.parametrize("deployment", ["es", "events", "deadletter", "hub"])
def test_a_deployment_named_like_a_subject_root_is_refused(deployment: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        names_for(deployment)
    with pytest.raises(ValidationError, match="reserved"):
        Settings(deployment_id=deployment)


async def test_events_of_one_deployment_reach_only_its_own_consumers(
    pair: tuple[EventBus, EventBus],
) -> None:
    a, b = pair
    got: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    done = {"a": asyncio.Event(), "b": asyncio.Event()}

    def handler(side: str) -> object:
        async def handle(e: Event, delivery: Delivery) -> None:
            got[side].append((e.id, delivery.subject))
            if e.data.get("last"):
                done[side].set()

        return handle

    # The same logical consumer, stream and filter in both deployments.
    spec = ConsumerSpec("isolation", streams.EVENTS.name, (streams.EVENTS.filter(TYPE),))
    await a.consume(spec, handler("a"))  # type: ignore[arg-type]
    await b.consume(spec, handler("b"))  # type: ignore[arg-type]
    sent_a = [event(n="1"), event(n="2"), event(n="3", last="yes")]
    sent_b = [event(n="1"), event(n="2", last="yes")]
    for one in sent_a:
        await a.publish(one)
    for one in sent_b:
        await b.publish(one)
    await asyncio.wait_for(asyncio.gather(done["a"].wait(), done["b"].wait()), 15)
    # Each consumer saw its deployment's events, in order, under their logical subject.
    assert got["a"] == [(e.id, f"events.fr-iso.{TYPE}") for e in sent_a]
    assert got["b"] == [(e.id, f"events.fr-iso.{TYPE}") for e in sent_b]
    # And the streams hold nothing of the other's (the whole of each, not a sample).
    for one, sent in ((a, sent_a), (b, sent_b)):
        info = await one.stream_info(streams.EVENTS.name)
        assert info.config.name == one.names.stream("EVENTS")
        assert info.state.messages == len(sent)


async def test_aggregates_of_the_same_subject_do_not_cross(
    pair: tuple[EventBus, EventBus],
) -> None:
    a, b = pair
    orders_a, orders_b = AggregateStore(a, "order"), AggregateStore(b, "order")
    for store in (orders_a, orders_b):
        await store.start()
    subject = orders_a.subject("fr-iso", f"o-{secrets.token_hex(4)}")
    assert subject == orders_b.subject("fr-iso", subject.rsplit(".", 1)[1])
    first = new_event(ORDER_TYPE, {"who": "a"}, source="iso-test", tenant="fr-iso")
    await orders_a.append(subject, [first], 0)
    assert await orders_b.last_seq(subject) == 0
    assert (await orders_b.load(subject)).events == []
    # B's writer, at sequence 0, is not refused by A's history: they are different streams.
    second = new_event(ORDER_TYPE, {"who": "b"}, source="iso-test", tenant="fr-iso")
    await orders_b.append(subject, [second], 0)
    assert [e.id for e in (await orders_a.load(subject)).events] == [first.id]
    assert [e.id for e in (await orders_b.load(subject)).events] == [second.id]


async def test_key_value_entries_and_routing_do_not_cross(
    pair: tuple[EventBus, EventBus],
) -> None:
    a, b = pair
    config = KeyValueConfig(bucket="iso_test", history=1)
    kv_a, kv_b = await a.key_value(config), await b.key_value(config)
    await kv_a.put("k", b"from-a")
    with pytest.raises(KeyNotFoundError):
        await kv_b.get("k")
    await kv_b.put("k", b"from-b")
    assert (await kv_a.get("k")).value == b"from-a"
    assert (await kv_b.get("k")).value == b"from-b"

    routes_a, routes_b = RoutingEntries(a, "iso_routing"), RoutingEntries(b, "iso_routing")
    key = routing_key("fr-iso")

    async def entry() -> dict[str, str]:
        return {"upstream": "http://a.example"}

    assert await routes_a.publish(key, entry)
    assert await routes_b.get(key) is None
    assert await routes_a.get(key) == {"upstream": "http://a.example"}


async def test_dead_letters_stay_in_their_deployment(pair: tuple[EventBus, EventBus]) -> None:
    a, b = pair
    rejected = asyncio.Event()

    async def refuse(e: Event, delivery: Delivery) -> None:
        rejected.set()
        raise Reject("not for this test")

    spec = ConsumerSpec("iso-dlq", streams.EVENTS.name, (streams.EVENTS.filter(TYPE),))
    await a.consume(spec, refuse)
    bad = event(n="bad")
    await a.publish(bad)
    await asyncio.wait_for(rejected.wait(), 15)

    letters = await eventually(lambda: read_dead_letters(a, f"{a.deployment_id}-iso-dlq"))
    assert [Event.from_json(d["data"]).id for d in letters] == [bad.id]  # type: ignore[arg-type]
    assert letters[0]["headers"]["Bobaku-Dlq-Subject"] == f"events.fr-iso.{TYPE}"  # type: ignore[index]
    assert await read_dead_letters(b) == []


ROOT = Path(__file__).resolve().parents[2]
# A call that names a stream, subject or bucket to NATS itself, around the bus's mapping.
RAW_CALL = re.compile(
    r"\.(js\.(publish|get_msg|get_last_msg|stream_info|add_stream|update_stream|delete_stream"
    r"|add_consumer|delete_consumer|pull_subscribe|subscribe|key_value|create_key_value)"
    r"|nc\.(subscribe|publish|request))\("
)


def test_no_component_names_a_stream_or_subject_around_the_bus() -> None:
    """Every stream, subject and bucket a component hands NATS directly is derived by
    ``bus.names`` (on the same or a nearby line): a hand-built name would be the same in
    every deployment, and two platforms would meet on it."""
    unmapped = []
    for folder in ("kernel", "services", "hub", "operator"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            # The mapping itself, and the standing pull: the bus hands it the mapped stream
            # and durable, and it subscribes to a fresh inbox of its own connection.
            if path in (ROOT / "kernel" / "bus.py", ROOT / "kernel" / "pull.py"):
                continue
            lines = path.read_text().splitlines()
            for n, line in enumerate(lines):
                if RAW_CALL.search(line) and "names." not in "".join(lines[max(0, n - 3) : n + 4]):
                    unmapped.append(f"{path.relative_to(ROOT)}:{n + 1}: {line.strip()}")
    assert unmapped == []
