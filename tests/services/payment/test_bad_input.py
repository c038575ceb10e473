"""Bad input on every POST: a 4xx envelope that names the field, and nothing written."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from payment_testing import World, new_franchise


def fields_of(reply: Any) -> list[str]:
    return [f["field"] for f in reply["error"]["details"]["fields"]]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"amount": 0}, 422, "amount"),
        ({"amount": "82000"}, 422, "amount"),
        ({"amount": -5}, 422, "amount"),
        ({"provider": "paypal"}, 422, "provider"),
        ({"order_id": "order-1"}, 422, "order_id"),
        ({"franchise_id": "Fr A"}, 422, "franchise_id"),
        ({"outlet_id": "Outlet_23"}, 422, "outlet_id"),
        ({"customer_id": ""}, 422, "customer_id"),
        ({"tip": 1000}, 422, "tip"),
        ({"amount": None}, 422, "amount"),
    ],
)
async def test_a_bad_intent_request_names_the_field_and_charges_nothing(
    world: World, change: dict[str, Any], status: int, field: str
) -> None:
    body = {**world.intent_body(new_franchise(), provider="gopay"), **change}
    got, reply = await world.call("POST", "/internal/intents", token=world.service_token, json=body)

    assert got == status, reply
    assert reply["status"] == "error"
    assert field in fields_of(reply)
    assert await world.charges("gopay", body["order_id"]) == []
    if body["order_id"].startswith("ord-"):
        found = await world.call(
            "GET", f"/payments?order_id={body['order_id']}", token=world.hq_token
        )
        assert (found[0], found[1]["data"]["items"]) == (200, [])


async def test_an_intent_request_that_is_not_json_is_refused(world: World) -> None:
    token = world.service_token
    malformed = await world.call(
        "POST",
        "/internal/intents",
        token=token,
        data=b'{"order_id": ',
        headers={"Content-Type": "application/json"},
    )
    wrong_type = await world.call(
        "POST",
        "/internal/intents",
        token=token,
        data=b"amount=1",
        headers={"Content-Type": "text/plain"},
    )
    missing = await world.call(
        "POST", "/internal/intents", token=token, json={"order_id": "ord-20260101-00000000"}
    )

    assert (malformed[0], malformed[1]["error"]["code"]) == (400, "malformed_json")
    assert (wrong_type[0], wrong_type[1]["error"]["code"]) == (415, "unsupported_media_type")
    assert missing[0] == 422
    assert {"franchise_id", "outlet_id", "customer_id", "provider", "amount"} <= set(
        fields_of(missing[1])
    )


async def test_voiding_an_unknown_or_malformed_intent_is_a_404(world: World) -> None:
    token = world.service_token
    unknown = await world.call("POST", "/internal/intents/pay-20260101-00000000/void", token=token)
    malformed = await world.call("POST", "/internal/intents/../void", token=token)
    bad_reason = await world.call(
        "POST", "/internal/intents/pay-20260101-00000000/void", token=token, json={"reason": 5}
    )

    assert (unknown[0], unknown[1]["error"]["code"]) == (404, "payment_not_found")
    assert malformed[0] == 404
    assert bad_reason[0] == 422
    assert fields_of(bad_reason[1]) == ["reason"]


def signed(provider: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(f"dev-secret-{provider}".encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Provider-Signature": f"sha256={digest}"}


async def test_a_signed_but_malformed_callback_names_the_field_and_changes_nothing(
    world: World,
) -> None:
    fr = new_franchise()
    body = world.intent_body(fr, provider="gopay")
    await world.force("gopay", body["order_id"], "timeout")
    intent = await world.create_intent(body)
    good = {
        "event": "charge.settled",
        "transaction_id": intent["transaction_id"],
        "merchant_ref": intent["intent_id"],
        "amount": body["amount"],
    }
    cases = [
        (b'{"event": "charge.settled",', 400, None),
        (json.dumps({**good, "amount": "lots"}).encode(), 422, "amount"),
        (
            json.dumps({k: v for k, v in good.items() if k != "merchant_ref"}).encode(),
            422,
            "merchant_ref",
        ),
        (json.dumps({**good, "paid_at": "yesterday"}).encode(), 422, "paid_at"),
        (json.dumps({**good, "transaction_id": "gpy-1"}).encode(), 422, "transaction_id"),
        (json.dumps({**good, "amount": 1}).encode(), 422, "amount"),
        (json.dumps({**good, "event": "dispute.lost"}).encode(), 422, "dispute_id"),
    ]
    for raw, status, field in cases:
        got, reply = await world.call(
            "POST", "/webhooks/gopay", data=raw, headers=signed("gopay", raw)
        )
        assert got == status, (raw, reply)
        if field:
            assert field in fields_of(reply), reply

    unknown_provider = await world.call(
        "POST", "/webhooks/paypal", data=b"{}", headers=signed("paypal", b"{}")
    )
    assert unknown_provider[0] == 404
    assert await world.types(fr, intent["intent_id"]) == ["payment.intent_created"]


async def test_a_bad_refund_request_names_the_field_and_refunds_nothing(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, provider="dana")
    path = f"/payments/{payment['intent_id']}/refunds"
    owner = world.owner_token(fr)
    key = {"Idempotency-Key": "k-1"}
    cases = [
        ({"amount": 1_000, "reason": "x"}, {}, 400, None),
        ({"amount": -1, "reason": "x"}, key, 422, "amount"),
        ({"amount": "1000", "reason": "x"}, key, 422, "amount"),
        ({"amount": 1_000}, key, 422, "reason"),
        ({"amount": 1_000, "reason": ""}, key, 422, "reason"),
        ({"amount": 1_000, "reason": "x", "to": "me"}, key, 422, "to"),
    ]
    for body, headers, status, field in cases:
        got, reply = await world.call("POST", path, token=owner, json=body, headers=headers)
        assert got == status, (body, reply)
        if field:
            assert field in fields_of(reply)
        else:
            assert reply["error"]["details"]["field"] == "Idempotency-Key"

    assert (await world.payment(payment["intent_id"]))["refunds"] == []
    (charge,) = await world.charges("dana", payment["order_id"])
    assert charge["refund_requests"] == 0


async def test_bad_dispute_evidence_is_refused(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr)
    owner = world.owner_token(fr)
    base = f"/payments/{payment['intent_id']}/disputes"

    empty = await world.call("POST", f"{base}/dsp-1/evidence", token=owner, json={"text": ""})
    unknown = await world.call("POST", f"{base}/dsp-1/evidence", token=owner, json={"text": "hi"})

    assert (empty[0], fields_of(empty[1])) == (422, ["text"])
    assert (unknown[0], unknown[1]["error"]["code"]) == (404, "dispute_not_found")
    assert await world.types(fr, payment["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]


async def test_bad_report_queries_name_the_parameter(world: World) -> None:
    fr = new_franchise()
    owner = world.owner_token(fr)
    cases = [
        (f"/reports/settlement?date=2026-13-01&franchise_id={fr}", owner, "date"),
        (f"/reports/settlement?date=yesterday&franchise_id={fr}", owner, "date"),
        ("/reports/settlement?outlet_id=Main_St", owner, "outlet_id"),
        ("/reports/settlement", world.hq_token, "franchise_id"),
    ]
    for path, token, field in cases:
        status, reply = await world.call("GET", path, token=token)
        assert status == 422, (path, reply)
        assert fields_of(reply) == [field]
    staff = world.issuer.issue("u-0000000000cc", ["staff"], franchise_id=fr)
    assert (await world.call("GET", "/reports/settlement", token=staff))[0] == 403


async def test_a_signed_dispute_beyond_the_capture_is_refused_logged_and_changes_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    fr = new_franchise()
    payment = await world.paid(fr, provider="gopay", amount=28_000)
    base = {
        "event": "dispute.opened",
        "transaction_id": payment["transaction_id"],
        "merchant_ref": payment["intent_id"],
        "reason": "not received",
    }
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        for n, amount in enumerate((999_999_999, 28_001)):
            raw = json.dumps({**base, "dispute_id": f"dsp-{n}", "amount": amount}).encode()
            got, reply = await world.call(
                "POST", "/webhooks/gopay", data=raw, headers=signed("gopay", raw)
            )
            assert got == 422, reply
            assert fields_of(reply) == ["amount"]
    refused = [r for r in caplog.records if r.__dict__.get("security_event") == "callback_refused"]
    assert len(refused) == 2
    assert (await world.payment(payment["intent_id"]))["disputes"] == []
    assert await world.types(fr, payment["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
    ]
    # The whole capture may still be refunded: nothing was held by the refused disputes.
    got, reply = await world.call(
        "POST",
        f"/payments/{payment['intent_id']}/refunds",
        token=world.owner_token(fr),
        json={"amount": 28_000, "reason": "customer asked"},
        headers={"Idempotency-Key": "k-all"},
    )
    assert got in (201, 202), reply
