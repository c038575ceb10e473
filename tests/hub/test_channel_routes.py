"""Which channels each source event feeds (plain functions, no servers)."""

from __future__ import annotations

import json

from bobaku.hub.channel_routes import routes_for
from bobaku.hub.channels import UnknownChannel, channel_of_subject, parse_channel
from bobaku.kernel.events import new_event


def _names(
    event_type: str, data: dict[str, object], subject: str, tenant: str = "fr-jkt"
) -> list[str]:
    event = new_event(event_type, data, source="test", tenant=tenant)
    return [r.channel.name for r in routes_for(event, subject)]


def test_an_order_event_feeds_its_order_its_kitchen_and_its_franchise_operations() -> None:
    data = {"order_id": "ord-1", "outlet_id": "outlet-23", "customer_id": "u-1"}
    assert _names("order.ready", data, "es.order.fr-jkt.ord-1") == [
        "order:ord-1",
        "outlet:outlet-23:kitchen",
        "franchise:fr-jkt:ops",
    ]


def test_an_order_event_without_an_outlet_skips_the_kitchen() -> None:
    assert _names("order.refunded", {"order_id": "ord-1"}, "es.order.fr-jkt.ord-1") == [
        "order:ord-1",
        "franchise:fr-jkt:ops",
    ]


def test_a_payment_event_feeds_only_the_franchise_operations() -> None:
    data = {"intent_id": "pay-1", "order_id": "ord-1", "outlet_id": "outlet-23"}
    assert _names("payment.captured", data, "es.payment.fr-jkt.pay-1") == ["franchise:fr-jkt:ops"]


def test_figures_moved_feeds_the_franchise_operations_and_each_outlet_kitchen() -> None:
    data = {
        "franchise_id": "fr-jkt", "outlet_ids": ["outlet-23", "outlet>9"], "order_ids": ["o1"],
        "moved_at": "2026-12-02T03:00:00Z",
    }  # fmt: skip
    subject = "events.fr-jkt.analytics.figures_moved"
    assert _names("analytics.figures_moved", data, subject) == [
        "franchise:fr-jkt:ops",
        "outlet:outlet-23:kitchen",
    ]
    # Another franchise's event never lands on this one's feed.
    other = {**data, "franchise_id": "fr-bdg"}
    assert _names("analytics.figures_moved", other, subject, tenant="fr-bdg")[0] == (
        "franchise:fr-bdg:ops"
    )


def test_ids_that_cannot_name_a_channel_are_skipped_not_guessed() -> None:
    data = {"order_id": "ord.1", "outlet_id": "outlet>23"}
    assert _names("order.ready", data, "es.order.fr-jkt.x") == ["franchise:fr-jkt:ops"]


def test_other_events_feed_no_channel() -> None:
    assert (
        _names("menu.price_changed", {"item_id": "m001"}, "events.fr-jkt.menu.price_changed") == []
    )


def test_a_publication_is_the_compact_event_and_its_id_names_event_and_channel() -> None:
    event = new_event(
        "order.ready", {"order_id": "o1", "outlet_id": "x1"}, source="order-service", tenant="fr-a"
    )
    route = routes_for(event, "es.order.fr-a.o1")[0]
    body = json.loads(route.body)
    assert body == {
        "id": event.id,
        "type": "order.ready",
        "timestamp": body["timestamp"],
        "tenant": "fr-a",
        "data": {"order_id": "o1", "outlet_id": "x1"},
    }
    assert body["timestamp"].endswith("Z")
    assert route.msg_id == f"{event.id}|order:o1"


def test_channel_names_and_subjects_map_one_to_one() -> None:
    for name in (
        "order:ord-1",
        "outlet:outlet-23:kitchen",
        "franchise:fr-jkt:ops",
        "user:u-1:inbox",
    ):
        channel = parse_channel(name)
        assert channel.name == name
        assert channel_of_subject(channel.subject("hub"), "hub") == channel
    for bad in ("order:", "order:a b", "outlet:o1", "user:*:inbox", "franchise:a.b:ops"):
        try:
            parse_channel(bad)
        except UnknownChannel:
            continue
        raise AssertionError(f"{bad!r} was accepted")
