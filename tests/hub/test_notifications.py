"""In-app notifications: ``notification.requested`` events of the order path reach the
user's inbox channel as short messages in the user's language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from hub_testing import HubClient, HubProcess, Tokens, new_id

from bobaku.hub.notifications import render, rupiah, short_order
from bobaku.kernel.bus import EventBus
from bobaku.kernel.errors import EventSchemaError
from bobaku.kernel.events import new_event

Clients = Callable[..., Awaitable[HubClient]]


async def test_order_notifications_reach_the_inbox_in_the_users_language(
    hubs: tuple[HubProcess, HubProcess], clients: Clients, tokens: Tokens, bus: EventBus
) -> None:
    _, b = hubs
    franchise, user = new_id("fr"), new_id("u")
    channel = f"user:{user}:inbox"
    inbox = await clients(b, tokens.customer(user))
    assert "result" in await inbox.subscribe(channel)
    order_id = "ord-20261124-9f3a1c2b"
    for kind, language, extra in (
        ("order_accepted", "id", {}),
        ("order_ready", "en", {"outlet_name": "BobaKu Kemang"}),
        ("refund_done", "id", {"amount": 82000}),
    ):
        await bus.publish(
            new_event(
                "notification.requested",
                {
                    "user_id": user,
                    "kind": kind,
                    "order_id": order_id,
                    "language": language,
                    **extra,
                },
                source="order-service",
                tenant=franchise,
            )
        )
    messages = [p["data"] for p in await inbox.publications(3, channel)]
    assert [m["type"] for m in messages] == ["notification"] * 3
    assert [(m["data"]["title"], m["data"]["body"]) for m in messages] == [
        ("Pesanan diterima", "Pesanan #9F3A1C2B sedang disiapkan."),
        ("Ready for pickup", "Your order #9F3A1C2B is ready for pickup at BobaKu Kemang."),
        (
            "Pengembalian dana selesai",
            "Pengembalian dana sebesar Rp82.000 untuk pesanan #9F3A1C2B selesai.",
        ),
    ]
    assert messages[2]["data"]["amount"] == 82000
    assert all(m["data"]["order_id"] == order_id for m in messages)


async def test_a_notification_meant_only_for_other_channels_skips_the_inbox(
    hub_a: HubProcess, clients: Clients, tokens: Tokens, bus: EventBus
) -> None:
    user = new_id("u")
    channel = f"user:{user}:inbox"
    inbox = await clients(hub_a, tokens.customer(user))
    await inbox.subscribe(channel)
    base = {"user_id": user, "order_id": "ord-20261124-00000001", "language": "en"}
    await bus.publish(
        new_event(
            "notification.requested",
            {**base, "kind": "order_ready", "channels": ["push"]},
            source="order-service",
            tenant="fr-x",
        )
    )
    await bus.publish(
        new_event(
            "notification.requested",
            {**base, "kind": "order_accepted", "channels": ["push", "in_app"]},
            source="order-service",
            tenant="fr-x",
        )
    )
    (pub,) = await inbox.publications(1, channel)
    assert pub["data"]["data"]["kind"] == "order_accepted"


def test_the_schema_refuses_a_notification_without_a_language() -> None:
    from bobaku.kernel.events import default_registry

    event = new_event(
        "notification.requested",
        {"user_id": "u-1", "kind": "order_ready", "order_id": "ord-1"},
        source="order-service",
        tenant="fr-x",
    )
    with pytest.raises(EventSchemaError) as refused:
        default_registry().validate(event)
    assert refused.value.details["fields"][0]["problem"].startswith("'language'")


def test_rupiah_groups_thousands_the_way_each_language_writes_them() -> None:
    assert rupiah(82000, "id") == "Rp82.000"
    assert rupiah(1250000, "en") == "Rp1,250,000"
    assert short_order("ord-20261124-9f3a1c2b") == "#9F3A1C2B"


def test_an_unknown_kind_or_language_still_renders_a_message() -> None:
    message = render({"kind": "order_delayed", "order_id": "ord-1-ab", "language": "fr"})
    assert message["language"] == "id"
    assert message["title"] == "Kabar pesanan"
    assert message["body"] == "Ada kabar terbaru untuk pesanan #AB."
