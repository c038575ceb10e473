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
from nats.js.errors import NoKeysError
from support import ARTIFACTS, RunningPlatform, call, eventually

from bobaku.hub.notifications import render as hub_render
from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus, read_dead_letters
from bobaku.kernel.events import Event, new_event
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.domain.events import PointsEarned

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


async def place_and_pay(
    http: aiohttp.ClientSession,
    platform: RunningPlatform,
    token: str,
    outlet: str = "outlet-01",
    items: list[dict[str, Any]] | None = None,
) -> str:
    gw = platform.gateway
    await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/gopay/next",
        json={"outcome": "success", "delay_s": 0.2},
    )  # fmt: skip
    status, placed = await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json={"outlet_id": outlet, "items": items or [ITEM], "payment_method": "gopay"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    order_id: str = placed["data"]["id"]

    async def preparing() -> bool:
        _, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        return bool(body["data"]["order"]["status"]["current"] == "being_prepared")

    await eventually(preparing, timeout=40, interval=0.3)
    return order_id


FRANCHISE_OF = {"outlet-01": "fr-jakarta", "outlet-02": "fr-jakarta", "outlet-03": "fr-jakarta",
                "outlet-04": "fr-bandung", "outlet-05": "fr-bandung"}  # fmt: skip


def barista(issuer: TokenIssuer, user: str = "u-barista-ntf", outlet: str = "outlet-01") -> str:
    return issuer.issue(user, [Role.STAFF], franchise_id=FRANCHISE_OF[outlet], outlet_ids=[outlet])


def manager(issuer: TokenIssuer, outlet: str) -> str:
    return issuer.issue(
        f"u-mgr-{secrets.token_hex(3)}", [Role.OUTLET_MANAGER],
        franchise_id=FRANCHISE_OF[outlet], outlet_ids=[outlet],
    )  # fmt: skip


def owner(issuer: TokenIssuer, franchise: str) -> str:
    return issuer.issue(
        f"u-owner-{secrets.token_hex(3)}", [Role.FRANCHISE_OWNER], franchise_id=franchise
    )


async def subscribe(http: aiohttp.ClientSession, gw: str, token: str) -> None:
    """Staff, managers and owners ask for their alerts (their token says where)."""
    status, body = await call(http, "PUT", f"{gw}/api/v1/notifications/subscriptions/me", token)
    assert status == 200, body


async def kitchen(
    http: aiohttp.ClientSession,
    gw: str,
    issuer: TokenIssuer,
    order_id: str,
    action: str,
    outlet: str = "outlet-01",
) -> None:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{order_id}/{action}",
        barista(issuer, f"u-barista-{outlet}", outlet),
    )  # fmt: skip
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


