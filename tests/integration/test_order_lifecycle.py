"""An order end to end through the gateway, on the whole platform running as processes.

Providers are the simulator (the only fake: it is the outside world); everything else is
the real services on real NATS, Redis and FerretDB.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import aiohttp
import pytest
from support import ARTIFACTS, RunningPlatform, call, eventually, register_customer

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus

PROVIDERS = ("gopay", "ovo", "dana", "shopeepay", "qris", "card")
PREFIX = {
    "gopay": "gpy-",
    "ovo": "ovo-",
    "dana": "dna-",
    "shopeepay": "spp-",
    "qris": "qrs-",
    "card": "crd-",
}
ACTION = {"qris": "qr", "card": "redirect"}
BRIEF_ITEM = {
    "menu_id": "m001",
    "quantity": 2,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
}


def staff(issuer: TokenIssuer, outlet: str = "outlet-01", fr: str = "fr-jakarta") -> str:
    return issuer.issue("u-barista-test", [Role.STAFF], franchise_id=fr, outlet_ids=[outlet])


def manager(issuer: TokenIssuer, outlet: str = "outlet-01", fr: str = "fr-jakarta") -> str:
    return issuer.issue(
        "u-manager-test", [Role.OUTLET_MANAGER], franchise_id=fr, outlet_ids=[outlet]
    )


async def place(
    http: aiohttp.ClientSession, gw: str, token: str, provider: str, items: list[Any] | None = None,
    outlet: str = "outlet-01", **extra: Any,
) -> tuple[int, Any]:  # fmt: skip
    body = {
        "outlet_id": outlet,
        "items": items or [BRIEF_ITEM],
        "payment_method": provider,
        **extra,
    }
    return await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json=body, headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip


async def order_view(http: aiohttp.ClientSession, gw: str, token: str, order_id: str) -> Any:
    status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
    assert status == 200, body
    return body["data"]["order"]


async def reaches(
    http: aiohttp.ClientSession,
    gw: str,
    token: str,
    order_id: str,
    *statuses: str,
    timeout: float = 30,
) -> Any:
    async def probe() -> Any:
        view = await order_view(http, gw, token, order_id)
        return view if view["status"]["current"] in statuses else None

    return await eventually(probe, timeout=timeout, interval=0.2)


async def force(
    http: aiohttp.ClientSession, platform: RunningPlatform, provider: str, **body: Any
) -> None:
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/{provider}/next", json=body
    )
    assert status in (200, 201), reply


async def stock_of(http: aiohttp.ClientSession, gw: str, token: str, ingredient: str) -> int:
    """Available units of an ingredient at outlet-01 (the supply service holds order stock)."""
    status, body = await call(http, "GET", f"{gw}/api/v1/outlets/outlet-01/ingredient-stock", token)
    assert status == 200, body
    entry = next(s for s in body["data"]["items"] if s["ingredient_id"] == ingredient)
    return int(entry["available"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_order_goes_from_placement_to_pickup_with_every_provider(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer, provider: str
) -> None:
    gw = platform.gateway
    token, user_id = await register_customer(http, gw)
    await force(http, platform, provider, outcome="success", delay_s=0.2)
    status, placed = await place(http, gw, token, provider)
    assert status == 201, placed
    order = placed["data"]
    assert order["status"]["current"] == "pending_payment"
    assert order["total_amount"] == 2 * (28000 + 5000 + 8000)
    assert order["payment"]["action"]["type"] == ACTION.get(provider, "deeplink")

    await reaches(http, gw, token, order["id"], "being_prepared")
    barista = staff(token_issuer)
    for action, expected in (("bump", "ready"), ("complete", "completed")):
        status, moved = await call(
            http, "POST", f"{gw}/api/v1/orders/{order['id']}/{action}", barista
        )
        assert (status, moved["data"]["status"]["current"]) == (200, expected)

    view = await order_view(http, gw, token, order["id"])
    assert view["payment"]["transaction_id"].startswith(PREFIX[provider])
    assert [h["status"] for h in view["status"]["history"]] == [
        "pending_payment", "payment_completed", "being_prepared", "ready", "completed",
    ]  # fmt: skip
    assert view["customer"]["id"] == user_id


async def test_the_composite_view_has_the_briefs_shape_field_by_field(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    gw = platform.gateway
    token, user_id = await register_customer(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.2)
    _, placed = await place(http, gw, token, "gopay")
    view = await reaches(http, gw, token, placed["data"]["id"], "being_prepared")

    assert set(view) == {
        "id",
        "created_at",
        "customer",
        "outlet",
        "items",
        "payment",
        "status",
        "loyalty",
    }
    assert view["id"].startswith("ord-")
    assert view["created_at"].endswith("Z")
    assert view["customer"] == {
        "id": user_id, "name": "Rina Test", "membership_tier": "member",
        "current_points": view["customer"]["current_points"],
    }  # fmt: skip
    assert isinstance(view["customer"]["current_points"], int)
    assert view["outlet"]["address"].startswith("Gandaria City Mall Lt. 2")
    assert view["outlet"] == {
        "id": "outlet-01", "name": "BobaKu Gandaria City",
        "address": view["outlet"]["address"], "phone": "021-55678923",
    }  # fmt: skip
    assert view["items"] == [
        {
            "name": "Brown Sugar Boba Milk Tea",
            "price": 28000,
            "quantity": 2,
            "customizations": {
                "sugar_level": "50%",
                "ice_level": "30%",
                "toppings": [
                    {"name": "Pearl", "price": 5000},
                    {"name": "Cheese Foam", "price": 8000},
                ],
            },
            "subtotal": 82000,
        }
    ]
    assert set(view["payment"]) == {"method", "status", "transaction_id", "paid_at"}
    assert view["payment"]["method"] == "gopay"
    assert view["payment"]["status"] == "completed"
    assert view["payment"]["transaction_id"].startswith("gpy-")
    assert view["payment"]["paid_at"].endswith("Z")
    assert set(view["status"]) == {"current", "history", "estimated_completion"}
    assert view["status"]["current"] == "being_prepared"
    assert all(set(h) == {"status", "timestamp"} for h in view["status"]["history"])
    assert view["status"]["estimated_completion"] > view["payment"]["paid_at"]
    assert view["loyalty"] == {"points_earned": 82, "applied_rewards": []}


async def test_a_failed_payment_cancels_the_order_and_releases_its_stock(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    before = await stock_of(http, gw, manager(token_issuer), "popping-boba")
    await force(http, platform, "ovo", outcome="failure", delay_s=0.2)
    _, placed = await place(http, gw, token, "ovo", items=[{"menu_id": "m011", "quantity": 3}])
    assert placed["data"]["status"]["current"] == "pending_payment"
    # Three m011 hold 3 x 40 g of popping boba.
    assert await stock_of(http, gw, manager(token_issuer), "popping-boba") == before - 120

    view = await reaches(http, gw, token, placed["data"]["id"], "cancelled")
    assert view["payment"]["status"] == "failed"

    async def released() -> bool:
        return await stock_of(http, gw, manager(token_issuer), "popping-boba") == before

    await eventually(released, timeout=15)


async def test_a_payment_that_never_completes_times_out_and_releases_the_stock(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    before = await stock_of(http, gw, manager(token_issuer), "popping-boba")
    await force(http, platform, "dana", outcome="timeout")
    _, placed = await place(http, gw, token, "dana", items=[{"menu_id": "m024", "quantity": 2}])
    view = await reaches(http, gw, token, placed["data"]["id"], "cancelled", timeout=60)
    assert view["payment"]["status"] == "failed"

    async def released() -> bool:
        return await stock_of(http, gw, manager(token_issuer), "popping-boba") == before

    await eventually(released, timeout=15)


async def test_duplicate_and_out_of_order_callbacks_capture_once(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    for outcome in ("duplicate", "reorder"):
        token, _ = await register_customer(http, gw)
        await force(http, platform, "shopeepay", outcome=outcome, delay_s=0.2)
        _, placed = await place(http, gw, token, "shopeepay")
        order_id = placed["data"]["id"]
        await reaches(http, gw, token, order_id, "being_prepared")
        await asyncio.sleep(1.0)  # room for the late copy to arrive and be ignored
        view = await order_view(http, gw, token, order_id)
        statuses = [h["status"] for h in view["status"]["history"]]
        assert statuses.count("payment_completed") == 1, statuses
        status, payments = await call(
            http,
            "GET",
            f"{gw}/api/v1/payments",
            manager(token_issuer),
            params={"order_id": order_id},
        )
        assert status == 200, payments
        (payment,) = payments["data"]["items"]
        assert payment["status"] == "captured"
        assert payment["captured_amount"] == 82000


async def test_a_forged_callback_is_refused_and_logged(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    body = json.dumps(
        {"event": "charge.settled", "transaction_id": "gpy-1", "merchant_ref": "pay-x", "amount": 1}
    ).encode()
    async with http.post(
        f"{platform.gateway}/webhooks/gopay",
        data=body,
        headers={"Content-Type": "application/json", "X-Provider-Signature": "sha256=" + "0" * 64},
    ) as resp:
        assert resp.status == 401
        assert (await resp.json())["status"] == "error"

    async def logged() -> bool:
        return "forged_webhook" in (ARTIFACTS / "payment.log").read_text()

    await eventually(logged, timeout=10)


async def test_refunds_partial_then_the_rest_then_a_third_is_refused(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.1)
    _, placed = await place(http, gw, token, "gopay")
    order_id = placed["data"]["id"]
    await reaches(http, gw, token, order_id, "being_prepared")
    boss = manager(token_issuer)

    async def refund(amount: int) -> tuple[int, Any]:
        return await call(
            http, "POST", f"{gw}/api/v1/orders/{order_id}/refund", boss,
            json={"amount": amount, "reason": "drink spilled"},
            headers={"Idempotency-Key": secrets.token_hex(6)},
        )  # fmt: skip

    status, first = await refund(30000)
    assert status == 202, first
    assert (await refund(52000))[0] == 202
    view = await reaches(http, gw, token, order_id, "refunded")
    assert view["loyalty"]["points_earned"] == 0
    # A third: the order is refunded already, and the payment has nothing left to give.
    status, refused = await refund(1)
    assert (status, refused["error"]["code"]) == (409, "invalid_transition")
    intent = first["data"]["intent_id"]
    status, refused = await call(
        http, "POST", f"{gw}/api/v1/payments/{intent}/refunds", boss,
        json={"amount": 1, "reason": "again"}, headers={"Idempotency-Key": secrets.token_hex(6)},
    )  # fmt: skip
    assert (status, refused["error"]["code"]) == (409, "refund_exceeds_captured")


async def test_a_franchise_owner_cannot_reach_another_franchise(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.1)
    _, placed = await place(http, gw, token, "gopay", outlet="outlet-04")
    order_id = placed["data"]["id"]
    jakarta_owner = token_issuer.issue(
        "u-owner-jkt", [Role.FRANCHISE_OWNER], franchise_id="fr-jakarta"
    )
    bandung_owner = token_issuer.issue(
        "u-owner-bdg", [Role.FRANCHISE_OWNER], franchise_id="fr-bandung"
    )

    for path in (
        f"/api/v1/orders/{order_id}",
        "/api/v1/outlets/outlet-04/orders",
        "/api/v1/reports/settlement?franchise_id=fr-bandung",
    ):
        status, body = await call(http, "GET", gw + path, jakarta_owner)
        assert status == 403, (path, body)
        assert body["error"]["code"] == "tenant_forbidden", (path, body)
    status, _ = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", bandung_owner)
    assert status == 200


async def quotes_served(http: aiohttp.ClientSession, platform: RunningPlatform) -> float:
    """How many ``/internal/quotes`` the menu service has answered (its own counter)."""
    async with http.get(f"{platform.url('menu')}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("bobaku_http_requests_total{") and 'route="/internal/quotes"' in line
    )


async def test_orders_are_priced_from_the_menu_copy_while_it_is_current_and_a_new_price_reaches_it(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    owner = token_issuer.issue("u-owner-bdg", [Role.FRANCHISE_OWNER], franchise_id="fr-bandung")
    plain = [{"menu_id": "m001", "quantity": 1, "customizations": {}}]

    async def total() -> int:
        await force(http, platform, "gopay", outcome="success", delay_s=0.1)
        status, placed = await place(http, gw, token, "gopay", items=plain, outlet="outlet-04")
        assert status == 201, placed
        return int(placed["data"]["total_amount"])

    async def menu_price() -> int:
        status, body = await call(http, "GET", f"{gw}/api/v1/outlets/outlet-04/menu")
        assert status == 200, body
        items = [i for c in body["data"]["categories"] for i in c["items"]]
        return int(next(i["price"] for i in items if i["id"] == "m001"))

    async def menu_price_is(expected: int) -> bool | None:
        return (await menu_price()) == expected or None

    price = await total()  # the copy of outlet-04 is taken after this one, if it was not yet
    before = await quotes_served(http, platform)
    assert await total() == price
    assert await quotes_served(http, platform) == before  # priced here, from the copy
    path = f"{gw}/api/v1/franchises/fr-bandung/prices/m001"
    status, body = await call(http, "PUT", path, owner, json={"price": price + 1000})
    assert status == 200, body
    try:
        # The change is seen once the menu's cache consumer has moved the generation (the
        # customers' menu at the edge checks the same ones); from then on, every order.
        await eventually(lambda: menu_price_is(price + 1000), timeout=15, interval=0.1)
        before = await quotes_served(http, platform)
        assert await total() == price + 1000  # the copy is out of date: the menu prices it
        assert await quotes_served(http, platform) > before
        before = await quotes_served(http, platform)
        assert await total() == price + 1000  # and the copy taken after it prices the next
        assert await quotes_served(http, platform) == before
    finally:
        status, body = await call(http, "DELETE", path, owner)
        assert status in (200, 204), body


async def captures_of(
    http: aiohttp.ClientSession, gw: str, issuer: TokenIssuer, order_id: str, fr: str = "fr-jakarta"
) -> list[Any]:
    status, body = await call(
        http, "GET", f"{gw}/api/v1/payments", manager(issuer, fr=fr), params={"order_id": order_id}
    )
    assert status == 200, body
    return list(body["data"]["items"])


@pytest.mark.timeout(240)
async def test_killing_the_order_service_mid_saga_loses_nothing_and_charges_once(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    # The provider settles while the order service is dead.
    await force(http, platform, "gopay", outcome="success", delay_s=1.0)
    _, placed = await place(http, gw, token, "gopay")
    order_id = placed["data"]["id"]
    await platform.platform.kill("order")  # SIGKILL: no draining, no goodbye
    await asyncio.sleep(2.0)
    await platform.platform.restart("order")

    view = await reaches(http, gw, token, order_id, "being_prepared", timeout=60)
    assert [h["status"] for h in view["status"]["history"]].count("payment_completed") == 1
    (payment,) = await captures_of(http, gw, token_issuer, order_id)
    assert (payment["status"], payment["captured_amount"]) == ("captured", 82000)


@pytest.mark.timeout(240)
async def test_killing_the_payment_service_mid_saga_loses_nothing_and_charges_once(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    await force(http, platform, "qris", outcome="success", delay_s=0.5)
    _, placed = await place(http, gw, token, "qris")
    order_id = placed["data"]["id"]
    await platform.platform.kill("payment")  # the provider's callback finds nobody home
    await asyncio.sleep(1.0)
    await platform.platform.restart("payment")  # the provider retries its callback

    view = await reaches(http, gw, token, order_id, "being_prepared", timeout=90)
    assert view["payment"]["transaction_id"].startswith("qrs-")
    (payment,) = await captures_of(http, gw, token_issuer, order_id)
    assert (payment["status"], payment["captured_amount"]) == ("captured", 82000)


async def test_a_customer_earns_and_redeems_points_in_the_same_order(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    gw = platform.gateway
    status, login = await call(
        http, "POST", f"{gw}/api/v1/auth/login",
        json={"email": "rina@example.com", "password": "bobaku-demo-123"},
    )  # fmt: skip
    assert status == 200, login
    token = login["data"]["tokens"]["access_token"]

    async def points() -> int:
        status, body = await call(http, "GET", f"{gw}/api/v1/me/loyalty", token)
        assert status == 200, body
        return int(body["data"]["points"])

    before = await points()
    assert before >= 300
    await force(http, platform, "gopay", outcome="success", delay_s=0.2)
    status, placed = await place(http, gw, token, "gopay", reward_ids=["rw-10k-off"])
    assert status == 201, placed
    view = await reaches(http, gw, token, placed["data"]["id"], "being_prepared")
    assert view["loyalty"]["points_earned"] == 72  # Rp72,000 paid after Rp10,000 off
    assert [r["id"] for r in view["loyalty"]["applied_rewards"]] == ["rw-10k-off"]

    async def settled() -> bool:
        return await points() == before - 300 + 72

    await eventually(settled, timeout=20)
    assert view["customer"]["membership_tier"] == "gold"


def order_body(item: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    line = {"menu_id": "m001", "quantity": 1, **(item or {})}
    return {"outlet_id": "outlet-01", "items": [line], "payment_method": "gopay", **over}


BAD_ORDERS = {
    "malformed": (b'{"outlet_id": "outlet-01", "items": [', 400, "malformed_json", None),
    "no-items": (order_body(items=[]), 422, "validation_failed", "items"),
    "string-quantity": (
        order_body({"quantity": "2"}),
        422,
        "validation_failed",
        "items.0.quantity",
    ),
    "unknown-provider": (
        order_body(payment_method="cash"),
        422,
        "validation_failed",
        "payment_method",
    ),
    "sugar-step": (
        order_body({"customizations": {"sugar_level": 40}}),
        422,
        "validation_failed",
        "items.0.customizations.sugar_level",
    ),
    "unknown-item": (order_body({"menu_id": "m999"}), 422, "validation_failed", "items.0.menu_id"),
    "unknown-field": (order_body(tip=5000), 422, "validation_failed", "tip"),
}


@pytest.mark.parametrize(
    ("body", "status", "code", "field"), list(BAD_ORDERS.values()), ids=list(BAD_ORDERS)
)
async def test_a_bad_order_is_refused_naming_the_problem_and_nothing_is_written(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    kw: dict[str, Any] = (
        {"data": body, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body}
    )
    got, reply = await call(http, "POST", f"{gw}/api/v1/orders", token, **kw)
    assert (got, reply["status"], reply["error"]["code"]) == (status, "error", code), reply
    if field is not None:
        assert field in [f["field"] for f in reply["error"]["details"]["fields"]], reply
    _, mine = await call(http, "GET", f"{gw}/api/v1/orders", token)
    assert mine["data"]["items"] == []


async def test_bad_list_filters_and_duplicate_keys_are_refused_through_the_gateway(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    staff = manager(token_issuer)
    for query, field in (
        ({"date": "../../etc/passwd"}, "date"),
        ({"date": "2026-02-30"}, "date"),
        ({"status": "lost"}, "status"),
        ({"limit": "0"}, "limit"),
    ):
        got, reply = await call(
            http, "GET", f"{gw}/api/v1/outlets/outlet-01/orders", staff, params=query
        )
        assert got == 422, (query, reply)
        assert field in [f["field"] for f in reply["error"]["details"]["fields"]], reply
    # One body, two quantities: refused, and no order is created.
    token, _ = await register_customer(http, gw)
    good = json.dumps({"outlet_id": "outlet-01", "items": [BRIEF_ITEM], "payment_method": "gopay"})
    raw = good.replace('"quantity": ', '"quantity": 1, "quantity": ', 1).encode()
    assert raw.count(b'"quantity"') == 2
    got, reply = await call(
        http,
        "POST",
        f"{gw}/api/v1/orders",
        token,
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert (got, reply["error"]["code"]) == (400, "malformed_json"), reply
    _, mine = await call(http, "GET", f"{gw}/api/v1/orders", token)
    assert mine["data"]["items"] == []


# --- several order-service replicas ---------------------------------------------------------
# Two order-service processes on one deployment: they share its port (the launcher's
# replicas knob) and its durable consumers, and every order's saga still ends once. Eight
# orders are placed while both run; then the first replica is killed (SIGKILL: what it held
# unacknowledged comes back to the other after the consumers' ack wait), and every order
# must still reach the kitchen with one ``payment_completed`` and one capture.
async def order_durables(bus: EventBus, deployment: str) -> set[str]:
    names = set()
    for stream in await bus.js.streams_info():
        for consumer in await bus.js.consumers_info(stream.config.name or ""):
            durable = consumer.config.durable_name or ""
            if durable.startswith(f"{deployment}-order"):
                names.add(f"{stream.config.name}/{durable}")
    return names


@pytest.mark.timeout(300)
async def test_two_order_replicas_share_the_consumers_and_each_saga_ends_once(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    token_issuer: TokenIssuer,
    bus: EventBus,
) -> None:
    gw, plat = platform.gateway, platform.platform
    deployment = platform.envs["order"]["DEPLOYMENT_ID"]
    durables = await order_durables(bus, deployment)
    assert durables  # the order service's consumers are durable, named by the deployment
    await plat.scale("order", 2)
    try:
        assert plat.replicas_of("order") == ["order", "order#2"]
        assert await order_durables(bus, deployment) == durables  # shared, not one each
        token, _ = await register_customer(http, gw)
        placed = await asyncio.gather(*(place(http, gw, token, "gopay") for _ in range(8)))
        assert [status for status, _ in placed] == [201] * 8, placed
        order_ids = [body["data"]["id"] for _, body in placed]
        await plat.kill("order")  # the first replica; the second carries on alone

        for order_id in order_ids:
            view = await reaches(http, gw, token, order_id, "being_prepared", timeout=90)
            history = [h["status"] for h in view["status"]["history"]]
            assert history.count("payment_completed") == 1, (order_id, history)
            assert history.count("being_prepared") == 1, (order_id, history)
            (payment,) = await captures_of(http, gw, token_issuer, order_id)
            assert payment["status"] == "captured"
    finally:
        await plat.restart("order")
        await plat.scale("order", 1)
    assert plat.replicas_of("order") == ["order"]


@pytest.mark.timeout(240)
async def test_ordering_goes_on_from_the_local_menu_copy_while_the_menu_service_is_down(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    gw = platform.gateway
    token, _ = await register_customer(http, gw)
    await force(http, platform, "gopay", outcome="success", delay_s=0.2)
    status, first = await place(http, gw, token, "gopay")  # priced by the menu service
    assert status == 201, first
    await platform.platform.kill("menu")  # SIGKILL: the order service's calls now fail
    try:
        await force(http, platform, "gopay", outcome="success", delay_s=0.2)
        status, second = await place(http, gw, token, "gopay")
        assert status == 201, second  # before the copy: 503 dependency_unavailable
        assert second["data"]["total_amount"] == first["data"]["total_amount"] == 82000
        assert second["data"]["items"] == first["data"]["items"]
        # Validated by the same rules: an unknown item is refused naming the field.
        unknown = {**BRIEF_ITEM, "menu_id": "m999"}
        status, reply = await place(http, gw, token, "gopay", items=[unknown])
        assert status == 422, reply
        assert "items.0.menu_id" in [f["field"] for f in reply["error"]["details"]["fields"]]
    finally:
        await platform.platform.restart("menu")
    view = await reaches(http, gw, token, second["data"]["id"], "being_prepared", timeout=60)
    assert view["payment"]["status"] == "completed"
