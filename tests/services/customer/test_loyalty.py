"""Loyalty end to end: order events on JetStream earn and reverse points; the order service
redeems and releases them over the internal API; the customer reads their standing."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from customer_testing import CustomerApi, Orders
from support import eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import Delivery, read_dead_letters
from bobaku.kernel.events import Event, new_event
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.entrypoints.consumers import loyalty_from_orders, order_consumer
from bobaku.services.customer.entrypoints.http import CONTEXT
from bobaku.services.customer.settings import CustomerSettings


async def customer_with_points(api: CustomerApi, orders: Orders, points: int) -> dict[str, Any]:
    """A new customer whose paid orders earned ``points`` (settled in ledger and read model)."""
    session = await api.register()
    customer_id = session["user"]["id"]
    if points:
        await orders.paid(customer_id, points * 1000)
        await api.points_settle_at(customer_id, points)
    return session


async def redeem(
    api: CustomerApi, customer_id: str, order_id: str, *reward_ids: str
) -> tuple[int, dict[str, Any]]:
    return await api.internal(
        "POST",
        f"/internal/loyalty/{customer_id}/redemptions",
        {"order_id": order_id, "reward_ids": list(reward_ids)},
    )


async def test_a_paid_order_on_jetstream_earns_its_points_exactly_once(
    api: CustomerApi, orders: Orders
) -> None:
    session = await api.register()
    customer_id = session["user"]["id"]
    order_id = orders.new_id()

    paid = await orders.paid(customer_id, 82_000, order_id=order_id)
    card = await api.points_settle_at(customer_id, 82)
    assert card["membership_tier"] == "member"

    # The same event published again (the server drops the repeated id), the order service
    # publishing a second envelope for the same payment, and a redelivery of the first one.
    await orders.append("fr-jakarta", order_id, paid)
    await orders.paid(customer_id, 82_000, order_id=order_id)
    handler = loyalty_from_orders(api.app[CONTEXT])
    await handler(paid, Delivery(f"es.order.fr-jakarta.{order_id}", "ES_ORDER", 1, 2))
    await asyncio.sleep(0.3)  # let the consumer handle what it was sent

    assert await api.ledger_types(customer_id) == ["loyalty.points_earned"]
    assert (await api.card(customer_id))["current_points"] == 82
    status, body = await api.call("GET", "/me/loyalty", token=session["tokens"]["access_token"])
    assert status == 200
    summary = body["data"]
    assert {k: v for k, v in summary.items() if k != "history"} == {
        "points": 82,
        "tier": "member",
        "rolling_12m_points": 82,
        "next_tier": "silver",
        "points_to_next_tier": 418,
        # Valid through the day a year after they were earned (the read model's own clock).
        "next_expiry": {"points": 82, "expires_at": summary["next_expiry"]["expires_at"]},
        "expiring_points": [summary["next_expiry"]],
    }
    lapse = datetime.fromisoformat(summary["next_expiry"]["expires_at"])
    assert lapse.date() - datetime.now(UTC).date() in (timedelta(days=366), timedelta(days=365))
    [entry] = summary["history"]["items"]
    assert entry["kind"] == "points_earned"
    assert entry["order_id"] == order_id
    assert (entry["points"], entry["balance_change"]) == (82, 82)
    assert summary["history"]["next_cursor"] is None
    # The earn carries the franchise the order was paid at.
    [earn] = await api_ledger_events(api, customer_id)
    assert earn.data["franchise_id"] == "fr-jakarta"


async def api_ledger_events(api: CustomerApi, customer_id: str) -> list[Event]:
    return await LedgerStore(api.bus).events(customer_id)


async def test_reaching_500_earned_points_flips_member_to_silver_and_records_it(
    api: CustomerApi, orders: Orders
) -> None:
    session = await customer_with_points(api, orders, 499)
    customer_id = session["user"]["id"]
    assert (await api.card(customer_id))["membership_tier"] == "member"

    await orders.paid(customer_id, 1_000)
    card = await api.points_settle_at(customer_id, 500)

    assert card["membership_tier"] == "silver"
    events = await api_ledger_events(api, customer_id)
    assert [e.type for e in events] == [
        "loyalty.points_earned",
        "loyalty.points_earned",
        "loyalty.tier_changed",
    ]
    assert events[-1].data["previous_tier"] == "member"
    assert events[-1].data["tier"] == "silver"
    assert events[-1].data["points"] == 500

    async def tier_in_history() -> dict[str, Any] | None:
        _, body = await api.call("GET", "/me/loyalty", token=session["tokens"]["access_token"])
        items = body["data"]["history"]["items"]
        return body["data"] if items and items[0]["kind"] == "tier_changed" else None

    summary = await eventually(tier_in_history)
    assert summary["tier"] == "silver"
    assert (summary["next_tier"], summary["points_to_next_tier"]) == ("gold", 1000)
    assert summary["history"]["items"][0]["tier"] == "silver"


async def test_a_redemption_is_idempotent_on_its_order(api: CustomerApi, orders: Orders) -> None:
    customer_id = (await customer_with_points(api, orders, 600))["user"]["id"]
    order_id = orders.new_id()

    first = await redeem(api, customer_id, order_id, "rw-free-topping", "rw-10k-off")
    again = await redeem(api, customer_id, order_id, "rw-10k-off", "rw-free-topping")

    assert first[0] == again[0] == 201
    assert (
        first[1]["data"]
        == again[1]["data"]
        == {
            "order_id": order_id,
            "points": 450,
            "discount_amount": 15_000,
            "rewards": [
                {"id": "rw-free-topping", "name": "Free topping", "discount_amount": 5_000},
                {"id": "rw-10k-off", "name": "Rp10k off", "discount_amount": 10_000},
            ],
        }
    )
    await api.points_settle_at(customer_id, 150)
    assert (await api.ledger_types(customer_id)).count("loyalty.points_redeemed") == 1
    # Other rewards for the same order are a conflict, not a second redemption.
    status, body = await redeem(api, customer_id, order_id, "rw-free-topping")
    assert (status, body["error"]["code"]) == (409, "redemption_mismatch")


async def test_insufficient_points_is_a_409_and_changes_nothing(
    api: CustomerApi, orders: Orders
) -> None:
    customer_id = (await customer_with_points(api, orders, 299))["user"]["id"]
    before = await api.ledger_types(customer_id)

    status, body = await redeem(api, customer_id, orders.new_id(), "rw-10k-off")

    assert status == 409
    assert body["error"]["code"] == "insufficient_points"
    assert body["error"]["details"] == {"required": 300, "available": 299}
    assert await api.ledger_types(customer_id) == before
    assert (await api.card(customer_id))["current_points"] == 299


async def test_concurrent_redemptions_cannot_overspend(api: CustomerApi, orders: Orders) -> None:
    customer_id = (await customer_with_points(api, orders, 700))["user"]["id"]

    results = await asyncio.gather(
        *(redeem(api, customer_id, orders.new_id(), "rw-10k-off") for _ in range(6))
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 201, 409, 409, 409, 409]
    assert all(b["error"]["code"] == "insufficient_points" for s, b in results if s == 409)
    ledger = await api.ledger(customer_id)
    assert ledger.points == 100
    assert ledger.redeemed == 600
    await api.points_settle_at(customer_id, 100)


async def test_concurrent_repeats_of_one_redemption_spend_once(
    api: CustomerApi, orders: Orders
) -> None:
    customer_id = (await customer_with_points(api, orders, 1000))["user"]["id"]
    order_id = orders.new_id()
    results = await asyncio.gather(
        *(redeem(api, customer_id, order_id, "rw-free-regular-drink") for _ in range(5))
    )
    assert {status for status, _ in results} == {201}
    assert len({str(body["data"]) for _, body in results}) == 1
    assert (await api.ledger(customer_id)).points == 500


async def test_release_gives_the_points_back_once(api: CustomerApi, orders: Orders) -> None:
    customer_id = (await customer_with_points(api, orders, 200))["user"]["id"]
    order_id = orders.new_id()
    assert (await redeem(api, customer_id, order_id, "rw-free-topping"))[0] == 201
    await api.points_settle_at(customer_id, 50)

    path = f"/internal/loyalty/{customer_id}/redemptions/{order_id}/release"
    first = await api.internal("POST", path)
    again = await api.internal("POST", path)

    assert first == again
    assert first[0] == 200
    assert first[1]["data"] == {"order_id": order_id, "points": 150, "status": "released"}
    await api.points_settle_at(customer_id, 200)
    assert (await api.ledger_types(customer_id)).count("loyalty.redemption_released") == 1
    # A released redemption is not revived by a late retry of the redeem step.
    status, body = await redeem(api, customer_id, order_id, "rw-free-topping")
    assert (status, body["error"]["code"]) == (409, "redemption_released")
    # Nothing to release for an order that redeemed nothing.
    status, body = await api.internal(
        "POST", f"/internal/loyalty/{customer_id}/redemptions/{orders.new_id()}/release"
    )
    assert (status, body["error"]["code"]) == (404, "redemption_not_found")


async def test_an_order_can_redeem_points_and_earn_new_ones(
    api: CustomerApi, orders: Orders
) -> None:
    customer_id = (await customer_with_points(api, orders, 200))["user"]["id"]
    order_id = orders.new_id()

    status, body = await redeem(api, customer_id, order_id, "rw-free-topping")
    assert status == 201
    # 2 x (28,000 + 5,000 + 8,000) = 82,000 minus the reward's 5,000, paid: 77,000.
    await orders.paid(customer_id, 82_000 - body["data"]["discount_amount"], order_id=order_id)

    card = await api.points_settle_at(customer_id, 200 - 150 + 77)
    assert card["current_points"] == 127
    ledger = await api.ledger(customer_id)
    assert order_id in ledger.earnings
    assert order_id in ledger.redemptions


async def test_refunds_reverse_points_in_proportion_once_each(
    api: CustomerApi, orders: Orders
) -> None:
    customer_id = (await api.register())["user"]["id"]
    order_id = orders.new_id()
    await orders.paid(customer_id, 82_000, order_id=order_id)
    await api.points_settle_at(customer_id, 82)

    refund = await orders.refunded(customer_id, order_id, 41_000, total_refunded=41_000, full=False)
    await api.points_settle_at(customer_id, 41)
    # The same refund again (a second envelope for one refund id) reverses nothing more.
    await orders.refunded(
        customer_id,
        order_id,
        41_000,
        total_refunded=41_000,
        full=False,
        refund_id=refund.data["refund_id"],
    )
    await orders.refunded(customer_id, order_id, 41_000, total_refunded=82_000, full=True)
    await api.points_settle_at(customer_id, 0)

    ledger = await api.ledger(customer_id)
    assert ledger.reversed == 82
    assert len(ledger.earnings[order_id].refund_ids) == 2
    assert (await api.ledger_types(customer_id)).count("loyalty.points_reversed") == 2


async def test_an_order_event_loyalty_cannot_use_is_dead_lettered_with_the_reason(
    api: CustomerApi, orders: Orders, customer_settings: CustomerSettings
) -> None:
    order_id = orders.new_id()
    broken = new_event(
        "order.payment_completed",
        {
            "order_id": order_id,
            "customer_id": "has.dots",
            "intent_id": "pay-1",
            "transaction_id": "gpy-1",
            "amount": 10_000,
            "paid_at": "2026-11-24T10:00:00Z",
        },
        source="order-service",
        tenant="fr-jakarta",
    )
    await orders.append("fr-jakarta", order_id, broken)
    durable = f"{customer_settings.deployment_id}-{order_consumer(customer_settings).durable}"

    async def dead() -> list[dict[str, Any]]:
        letters = await read_dead_letters(api.bus, consumer=durable)
        return [d for d in letters if d["headers"]["Bobaku-Dlq-Subject"].endswith(order_id)]

    [letter] = await eventually(dead)
    assert "lacks what loyalty needs" in letter["headers"]["Bobaku-Dlq-Reason"]


async def test_the_rewards_catalog_is_public(api: CustomerApi) -> None:
    status, body = await api.call("GET", "/rewards")
    assert status == 200
    assert body["data"] == {
        "items": [
            {"id": "rw-free-topping", "name": "Free topping", "points_cost": 150,
             "discount_amount": 5_000},
            {"id": "rw-10k-off", "name": "Rp10k off", "points_cost": 300,
             "discount_amount": 10_000},
            {"id": "rw-free-regular-drink", "name": "Free regular drink", "points_cost": 500,
             "discount_amount": 25_000},
        ],
        "next_cursor": None,
    }  # fmt: skip


async def test_the_customer_card_serves_other_services_only(
    api: CustomerApi, orders: Orders, token_issuer: TokenIssuer
) -> None:
    session = await customer_with_points(api, orders, 120)
    customer_id = session["user"]["id"]

    assert await api.card(customer_id) == {
        "id": customer_id,
        "name": "Test Customer",
        "email": session["user"]["email"],
        "membership_tier": "member",
        "current_points": 120,
        "language": "id",
        "notifications": {"push": True, "email": True, "in_app": True},
    }
    customer_token = session["tokens"]["access_token"]
    admin_token = token_issuer.issue("u-000000000hq1", [Role.HQ_ADMIN])
    for token in (customer_token, admin_token):
        for method, path, body in (
            ("GET", f"/internal/customers/{customer_id}", None),
            ("POST", f"/internal/loyalty/{customer_id}/redemptions",
             {"order_id": orders.new_id(), "reward_ids": ["rw-free-topping"]}),
            ("POST", f"/internal/loyalty/{customer_id}/redemptions/ord-1/release", None),
        ):  # fmt: skip
            status, answer = await api.call(method, path, token=token, json=body)
            assert (status, answer["error"]["code"]) == (403, "forbidden")
    status, answer = await api.call("GET", f"/internal/customers/{customer_id}")
    assert status == 401
    status, answer = await api.internal("GET", "/internal/customers/u-000000000000")
    assert (status, answer["error"]["code"]) == (404, "user_not_found")


async def test_redeeming_for_an_unknown_customer_or_reward_is_refused(
    api: CustomerApi, orders: Orders
) -> None:
    status, body = await redeem(api, "u-000000000000", orders.new_id(), "rw-free-topping")
    assert (status, body["error"]["code"]) == (404, "user_not_found")
    customer_id = (await api.register())["user"]["id"]
    status, body = await redeem(api, customer_id, orders.new_id(), "rw-free-topping", "rw-bogus")
    assert status == 422
    assert body["error"]["details"]["fields"][0]["field"] == "reward_ids.1"
    assert await api.ledger_types(customer_id) == []


async def test_the_history_pages_newest_first(api: CustomerApi, orders: Orders) -> None:
    session = await api.register()
    customer_id = session["user"]["id"]
    order_ids = [orders.new_id() for _ in range(5)]
    for i, order_id in enumerate(order_ids):
        await orders.paid(customer_id, (i + 1) * 10_000, order_id=order_id)
    await api.points_settle_at(customer_id, 10 + 20 + 30 + 40 + 50)
    token = session["tokens"]["access_token"]

    async def page(query: str) -> dict[str, Any]:
        status, body = await api.call("GET", f"/me/loyalty{query}", token=token)
        assert status == 200, body
        return dict(body["data"]["history"])

    async def all_projected() -> bool:
        return len((await page("?limit=100"))["items"]) == 5

    await eventually(all_projected)
    first = await page("?limit=2")
    second = await page(f"?limit=2&cursor={first['next_cursor']}")
    third = await page(f"?limit=2&cursor={second['next_cursor']}")
    seen = [i["order_id"] for p in (first, second, third) for i in p["items"]]
    assert seen == list(reversed(order_ids))
    assert third["next_cursor"] is None
    for bad in ("?limit=0", "?limit=101", "?limit=x", "?cursor=abc"):
        status, body = await api.call("GET", f"/me/loyalty{bad}", token=token)
        assert status == 422, bad
        assert body["error"]["details"]["fields"][0]["field"] in ("limit", "cursor")


async def test_only_customers_have_a_loyalty_page(
    api: CustomerApi, token_issuer: TokenIssuer
) -> None:
    staff_token = token_issuer.issue(f"u-{secrets.token_hex(6)}", [Role.STAFF])
    status, body = await api.call("GET", "/me/loyalty", token=staff_token)
    assert (status, body["error"]["code"]) == (403, "forbidden")
