"""Refunds: never more than was captured, the provider holding one refund per accepted request."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from payment_testing import World, new_franchise, refunds_held, refunds_taken
from support import eventually


def refund_path(intent_id: str) -> str:
    return f"/payments/{intent_id}/refunds"


async def test_a_partial_refund_then_the_rest_then_a_third_is_refused(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, provider="gopay", amount=82_000, outlet_id="outlet-3")
    intent_id, manager = payment["intent_id"], world.manager_token(fr, "outlet-3")

    async def refund(amount: int, key: str) -> tuple[int, Any]:
        return await world.call(
            "POST",
            refund_path(intent_id),
            token=manager,
            json={"amount": amount, "reason": "customer complaint"},
            headers={"Idempotency-Key": key},
        )

    first = await refund(30_000, "refund-1")
    assert first[0] == 201, first
    refunded = first[1]["data"]
    assert refunded["refund_id"].startswith("rfd-")
    assert refunded["amount"] == 30_000
    assert refunded["status"] == "succeeded"
    assert refunded["total_refunded"] == 30_000
    assert refunded["refundable_amount"] == 52_000
    assert (await world.payment(intent_id))["status"] == "partially_refunded"

    rest = await refund(52_000, "refund-2")
    assert rest[0] == 201, rest
    assert rest[1]["data"]["total_refunded"] == 82_000
    assert (await world.payment(intent_id))["status"] == "refunded"

    third = await refund(1, "refund-3")
    assert third[0] == 409
    assert third[1]["error"]["code"] == "refund_exceeds_captured"
    assert third[1]["error"]["details"]["refundable"] == 0

    # A retry of the first request is answered with the first refund, and pays nothing.
    retried = await refund(30_000, "refund-1")
    assert retried[0] == 201
    assert retried[1]["data"]["refund_id"] == first[1]["data"]["refund_id"]

    (charge,) = await world.charges("gopay", payment["order_id"])
    assert charge["refunded"] == 82_000
    assert [r["amount"] for r in charge["refunds"]] == [30_000, 52_000]
    # One refund at the provider per accepted request; the retry of "refund-1" added none.
    assert refunds_held(charge) == refunds_taken(await world.payment(intent_id))
    types = await world.types(fr, intent_id)
    assert types.count("payment.refunded") == 2
    assert types.count("payment.refund_requested") == 2


async def test_concurrent_refunds_never_exceed_the_captured_amount(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, provider="ovo", amount=82_000)
    owner = world.owner_token(fr)

    replies = await asyncio.gather(
        *(
            world.call(
                "POST",
                refund_path(payment["intent_id"]),
                token=owner,
                json={"amount": 30_000, "reason": "double charge"},
                headers={"Idempotency-Key": secrets.token_hex(8)},
            )
            for _ in range(6)
        )
    )

    statuses = sorted(status for status, _ in replies)
    assert statuses == [201, 201, 409, 409, 409, 409], replies
    refused = [r for s, r in replies if s == 409]
    assert {r["error"]["code"] for r in refused} == {"refund_exceeds_captured"}
    after = await world.payment(payment["intent_id"])
    assert after["refunded_amount"] == 60_000
    assert after["refundable_amount"] == 22_000
    (charge,) = await world.charges("ovo", payment["order_id"])
    assert charge["refunded"] == 60_000
    held = refunds_held(charge)
    assert sorted(held.values()) == [30_000, 30_000]
    assert held == refunds_taken(after)


async def test_the_same_idempotency_key_for_another_amount_is_refused(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr)
    owner = world.owner_token(fr)
    path = refund_path(payment["intent_id"])
    headers = {"Idempotency-Key": "same-key"}

    first = await world.call(
        "POST", path, token=owner, json={"amount": 1_000, "reason": "x"}, headers=headers
    )
    second = await world.call(
        "POST", path, token=owner, json={"amount": 2_000, "reason": "x"}, headers=headers
    )

    assert first[0] == 201
    assert second[0] == 409
    assert second[1]["error"]["code"] == "idempotency_key_reused"
    assert (await world.payment(payment["intent_id"]))["refunded_amount"] == 1_000


async def test_only_a_captured_payment_can_be_refunded(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="card")
    await world.force("card", body["order_id"], "timeout")
    intent = await world.create_intent(body)

    status, reply = await world.call(
        "POST",
        refund_path(intent["intent_id"]),
        token=world.hq_token,
        json={"amount": 1_000, "reason": "x"},
        headers={"Idempotency-Key": "k"},
    )

    assert status == 409
    assert reply["error"]["code"] == "not_captured"
    assert await world.types(fr, intent["intent_id"]) == ["payment.intent_created"]


async def test_refunds_need_a_manager_of_the_payments_outlet_or_franchise(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, outlet_id="outlet-7")
    path = refund_path(payment["intent_id"])
    staff = world.issuer.issue(
        "u-0000000000cc", ["staff"], franchise_id=fr, outlet_ids=["outlet-7"]
    )

    attempts = {
        "staff": (staff, 403, "forbidden"),
        "manager of another outlet": (world.manager_token(fr, "outlet-8"), 403, "tenant_forbidden"),
        "owner of another franchise": (world.owner_token(new_franchise()), 403, "tenant_forbidden"),
    }
    for token, status, code in attempts.values():
        got = await world.call(
            "POST",
            path,
            token=token,
            json={"amount": 1_000, "reason": "x"},
            headers={"Idempotency-Key": secrets.token_hex(4)},
        )
        assert (got[0], got[1]["error"]["code"]) == (status, code)

    assert await world.types(fr, payment["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]


async def test_a_refund_the_provider_could_not_take_is_finished_when_it_is_back(
    world: World,
) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, provider="shopeepay", amount=40_000)
    request = {
        "token": world.owner_token(fr),
        "json": {"amount": 10_000, "reason": "melted"},
        "headers": {"Idempotency-Key": "during-outage"},
    }

    await world.sim("POST", "/_control/shopeepay", {"api_error_rate": 1.0})
    try:
        status, reply = await world.call("POST", refund_path(payment["intent_id"]), **request)
    finally:
        await world.sim("POST", "/_control/shopeepay", {"api_error_rate": 0.0})

    assert status == 502
    assert reply["error"]["code"] == "provider_error"
    waiting = await world.payment(payment["intent_id"])
    assert [r["status"] for r in waiting["refunds"]] == ["pending"]
    assert waiting["refundable_amount"] == 30_000  # set aside while the outcome is unknown

    async def finished() -> Any:
        refunds = (await world.payment(payment["intent_id"]))["refunds"]
        return refunds if refunds[0]["status"] == "succeeded" else None

    (refund,) = await eventually(finished)  # the deadline sweeper asks the provider again
    again = await world.call("POST", refund_path(payment["intent_id"]), **request)
    assert again[0] == 201
    assert again[1]["data"]["refund_id"] == refund["refund_id"]
    (charge,) = await world.charges("shopeepay", payment["order_id"])
    assert charge["refunded"] == 10_000
    assert refunds_held(charge) == {refund["provider_refund_id"]: 10_000}
