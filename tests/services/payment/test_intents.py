"""Payment intents end to end: the service charges through the simulator over HTTP, and the
simulator's signed callbacks capture, fail, duplicate or never come."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging

import pytest
from payment_testing import (
    INTENT_TTL_S,
    PREFIX,
    PROVIDERS,
    World,
    intent_id_of,
    new_franchise,
    new_order_id,
    refunds_held,
)
from support import eventually

ACTION_TYPES = {
    "gopay": "deeplink",
    "ovo": "deeplink",
    "dana": "deeplink",
    "shopeepay": "deeplink",
    "qris": "qr",
    "card": "redirect",
}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_provider_captures_the_intent_when_its_callback_arrives(
    world: World, provider: str
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider=provider, amount=41_000)

    intent = await world.create_intent(body)

    assert intent["intent_id"] == intent_id_of(body["order_id"])
    assert intent["status"] == "pending"
    assert intent["amount"] == 41_000
    assert intent["action"]["type"] == ACTION_TYPES[provider]
    assert ("qr_string" if provider == "qris" else "url") in intent["action"]
    assert intent["transaction_id"].startswith(PREFIX[provider] + "-")
    payment = await world.wait_status(intent["intent_id"], "captured")
    assert payment["transaction_id"] == intent["transaction_id"]
    assert payment["captured_amount"] == 41_000
    assert payment["paid_at"]
    assert await world.types(fr, intent["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]


async def test_a_failed_charge_records_payment_failed(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="ovo")
    await world.force("ovo", body["order_id"], "failure")

    intent = await world.create_intent(body)

    payment = await world.wait_status(intent["intent_id"], "failed")
    assert payment["failure_reason"] in ("insufficient_balance", "user_cancelled")
    assert await world.types(fr, intent["intent_id"]) == [
        "payment.intent_created",
        "payment.failed",
    ]


async def test_a_charge_the_provider_never_calls_back_expires_after_the_ttl(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="dana")
    await world.force("dana", body["order_id"], "timeout")

    intent = await world.create_intent(body)

    payment = await world.wait_status(intent["intent_id"], "expired", timeout=INTENT_TTL_S + 5)
    assert payment["ended_at"] >= payment["expires_at"]
    history = await world.history(fr, intent["intent_id"])
    assert [e.type for e in history] == ["payment.intent_created", "payment.expired"]
    assert history[1].data["order_id"] == body["order_id"]


async def test_duplicate_callbacks_capture_the_payment_once(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="shopeepay")
    await world.force("shopeepay", body["order_id"], "duplicate")

    intent = await world.create_intent(body)

    async def both_delivered() -> bool:
        (charge,) = await world.charges("shopeepay", body["order_id"])
        return [c["delivered"] for c in charge["callbacks"]] == [True, True]

    await eventually(both_delivered)
    (charge,) = await world.charges("shopeepay", body["order_id"])
    assert {c["event"] for c in charge["callbacks"]} == {"charge.settled"}
    assert charge["callbacks"][0]["notification_id"] == charge["callbacks"][1]["notification_id"]
    assert await world.types(fr, intent["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]


async def test_a_stale_failure_after_the_settlement_changes_nothing(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="card")
    await world.force("card", body["order_id"], "reorder")

    intent = await world.create_intent(body)

    async def both_delivered() -> list[str]:
        (charge,) = await world.charges("card", body["order_id"])
        delivered = [c["event"] for c in charge["callbacks"] if c["delivered"]]
        return delivered if len(delivered) == 2 else []

    assert await eventually(both_delivered) == ["charge.settled", "charge.failed"]
    payment = await world.payment(intent["intent_id"])
    assert payment["status"] == "captured"
    assert payment["failure_reason"] is None
    assert await world.types(fr, intent["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]


async def test_a_forged_callback_is_refused_logged_and_changes_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="gopay")
    await world.force("gopay", body["order_id"], "timeout")
    intent = await world.create_intent(body)
    forged = json.dumps(
        {
            "event": "charge.settled",
            "transaction_id": intent["transaction_id"],
            "merchant_ref": intent["intent_id"],
            "amount": body["amount"],
            "paid_at": "2026-01-01T00:00:00Z",
        }
    ).encode()
    attempts = {
        "wrong secret": {"X-Provider-Signature": sign("guessed-secret", forged)},
        "another provider's secret": {"X-Provider-Signature": sign("dev-secret-ovo", forged)},
        "no signature": {},
        "not hex": {"X-Provider-Signature": "sha256=not-a-digest"},
    }

    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        for headers in attempts.values():
            status, reply = await world.call(
                "POST",
                "/webhooks/gopay",
                data=forged,
                headers={"Content-Type": "application/json", **headers},
            )
            assert status == 401
            assert reply["status"] == "error"
            assert reply["error"]["code"] == "invalid_signature"

    events = [r for r in caplog.records if r.__dict__.get("security_event") == "forged_webhook"]
    assert len(events) == len(attempts)
    assert {r.__dict__["provider"] for r in events} == {"gopay"}
    assert (await world.payment(intent["intent_id"]))["status"] == "pending"
    assert await world.types(fr, intent["intent_id"]) == ["payment.intent_created"]

    # The same body correctly signed (a leaked or default secret) is refused too: the
    # provider's status inquiry says the charge never settled, so nothing is captured.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        status, reply = await world.call(
            "POST",
            "/webhooks/gopay",
            data=forged,
            headers={
                "Content-Type": "application/json",
                "X-Provider-Signature": sign("dev-secret-gopay", forged),
            },
        )
    assert (status, reply["error"]["code"]) == (409, "settlement_unconfirmed"), reply
    assert reply["error"]["details"]["provider_status"] == "pending"
    (refused,) = [r for r in caplog.records if r.__dict__.get("security_event")]
    assert refused.__dict__["security_event"] == "callback_refused"
    assert (await world.payment(intent["intent_id"]))["status"] == "pending"
    assert await world.types(fr, intent["intent_id"]) == ["payment.intent_created"]


async def test_a_signed_settlement_for_another_amount_or_an_unknown_charge_is_refused(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    fr = new_franchise()
    paid = await world.paid(fr, provider="ovo")
    other = world.intent_body(fr, provider="ovo")
    await world.force("ovo", other["order_id"], "timeout")
    unpaid = await world.create_intent(other)
    # The settled charge's transaction named by a callback for the unpaid intent.
    claims = [
        {"merchant_ref": unpaid["intent_id"], "transaction_id": unpaid["transaction_id"]},
        {"merchant_ref": unpaid["intent_id"], "transaction_id": paid["transaction_id"]},
    ]
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        for claim in claims:
            raw = json.dumps({"event": "charge.settled", "amount": other["amount"], **claim})
            status, reply = await world.call(
                "POST",
                "/webhooks/ovo",
                data=raw.encode(),
                headers={
                    "Content-Type": "application/json",
                    "X-Provider-Signature": sign("dev-secret-ovo", raw.encode()),
                },
            )
            assert 400 <= status < 500, reply
    events = [r for r in caplog.records if r.__dict__.get("security_event") == "callback_refused"]
    assert len(events) == len(claims)
    assert (await world.payment(unpaid["intent_id"]))["status"] == "pending"


async def test_a_capture_after_expiry_is_refunded_automatically_at_the_provider(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="qris", amount=55_000)
    await world.force("qris", body["order_id"], "success", delay_s=INTENT_TTL_S + 1.0)

    intent = await world.create_intent(body)
    await world.wait_status(intent["intent_id"], "expired", timeout=INTENT_TTL_S + 5)

    payment = await world.wait_status(intent["intent_id"], "refunded", timeout=10)
    assert payment["late_capture"] is True
    assert payment["captured_amount"] == 55_000
    assert payment["refunded_amount"] == 55_000
    (refund,) = payment["refunds"]
    assert refund["automatic"] is True
    assert refund["status"] == "succeeded"
    history = await world.history(fr, intent["intent_id"])
    assert [e.type for e in history] == [
        "payment.intent_created",
        "payment.expired",
        "payment.captured",
        "payment.refund_requested",
        "payment.refunded",
    ]
    assert history[2].data["late"] is True
    assert history[4].data["full"] is True
    (charge,) = await world.charges("qris", body["order_id"])
    assert charge["refunded"] == 55_000
    assert refunds_held(charge) == {refund["provider_refund_id"]: 55_000}


async def test_a_pending_intent_can_be_voided_and_a_late_capture_is_then_refunded(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="ovo", amount=30_000)
    await world.force("ovo", body["order_id"], "success", delay_s=0.8)
    intent = await world.create_intent(body)
    path = f"/internal/intents/{intent['intent_id']}/void"

    first = await world.call("POST", path, token=world.service_token)
    again = await world.call("POST", path, token=world.service_token, json={"reason": "again"})

    assert first[0] == again[0] == 200
    assert first[1]["data"]["status"] == again[1]["data"]["status"] == "voided"
    payment = await world.wait_status(intent["intent_id"], "refunded")
    assert payment["late_capture"] is True
    types = await world.types(fr, intent["intent_id"])
    assert types.count("payment.voided") == 1
    assert types[-1] == "payment.refunded"


async def test_voiding_a_captured_payment_is_refused(world: World) -> None:
    payment = await world.paid(new_franchise())

    status, reply = await world.call(
        "POST", f"/internal/intents/{payment['intent_id']}/void", token=world.service_token
    )

    assert status == 409
    assert reply["error"]["code"] == "already_captured"
    assert (await world.payment(payment["intent_id"]))["status"] == "captured"


async def test_the_same_intent_request_twice_makes_one_intent_and_one_provider_charge(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="gopay")
    await world.force("gopay", body["order_id"], "timeout")

    first = await world.create_intent(body)
    second = await world.create_intent(body)

    assert second == first
    (charge,) = await world.charges("gopay", body["order_id"])
    assert charge["requests"] == 1
    assert await world.types(fr, first["intent_id"]) == ["payment.intent_created"]


async def test_racing_intent_requests_for_one_order_make_one_intent_and_one_charge(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="dana")
    await world.force("dana", body["order_id"], "timeout")

    replies = await asyncio.gather(
        *(
            world.call("POST", "/internal/intents", token=world.service_token, json=body)
            for _ in range(5)
        )
    )

    assert {status for status, _ in replies} == {201}
    assert len({reply["data"]["transaction_id"] for _, reply in replies}) == 1
    assert len(await world.charges("dana", body["order_id"])) == 1
    assert await world.types(fr, intent_id_of(body["order_id"])) == ["payment.intent_created"]


async def test_the_same_order_with_other_details_is_refused(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="gopay", amount=20_000)
    await world.create_intent(body)

    status, reply = await world.call(
        "POST",
        "/internal/intents",
        token=world.service_token,
        json={**body, "amount": 1_000},
    )
    other_franchise = await world.call(
        "POST",
        "/internal/intents",
        token=world.service_token,
        json={**body, "franchise_id": new_franchise()},
    )

    assert status == 409
    assert reply["error"]["code"] == "intent_conflict"
    assert other_franchise[0] == 409


async def test_internal_endpoints_need_the_service_role(world: World) -> None:
    fr = new_franchise()
    body = world.intent_body(fr)

    no_token = await world.call("POST", "/internal/intents", json=body)
    owner = await world.call("POST", "/internal/intents", token=world.owner_token(fr), json=body)

    assert no_token[0] == 401
    assert owner[0] == 403
    status, reply = await world.call(
        "GET", f"/payments?order_id={body['order_id']}", token=world.hq_token
    )
    assert status == 200
    assert reply["data"] == {"items": [], "next_cursor": None}


async def test_an_order_payment_is_found_by_order_id(world: World) -> None:
    fr = new_franchise()
    order_id = new_order_id()
    payment = await world.paid(fr, order_id=order_id)

    status, reply = await world.call(
        "GET", f"/payments?order_id={order_id}", token=world.owner_token(fr)
    )

    assert status == 200
    assert [p["intent_id"] for p in reply["data"]["items"]] == [payment["intent_id"]]


async def test_an_unavailable_provider_is_retried_a_bounded_number_of_times(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="ovo")
    _, before = await world.sim("POST", "/_control/ovo", {"api_error_rate": 1.0})

    try:
        status, reply = await world.call(
            "POST", "/internal/intents", token=world.service_token, json=body
        )
    finally:
        _, after = await world.sim("POST", "/_control/ovo", {"api_error_rate": 0.0})

    assert status == 502
    assert reply["error"]["code"] == "provider_error"
    # One call and the client's two retries, each with the same Idempotency-Key.
    assert after["data"]["failed_api_calls"] - before["data"]["failed_api_calls"] == 3
    assert await world.types(fr, intent_id_of(body["order_id"])) == []
    intent = await world.create_intent(body)
    assert len(await world.charges("ovo", body["order_id"])) == 1
    assert intent["status"] in ("pending", "captured")


async def test_a_capture_racing_the_expiry_never_both_wins(world: World) -> None:
    fr = new_franchise()
    intents = []
    # The provider settles (twice) right around the moment each intent expires, while the
    # sweeper is expiring it: whichever append comes first wins, the other adapts.
    for offset in (-0.1, -0.02, 0.0, 0.02, 0.05, 0.1):
        body = world.intent_body(fr, provider="gopay")
        await world.force("gopay", body["order_id"], "duplicate", delay_s=INTENT_TTL_S + offset)
        intents.append((body, await world.create_intent(body)))

    async def settled() -> bool:
        for body, _ in intents:
            (charge,) = await world.charges("gopay", body["order_id"])
            if [c["delivered"] for c in charge["callbacks"]] != [True, True]:
                return False
        return True

    await eventually(settled, timeout=INTENT_TTL_S + 5)
    outcomes = set()
    for _, intent in intents:
        types = await world.types(fr, intent["intent_id"])
        assert types.count("payment.captured") == 1
        if "payment.expired" in types:  # expiry won: the capture was late and goes back
            outcomes.add("expired first")
            assert types[1:4] == [
                "payment.expired",
                "payment.captured",
                "payment.refund_requested",
            ]
            payment = await world.wait_status(intent["intent_id"], "refunded")
            assert payment["late_capture"] is True
        else:  # the capture won: nothing expires afterwards
            outcomes.add("captured first")
            assert types == ["payment.intent_created", "payment.captured"]
            assert (await world.payment(intent["intent_id"]))["status"] == "captured"
    assert outcomes  # (which side wins each race is up to timing)