async def test_another_users_notification_is_a_403_and_a_security_event_and_stays_unread(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    gw = platform.gateway
    token, _, _ = await register(http, gw)
    other_token, other_id, _ = await register(http, gw)
    await place_and_pay(http, platform, token)
    [note] = await of_kind(http, gw, token, "order_accepted")
    nid = note["id"]
    probes = {}
    for method, path in (("GET", ""), ("POST", "/read")):
        cid = f"ntf-probe-{secrets.token_hex(6)}"
        status, body = await call(
            http, method, f"{gw}/api/v1/notifications/{nid}{path}", other_token,
            headers={"X-Correlation-ID": cid},
        )  # fmt: skip
        assert (status, body["error"]["code"]) == (403, "forbidden"), (method, body)
        assert body["error"]["details"] == {"notification_id": nid}
        probes[cid] = method
    # An id nobody has is still a 404 (nothing to protect, nothing logged as a probe).
    missing = "ntf-" + "0" * 24
    status, body = await call(http, "GET", f"{gw}/api/v1/notifications/{missing}", other_token)
    assert status == 404, body

    async def logged() -> set[str]:
        found = set()
        for line in (ARTIFACTS / "notification.log").read_text(errors="replace").splitlines():
            if '"user_violation"' in line and other_id in line:
                found |= {cid for cid in probes if cid in line}
        return found if found == set(probes) else set()

    await eventually(logged, timeout=10)
    # The owner's notification is untouched: still unread.
    status, body = await call(http, "GET", f"{gw}/api/v1/notifications/{nid}", token)
    assert status == 200, body
    assert body["data"]["read"] is False


async def test_managers_and_owners_hear_once_of_low_stock_from_supply(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus,
    token_issuer: TokenIssuer,
) -> None:  # fmt: skip
    gw = platform.gateway
    boss, owners = manager(token_issuer, "outlet-02"), owner(token_issuer, "fr-jakarta")
    staff = barista(token_issuer, f"u-barista-{secrets.token_hex(3)}", "outlet-02")
    for who in (boss, owners, staff):
        await subscribe(http, gw, who)
    lows: list[Event] = []

    async def on(msg: Any) -> None:
        lows.append(Event.from_json(msg.data))

    sub = await bus.nc.subscribe("events.fr-jakarta.supply.stock_low", cb=on)
    try:
        # A count below the reorder point (600 g of 1,500 g): the supply service says so.
        status, body = await call(
            http, "POST", f"{gw}/api/v1/outlets/outlet-02/stock-takes", boss,
            json={"lines": [{"ingredient_id": "oolong-tea", "counted": 100}]},
            headers={"Idempotency-Key": secrets.token_hex(8)},
        )  # fmt: skip
        assert status == 201, body
        [note] = await of_kind(http, gw, boss, "stock_low")

        async def low() -> list[Event]:
            return [e for e in lows if e.data["ingredient_id"] == "oolong-tea"]

        [event] = await eventually(low)
    finally:
        await sub.unsubscribe()
    assert event.source == "supply-service"
    assert note["body"] == "Stok Roasted oolong tea leaves di outlet-02 tinggal 100 g."
    assert note["tenant"] == "fr-jakarta"
    [for_owner] = await of_kind(http, gw, owners, "stock_low")
    assert for_owner["body"] == note["body"]

    # The same event again, as a redelivery: nobody hears twice. Another count is the
    # marker: once its alert is there, the copies were handled.
    for copy in ("copy-1", "copy-2"):
        await bus.js.publish(
            "events.fr-jakarta.supply.stock_low", event.to_json(), headers={"Nats-Msg-Id": copy}
        )
    status, body = await call(
        http, "POST", f"{gw}/api/v1/outlets/outlet-02/stock-takes", boss,
        json={"lines": [{"ingredient_id": "jasmine-tea", "counted": 100}]},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, body
    alerts = await of_kind(http, gw, boss, "stock_low", count=2)
    assert sorted(n["body"].split(" di ")[0] for n in alerts) == [
        "Stok Jasmine green tea leaves",
        "Stok Roasted oolong tea leaves",
    ]
    # The owner is told after the manager (recipients in id order), so wait for both.
    assert len(await of_kind(http, gw, owners, "stock_low", count=2)) == 2
    assert len([n for n in await inbox(http, gw, boss) if n["kind"] == "stock_low"]) == 2
    # Stock is the managers' business, not the baristas' (a barista would be told first).
    assert [n for n in await inbox(http, gw, staff) if n["kind"] == "stock_low"] == []


async def test_managers_and_owners_hear_once_of_a_dispute_but_not_the_baristas(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    boss, owners = manager(token_issuer, "outlet-01"), owner(token_issuer, "fr-jakarta")
    # Recipients are handled in id order: a barista ("u-barista-…") would come first.
    staff = barista(token_issuer, f"u-barista-{secrets.token_hex(3)}", "outlet-01")
    for who in (boss, owners, staff):
        await subscribe(http, gw, who)
    token, _, _ = await register(http, gw)
    order_id = await place_and_pay(http, platform, token)
    _, view = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
    transaction = view["data"]["order"]["payment"]["transaction_id"]
    amount = sum(item["subtotal"] for item in view["data"]["order"]["items"])

    async def opened() -> Any:
        status, body = await call(
            http, "POST", f"{platform.url('provider-sim')}/_control/gopay/disputes",
            json={"transaction_id": transaction, "amount": amount, "reason": "not received"},
        )  # fmt: skip
        return body if status == 201 else None  # 409 until the charge has settled

    await eventually(opened, timeout=20, interval=0.3)
    [note] = await of_kind(http, gw, boss, "dispute_opened")
    assert note["order_id"] == order_id
    assert note["tenant"] == "fr-jakarta"
    assert note["body"].startswith("Bank pelanggan menyengketakan pembayaran Rp")
    assert "(not received)" in note["body"]
    [for_owner] = await of_kind(http, gw, owners, "dispute_opened")
    assert for_owner["order_id"] == order_id
    assert [n for n in await inbox(http, gw, staff) if n["kind"] == "dispute_opened"] == []


async def test_staff_hear_once_of_an_order_past_its_service_target_not_of_one_ready_in_time(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    """The suite's LATE_GRACE_S puts the service target seconds after the kitchen gets an
    order (outlet-03: no other test orders there, so no queue lengthens the estimate)."""
    gw = platform.gateway
    staff = barista(token_issuer, f"u-barista-{secrets.token_hex(3)}", "outlet-03")
    await subscribe(http, gw, staff)
    token, _, _ = await register(http, gw)
    on_time = await place_and_pay(http, platform, token, outlet="outlet-03")
    await kitchen(http, gw, token_issuer, on_time, "bump", outlet="outlet-03")
    late = await place_and_pay(http, platform, token, outlet="outlet-03")

    async def alerts() -> list[dict[str, Any]]:
        return [n for n in await inbox(http, gw, staff) if n["kind"] == "order_late"]

    # The on-time order's check came due first; the late one's alert is the only one.
    [alert] = await eventually(alerts, timeout=60, interval=0.5)
    assert alert["order_id"] == late
    short = "#" + late.rsplit("-", 1)[-1].upper()
    assert alert["body"].startswith(f"Pesanan {short} di outlet-03 melewati target")
    assert alert["tenant"] == "fr-jakarta"
    await settled(http, gw, staff, alert["id"], in_app="sent")
    await kitchen(http, gw, token_issuer, late, "bump", outlet="outlet-03")
    assert len(await alerts()) == 1


async def test_a_customer_hears_once_of_a_tier_change_in_their_language(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer,
    mailpit: Mailpit,
) -> None:  # fmt: skip
    gw = platform.gateway
    token, _, email = await register(http, gw, language="id")
    # 20 drinks at Rp26,000 (fr-bandung's price): more than the 500 points silver needs.
    order_id = await place_and_pay(
        http, platform, token, outlet="outlet-04", items=[{**ITEM, "quantity": 20}]
    )
    await kitchen(http, gw, token_issuer, order_id, "bump", outlet="outlet-04")
    await kitchen(http, gw, token_issuer, order_id, "complete", outlet="outlet-04")
    [note] = await of_kind(http, gw, token, "tier_changed")
    assert note["title"] == "Level keanggotaan berubah"
    assert note["body"] == "Level Anda sekarang silver (sebelumnya member)."
    await settled(http, gw, token, note["id"], in_app="sent", email="sent")
    subjects = [m["Subject"] for m in await mailpit.messages_to(email)]
    assert subjects.count("Level keanggotaan berubah") == 1
    # The points that decided it were told too, and the change only once.
    await of_kind(http, gw, token, "points_earned")
    assert len([n for n in await inbox(http, gw, token) if n["kind"] == "tier_changed"]) == 1


class KitchenDisplay:
    """A kitchen display on the platform's hub: connected, subscribed to its outlet's
    kitchen channel (which puts it in the hub's presence), answering pings."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = json.loads(msg.data)
            if "id" in frame and frame["id"] in self.replies:
                self.replies.pop(frame["id"]).set_result(frame)
            elif frame.get("type") == "ping":
                await self.ws.send_str('{"op":"pong"}')

    async def call(self, ident: int, op: str, **fields: Any) -> dict[str, Any]:
        self.replies[ident] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"id": ident, "op": op, **fields}))
        return await asyncio.wait_for(self.replies[ident], 10)

    @classmethod
    async def online(
        cls, http: aiohttp.ClientSession, hub: str, token: str, outlet: str
    ) -> KitchenDisplay:
        display = cls(await http.ws_connect(f"{hub.replace('http', 'ws', 1)}/ws"))
        assert "result" in await display.call(1, "connect", token=token, name="Tea bar")
        reply = await display.call(2, "subscribe", channel=f"outlet:{outlet}:kitchen")
        assert reply["result"]["presence"] is True, reply
        return display

    async def close(self) -> None:
        await self.ws.close()
        await self.task


async def test_staff_hear_of_a_new_order_only_while_no_kitchen_display_is_online(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus,
    token_issuer: TokenIssuer,
) -> None:  # fmt: skip
    gw = platform.gateway
    staff = barista(token_issuer, f"u-barista-{secrets.token_hex(3)}", "outlet-02")
    await subscribe(http, gw, staff)
    token, _, _ = await register(http, gw)
    presence = await bus.js.key_value("hub_presence")
    prefix = f"{platform.envs['hub']['DEPLOYMENT_ID']}.outlet-02."

    async def displays() -> int:
        try:
            return len([k for k in await presence.keys() if k.startswith(prefix)])
        except NoKeysError:
            return 0

    display = await KitchenDisplay.online(http, platform.url("hub"), staff, "outlet-02")
    try:
        await eventually(displays, timeout=10)
        watched = await place_and_pay(http, platform, token, outlet="outlet-02")
        # The customer's own message comes from the same decision as the staff alert.
        await of_kind(http, gw, token, "order_accepted")
    finally:
        await display.close()

    async def gone() -> bool:
        return await displays() == 0

    await eventually(gone, timeout=20)
    unwatched = await place_and_pay(http, platform, token, outlet="outlet-02")
    await of_kind(http, gw, token, "order_accepted", count=2)
    alerts = await of_kind(http, gw, staff, "kitchen_offline_order")
    assert [n["order_id"] for n in alerts] == [unwatched]
    for order_id in (watched, unwatched):
        await kitchen(http, gw, token_issuer, order_id, "bump", outlet="outlet-02")


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


async def test_a_customer_whose_points_lapse_hears_once_before_and_the_balance_drops(
    platform: RunningPlatform, http: aiohttp.ClientSession, bus: EventBus, mailpit: Mailpit
) -> None:
    """The real producer: the customer service's expiry job over a ledger whose points were
    earned a year ago (written as the seed writes history), not a hand-made event."""
    gw = platform.gateway
    token, user_id, email = await register(http, gw, language="id")
    device = fcm_token()
    await add_device(http, gw, token, device)
    # The reminder in the app and by email; not on the phone.
    status, body = await call(
        http, "PUT", f"{gw}/api/v1/notifications/preferences", token,
        json={"kinds": {"reward_expiring": {"push": False}}},
    )  # fmt: skip
    assert status == 200, body
    valid, notice = 365, 14  # the service's defaults
    now = datetime.now(UTC)
    lapsing_today = now - timedelta(days=valid + 1)
    lapsing_soon = now - timedelta(days=valid + 1 - notice)
    earned = [
        (lapsing_today, "o-lapse-now", 120),
        (lapsing_soon, "o-lapse-soon", 45),
    ]
    ledgers = LedgerStore(bus)
    await ledgers.append_history(
        user_id,
        [(at, PointsEarned(customer_id=user_id, order_id=f"{order}-{secrets.token_hex(3)}",
                           points=points, amount=points * 1000)) for at, order, points in earned],
        expected_seq=0,
    )  # fmt: skip

    # The balance drops by the points that lapsed today; the rest shows when it lapses.
    async def lapsed() -> dict[str, Any] | None:
        status, body = await call(http, "GET", f"{gw}/api/v1/me/loyalty", token)
        assert status == 200, body
        return body["data"] if body["data"]["points"] == 45 else None

    summary = await eventually(lapsed, timeout=40, interval=0.3)
    soon = (now.date() + timedelta(days=notice)).isoformat()
    assert summary["next_expiry"] == {"points": 45, "expires_at": f"{soon}T00:00:00Z"}
    assert summary["history"]["items"][0]["kind"] == "points_expired"
    assert summary["history"]["items"][0]["balance_change"] == -120

    # One reminder, for the points lapsing in two weeks, in the customer's language.
    [note] = await of_kind(http, gw, token, "reward_expiring")
    assert note["title"] == "Poin Anda segera hangus"
    assert note["body"].startswith("45 poin BobaKu Anda hangus pada ")
    await settled(http, gw, token, note["id"], in_app="sent", email="sent", push="suppressed")
    # Another run of the job, after losing its mark that the reminder went out (a crash
    # between the publish and the mark): it publishes again, and nobody hears twice.
    kv = await bus.js.key_value("loyalty_expiry")
    key = f"{platform.envs['customer']['DEPLOYMENT_ID']}.due.{soon}.{user_id}"
    await kv.put(key, b"{}")

    async def noticed_again() -> bool:
        return json.loads((await kv.get(key)).value or b"{}").get("noticed") is True

    await eventually(noticed_again, timeout=20, interval=0.2)
    # A redelivery of the reminder itself (another envelope, the same lapse).
    redelivered = new_event(
        "loyalty.reward_expiring",
        {"customer_id": user_id, "reward_id": f"points-{soon}", "reward_name": "BobaKu points",
         "expires_at": f"{soon}T00:00:00Z", "points": 45},
        source="customer-service",
    )  # fmt: skip
    await bus.publish(redelivered)
    # A marker after them: once it is handled, the copies were too.
    await bus.publish(reward_expiring(user_id, "Marker"))
    await of_kind(http, gw, token, "reward_expiring", count=2)
    notes = [n for n in await inbox(http, gw, token) if n["kind"] == "reward_expiring"]
    assert sorted(n["title"] for n in notes) == [
        "Hadiah segera kedaluwarsa",
        "Poin Anda segera hangus",
    ]
    marker = next(n for n in notes if "Marker" in n["body"])
    await settled(http, gw, token, marker["id"], email="sent")
    # (The history's earnings were told too, as points_earned: not what this is about.)
    subjects = [m["Subject"] for m in await mailpit.messages_to(email)]
    assert subjects.count("Poin Anda segera hangus") == 1
    assert subjects.count("Hadiah segera kedaluwarsa") == 1
    sent = (await pushes(http, platform, device))["sent"]
    titles = {p["payload"]["notification"]["title"] for p in sent}
    assert not titles & {"Poin Anda segera hangus", "Hadiah segera kedaluwarsa"}
