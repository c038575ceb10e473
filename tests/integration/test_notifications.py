"""The notification service on the whole platform: real NATS, Redis, FerretDB, Mailpit, the
push simulators, and the real order path through the gateway."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from mailpit_testkit import Mailpit
from support import RunningPlatform, call, eventually

from bobaku.hub.notifications import render as hub_render
from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus, read_dead_letters
from bobaku.kernel.events import Event, new_event

ITEM = {
    "menu_id": "m001",
    "quantity": 1,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": []},
}
ENGLISH = {
    "order_accepted": "Order accepted",
    "order_ready": "Ready for pickup",
    "points_earned": "Points earned",
    "reward_expiring": "Your reward expires soon",
}


async def register(
    http: aiohttp.ClientSession, gw: str, language: str = "en"
) -> tuple[str, str, str]:
    email = f"ntf-{secrets.token_hex(5)}@example.com"
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/register",
        json={"email": email, "password": "boba-lover-99", "name": "Dewi", "language": language},
    )  # fmt: skip
    assert status == 201, body
    return body["data"]["tokens"]["access_token"], body["data"]["user"]["id"], email


def fcm_token() -> str:
    return "fcm:" + secrets.token_urlsafe(24)


def apns_token() -> str:
    return secrets.token_hex(32)


async def add_device(
    http: aiohttp.ClientSession, gw: str, token: str, device: str, platform: str = "fcm"
) -> Any:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/notifications/devices", token,
        json={"token": device, "platform": platform},
    )  # fmt: skip
    assert status == 201, body
    return body["data"]


async def inbox(http: aiohttp.ClientSession, gw: str, token: str) -> list[dict[str, Any]]:
    status, body = await call(http, "GET", f"{gw}/api/v1/notifications?limit=50", token)
    assert status == 200, body
    return list(body["data"]["items"])


async def of_kind(
    http: aiohttp.ClientSession, gw: str, token: str, kind: str, count: int = 1
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        found = [n for n in await inbox(http, gw, token) if n["kind"] == kind]
        return found if len(found) >= count else []

    return await eventually(probe, timeout=40, interval=0.3)


async def settled(
    http: aiohttp.ClientSession, gw: str, token: str, nid: str, **channels: str
) -> dict[str, Any]:
    """Wait until each named channel of the notification has the given status."""

    async def probe() -> dict[str, Any] | None:
        status, body = await call(http, "GET", f"{gw}/api/v1/notifications/{nid}", token)
        assert status == 200, body
        view = body["data"]
        ok = all(view["channels"][c]["status"] == s for c, s in channels.items())
        return view if ok else None

    return await eventually(probe, timeout=40, interval=0.3)


async def pushes(
    http: aiohttp.ClientSession, platform: RunningPlatform, device: str
) -> dict[str, list[dict[str, Any]]]:
    status, body = await call(
        http, "GET", f"{platform.url('push-sim')}/_control/sent", params={"token": device}
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def place_and_pay(http: aiohttp.ClientSession, platform: RunningPlatform, token: str) -> str:
    gw = platform.gateway
    await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/gopay/next",
        json={"outcome": "success", "delay_s": 0.2},
    )  # fmt: skip
    status, placed = await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json={"outlet_id": "outlet-01", "items": [ITEM], "payment_method": "gopay"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    order_id: str = placed["data"]["id"]

    async def preparing() -> bool:
        _, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        return bool(body["data"]["order"]["status"]["current"] == "being_prepared")

    await eventually(preparing, timeout=40, interval=0.3)
    return order_id


def barista(issuer: TokenIssuer, user: str = "u-barista-ntf") -> str:
    return issuer.issue(user, [Role.STAFF], franchise_id="fr-jakarta", outlet_ids=["outlet-01"])


async def kitchen(
    http: aiohttp.ClientSession, gw: str, issuer: TokenIssuer, order_id: str, action: str
) -> None:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{order_id}/{action}", barista(issuer)
    )
    assert status == 200, body


def reward_expiring(user_id: str, reward: str = "Free Topping") -> Event:
    expires = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    return new_event(
        "loyalty.reward_expiring",
        {"customer_id": user_id, "reward_id": "r-topping", "reward_name": reward,
         "expires_at": expires},
        source="customer-service",
    )  # fmt: skip


@pytest.fixture
async def in_app_requests(bus: EventBus) -> AsyncIterator[list[Event]]:
    """Every ``notification.requested`` published while the test runs (the hub's input)."""
    seen: list[Event] = []

    async def on(msg: Any) -> None:
        seen.append(Event.from_json(msg.data))

    sub = await bus.nc.subscribe("events.*.notification.requested", cb=on)
    yield seen
    await sub.unsubscribe()


async def test_an_orders_journey_tells_the_customer_once_per_step_and_channel_in_their_language(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    token_issuer: TokenIssuer,
    mailpit: Mailpit,
    in_app_requests: list[Event],
) -> None:
    gw = platform.gateway
    token, user_id, email = await register(http, gw, language="en")
    device = fcm_token()
    await add_device(http, gw, token, device)
    # Points are welcome in the app and on the phone, not by email.
    status, body = await call(
        http, "PUT", f"{gw}/api/v1/notifications/preferences", token,
        json={"kinds": {"points_earned": {"email": False}}},
    )  # fmt: skip
    assert status == 200, body
    # The barista on shift wants to hear when no kitchen display is watching.
    staff_token = barista(token_issuer, f"u-barista-{secrets.token_hex(3)}")
    status, body = await call(
        http, "PUT", f"{gw}/api/v1/notifications/subscriptions/me", staff_token
    )
    assert status == 200, body

    order_id = await place_and_pay(http, platform, token)
    await of_kind(http, gw, token, "order_accepted")
    await kitchen(http, gw, token_issuer, order_id, "bump")
    await of_kind(http, gw, token, "order_ready")
    await kitchen(http, gw, token_issuer, order_id, "complete")
    await of_kind(http, gw, token, "points_earned")

    expected = {"order_accepted": True, "order_ready": True, "points_earned": False}
    notes = await inbox(http, gw, token)
    for kind, by_email in expected.items():
        [note] = [n for n in notes if n["kind"] == kind]
        assert note["language"] == "en"
        assert note["title"] == ENGLISH[kind]
        assert note["order_id"] == order_id
        await settled(
            http, gw, token, note["id"],
            in_app="sent", email="sent" if by_email else "suppressed", push="delivered",
        )  # fmt: skip

    mails = await mailpit.messages_to(email)
    assert sorted(m["Subject"] for m in mails) == ["Order accepted", "Ready for pickup"]
    sent = await pushes(http, platform, device)
    titles = [p["payload"]["notification"]["title"] for p in sent["sent"]]
    assert sorted(titles) == ["Order accepted", "Points earned", "Ready for pickup"]

    # In-app: the same words the order service's notifier produced for these steps.
    mine = [e for e in in_app_requests if e.data["user_id"] == user_id and e.version == "1.1"]
    assert sorted(e.data["kind"] for e in mine) == sorted(expected)
    for event in mine:
        if event.data["kind"] in ("order_accepted", "order_ready"):
            legacy = hub_render({k: event.data[k] for k in ("kind", "order_id", "language")})
            assert (event.data["title"], event.data["body"]) == (legacy["title"], legacy["body"])

    # No kitchen display was online: the barista heard about the new order, once.
    staff_notes = await of_kind(http, gw, staff_token, "kitchen_offline_order")
    assert [n["order_id"] for n in staff_notes] == [order_id]
    assert staff_notes[0]["language"] == "id"  # no account: the brand's language


async def test_the_email_is_html_and_text_with_message_id_and_a_working_unsubscribe_link(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus, mailpit: Mailpit
) -> None:
    gw = platform.gateway
    token, user_id, email = await register(http, gw, language="id")
    await bus.publish(reward_expiring(user_id, "Gratis <Topping> & Teh"))
    [note] = await of_kind(http, gw, token, "reward_expiring")
    await settled(http, gw, token, note["id"], email="sent")
    [summary] = await mailpit.messages_to(email)
    message = await mailpit.message(summary["ID"])
    assert message["Subject"] == "Hadiah segera kedaluwarsa"
    assert message["MessageID"] == f"{note['id']}@notify.bobaku.id"
    assert "Gratis <Topping> & Teh" in message["Text"]
    assert "Gratis &lt;Topping&gt; &amp; Teh" in message["HTML"]
    link = message["Headers"]["List-Unsubscribe"][0].strip("<>")
    assert message["Headers"]["List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]

    # The link works without logging in, and only as signed.
    path = urlsplit(link)
    status, body = await call(http, "GET", f"{gw}{path.path}?{path.query}xx")
    assert status == 422
    assert body["error"]["details"]["fields"][0]["field"] == "token"
    status, body = await call(http, "POST", f"{gw}{path.path}?{path.query}")
    assert status == 200, body
    _, prefs = await call(http, "GET", f"{gw}/api/v1/notifications/preferences", token)
    assert prefs["data"]["kinds"] == {"reward_expiring": {"email": False}}

    await bus.publish(reward_expiring(user_id, "Diskon 10%"))
    later = await of_kind(http, gw, token, "reward_expiring", count=2)
    newest = await settled(http, gw, token, later[0]["id"], email="suppressed", in_app="sent")
    assert newest["channels"]["email"]["reason"] == "opted out"
    assert len(await mailpit.messages_to(email)) == 1


async def test_a_redelivered_event_sends_nothing_twice(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus, mailpit: Mailpit
) -> None:
    gw = platform.gateway
    token, user_id, email = await register(http, gw)
    device = fcm_token()
    await add_device(http, gw, token, device)
    event = reward_expiring(user_id)
    await bus.publish(event)
    [note] = await of_kind(http, gw, token, "reward_expiring")
    await settled(http, gw, token, note["id"], in_app="sent", email="sent", push="delivered")
    # The same event again, as JetStream redelivers it (another message id, so the
    # server's own duplicate window does not hide it), and once more much later.
    for copy in ("redelivery-1", "redelivery-2"):
        await bus.js.publish(
            f"events.brand.{event.type}", event.to_json(), headers={"Nats-Msg-Id": copy}
        )
    # A marker event after the copies: once it is handled, the copies were too.
    await bus.publish(reward_expiring(user_id, "Marker"))
    await of_kind(http, gw, token, "reward_expiring", count=2)
    assert [n["title"] for n in await inbox(http, gw, token)].count(ENGLISH["reward_expiring"]) == 2
    bodies = [n["body"] for n in await inbox(http, gw, token)]
    assert sum("Free Topping" in b for b in bodies) == 1
    marker = next(n for n in await inbox(http, gw, token) if "Marker" in n["body"])
    await settled(http, gw, token, marker["id"], email="sent", push="delivered")
    assert len(await mailpit.messages_to(email)) == 2
    assert len((await pushes(http, platform, device))["sent"]) == 2


async def test_quiet_hours_defer_a_promotion_but_not_a_ready_for_pickup(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    bus: EventBus,
    token_issuer: TokenIssuer,
    mailpit: Mailpit,
) -> None:
    gw = platform.gateway
    token, user_id, email = await register(http, gw)
    # Quiet for the next two hours of the user's own clock (Makassar, UTC+8).
    now = datetime.now(UTC) + timedelta(hours=8)
    start, end = (now - timedelta(minutes=5)), (now + timedelta(hours=2))
    status, body = await call(
        http, "PUT", f"{gw}/api/v1/notifications/preferences", token,
        json={"time_zone": "Asia/Makassar",
              "quiet_hours": {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}},
    )  # fmt: skip
    assert status == 200, body
    await bus.publish(reward_expiring(user_id))
    order_id = await place_and_pay(http, platform, token)
    await kitchen(http, gw, token_issuer, order_id, "bump")
    [ready] = await of_kind(http, gw, token, "order_ready")
    await settled(http, gw, token, ready["id"], email="sent", in_app="sent")
    [promo] = await of_kind(http, gw, token, "reward_expiring")
    view = await settled(http, gw, token, promo["id"], email="queued", in_app="queued")
    deferred = datetime.fromisoformat(view["channels"]["email"]["deferred_until"])
    assert deferred > datetime.now(UTC) + timedelta(minutes=100)
    assert view["status"] == "queued"
    subjects = [m["Subject"] for m in await mailpit.messages_to(email)]
    assert "Ready for pickup" in subjects
    assert "Your reward expires soon" not in subjects


async def test_an_unregistered_token_is_removed_and_the_others_still_get_the_push(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus
) -> None:
    gw = platform.gateway
    token, user_id, _ = await register(http, gw)
    gone, phone = fcm_token(), apns_token()
    await add_device(http, gw, token, gone, "fcm")
    listed = await add_device(http, gw, token, phone, "apns")
    assert len(listed["items"]) == 2
    status, _ = await call(
        http, "POST", f"{platform.url('push-sim')}/_control/tokens/{gone}/unregister"
    )
    assert status == 200
    await bus.publish(reward_expiring(user_id))
    [note] = await of_kind(http, gw, token, "reward_expiring")
    await settled(http, gw, token, note["id"], push="delivered")
    _, devices = await call(http, "GET", f"{gw}/api/v1/notifications/devices", token)
    assert [d["platform"] for d in devices["data"]["items"]] == ["apns"]
    assert len((await pushes(http, platform, phone))["sent"]) == 1
    assert (await pushes(http, platform, gone))["sent"] == []


async def test_a_rate_limited_push_is_retried_after_retry_after(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus
) -> None:
    gw = platform.gateway
    token, user_id, _ = await register(http, gw)
    device = fcm_token()
    await add_device(http, gw, token, device)
    status, _ = await call(
        http, "POST", f"{platform.url('push-sim')}/_control/next",
        json={"status": 429, "retry_after": 2, "count": 1},
    )  # fmt: skip
    assert status == 201
    await bus.publish(reward_expiring(user_id))
    [note] = await of_kind(http, gw, token, "reward_expiring")
    view = await settled(http, gw, token, note["id"], push="delivered")
    assert view["channels"]["push"]["attempts"] == 2
    log = await pushes(http, platform, device)
    first, second = log["attempts"][0]["at"], log["attempts"][1]["at"]
    assert len(log["attempts"]) == 2
    assert len(log["sent"]) == 1
    assert second - first >= 2.0  # not before the provider said so


async def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    gw = platform.gateway
    token, _, _ = await register(http, gw)
    other_token, other_id, _ = await register(http, gw)
    url = f"{gw}/api/v1/notifications/preferences"
    for body, field in (
        ({"email": "dewi.example.com"}, "email"),
        ({"language": "fr"}, "language"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"kinds": {"spam": {"email": True}}}, "kinds"),
    ):
        status, reply = await call(http, "PUT", url, token, json=body)
        assert status == 422, reply
        assert field in [f["field"] for f in reply["error"]["details"]["fields"]], reply
    _, prefs = await call(http, "GET", url, token)
    assert prefs["data"]["email"] is None
    assert prefs["data"]["language"] is None

    devices = f"{gw}/api/v1/notifications/devices"
    status, reply = await call(
        http, "POST", devices, token,
        json={"token": fcm_token(), "platform": "fcm", "user_id": other_id},
    )  # fmt: skip
    assert status == 403, reply
    assert reply["error"]["details"]["fields"][0]["field"] == "user_id"
    theirs = fcm_token()
    await add_device(http, gw, other_token, theirs)
    status, reply = await call(
        http, "POST", devices, token, json={"token": theirs, "platform": "fcm"}
    )
    assert status == 403, reply
    assert reply["error"]["details"]["fields"][0]["field"] == "token"
    status, reply = await call(http, "POST", devices, token, json={"token": "x", "platform": "sms"})
    assert status == 422
    assert {f["field"] for f in reply["error"]["details"]["fields"]} == {"token", "platform"}
    _, mine = await call(http, "GET", devices, token)
    assert mine["data"]["items"] == []


async def test_managers_hear_of_low_stock_once(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus,
    token_issuer: TokenIssuer,
) -> None:  # fmt: skip
    gw = platform.gateway
    manager = token_issuer.issue(
        f"u-mgr-{secrets.token_hex(3)}", [Role.OUTLET_MANAGER],
        franchise_id="fr-jakarta", outlet_ids=["outlet-02"],
    )  # fmt: skip
    status, body = await call(http, "PUT", f"{gw}/api/v1/notifications/subscriptions/me", manager)
    assert status == 200, body
    # supply.stock_low is the supply service's (schema designed there): accepted as it comes.
    event = {
        "id": f"evt-{secrets.token_hex(8)}", "type": "supply.stock_low", "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "supply-service", "tenant": "fr-jakarta",
        "data": {"outlet_id": "outlet-02", "ingredient_id": "tapioca-pearls",
                 "ingredient_name": "Tapioca pearls", "available": 2, "unit": "kg"},
        "metadata": {"correlation_id": "c-1", "trace_id": "t-1"},
    }  # fmt: skip
    raw = json.dumps(event).encode()
    for copy in ("a", "b"):
        await bus.js.publish(
            "events.fr-jakarta.supply.stock_low", raw, headers={"Nats-Msg-Id": event["id"] + copy}
        )
    [note] = await of_kind(http, gw, manager, "stock_low")
    assert note["body"] == "Stok Tapioca pearls di outlet-02 tinggal 2 kg."
    await asyncio.sleep(0)  # the copy went through the same consumer, in order
    assert len([n for n in await inbox(http, gw, manager) if n["kind"] == "stock_low"]) == 1


async def test_smtp_down_is_retried_and_delivered_when_back_without_holding_up_push(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus, mailpit: Mailpit
) -> None:
    gw = platform.gateway
    token, user_id, email = await register(http, gw)
    device = fcm_token()
    await add_device(http, gw, token, device)
    await mailpit.stop()
    try:
        await bus.publish(reward_expiring(user_id))
        [note] = await of_kind(http, gw, token, "reward_expiring")
        # Push and in-app are done while email keeps failing.
        await settled(http, gw, token, note["id"], push="delivered", in_app="sent")

        async def failing() -> dict[str, Any] | None:
            view = await settled(http, gw, token, note["id"], email="queued")
            email_state = view["channels"]["email"]
            return view if email_state["attempts"] >= 2 and "SMTP" in email_state["error"] else None

        await eventually(failing, timeout=30, interval=0.3)
    finally:
        await mailpit.start()
    view = await settled(http, gw, token, note["id"], email="sent")
    assert view["channels"]["email"]["error"] is None
    [mail] = await eventually(lambda: mailpit.messages_to(email), timeout=20)
    assert mail["Subject"] == "Your reward expires soon"


async def test_after_the_last_try_the_channel_fails_with_its_reason_in_the_dead_letters(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus
) -> None:
    gw = platform.gateway
    token, user_id, _ = await register(http, gw)
    device = fcm_token()
    await add_device(http, gw, token, device)
    # The provider is down for longer than the push channel tries (PUSH_TRIES, default 6).
    status, _ = await call(
        http, "POST", f"{platform.url('push-sim')}/_control/next",
        json={"status": 503, "count": 6},
    )  # fmt: skip
    assert status == 201
    await bus.publish(reward_expiring(user_id))
    [note] = await of_kind(http, gw, token, "reward_expiring")
    view = await settled(http, gw, token, note["id"], push="failed", email="sent")
    assert view["channels"]["push"]["attempts"] == 6
    assert "503" in view["channels"]["push"]["error"]
    assert view["status"] == "sent"  # the other channels got through

    async def dead_letter() -> Any:
        consumer = f"{platform.envs['notification']['DEPLOYMENT_ID']}-notification-push"
        for letter in await read_dead_letters(bus, consumer, limit=1000):
            if json.loads(letter["data"])["data"]["notification_id"] == note["id"]:
                return letter
        return None

    letter = await eventually(dead_letter, timeout=10)
    assert "push failed after 6 tries" in letter["headers"]["Bobaku-Dlq-Reason"]


async def test_owners_hear_once_when_a_payment_provider_keeps_failing(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    owner = token_issuer.issue(
        f"u-owner-{secrets.token_hex(3)}", [Role.FRANCHISE_OWNER], franchise_id="fr-bandung"
    )
    status, body = await call(http, "PUT", f"{gw}/api/v1/notifications/subscriptions/me", owner)
    assert status == 200, body
    token, _, _ = await register(http, gw)

    async def alerts() -> list[dict[str, Any]]:
        return [n for n in await inbox(http, gw, owner) if n["kind"] == "provider_failing"]

    # Fail payments until the owner hears (3 in the 20 s window; failures other tests
    # caused may have fired an alert just before, which holds the next back for a window).
    for _ in range(12):
        await call(
            http, "POST", f"{platform.url('provider-sim')}/_control/shopeepay/next",
            json={"outcome": "failure", "delay_s": 0.1},
        )  # fmt: skip
        status, placed = await call(
            http, "POST", f"{gw}/api/v1/orders", token,
            json={"outlet_id": "outlet-04", "items": [ITEM], "payment_method": "shopeepay"},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )  # fmt: skip
        assert status == 201, placed
        order_id = placed["data"]["id"]

        async def cancelled(order_id: str = order_id) -> bool:
            _, view = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
            return bool(view["data"]["order"]["status"]["current"] == "cancelled")

        await eventually(cancelled, timeout=40, interval=0.3)
        if await alerts():
            break
    [alert] = await alerts()
    assert alert["body"].startswith("3 pembayaran shopeepay gagal")
    assert alert["tenant"] == "fr-bandung"
