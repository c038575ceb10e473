"""The provider simulator on its own: it behaves like a real provider toward any merchant.

A tiny merchant endpoint records what the simulator sends it, and answers what the test
tells it to (e.g. 500 twice, then 200).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support import eventually

from bobaku.kernel.settings import Settings
from bobaku.services.provider_sim.bootstrap import build_app
from bobaku.services.provider_sim.domain.providers import crc16_ccitt, qris_payload
from bobaku.services.provider_sim.settings import ProviderSimSettings

RETRY_DELAYS = (0.05, 0.1, 0.1)


@dataclass
class Merchant:
    """Records callbacks; answers each with the next status in ``answers`` (then 200)."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def callback(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"ok": status < 300}, status=status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@dataclass
class Sandbox:
    http: aiohttp.ClientSession
    url: str
    merchant: Merchant
    callback_url: str

    async def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Idempotency-Key": key} if key else {}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def charge(self, provider: str, ref: str, amount: int = 25_000) -> dict[str, Any]:
        status, reply = await self.call(
            "POST",
            f"/{provider}/v1/charges",
            {
                "merchant_ref": ref,
                "amount": amount,
                "currency": "IDR",
                "callback_url": self.callback_url,
            },
            key=f"key-{ref}",
        )
        assert status == 201, reply
        data: dict[str, Any] = reply["data"]
        return data


@pytest.fixture(scope="module")
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    merchant = Merchant()
    receiver = web.Application()
    receiver.router.add_post("/callbacks", merchant.callback)
    sim_settings = ProviderSimSettings(
        **{
            **settings.model_dump(),
            "service_name": "provider-sim",
            "provider_sim_mode": "realistic",
            "provider_sim_seed": 7,
            "provider_settlement_delay_s": 0.0,
            "provider_failure_rate": 0.0,
            "provider_timeout_rate": 0.0,
            "provider_duplicate_rate": 0.0,
            "provider_reorder_rate": 0.0,
            "provider_callback_retry_delays_s": RETRY_DELAYS,
        }
    )
    async with (
        TestServer(receiver) as merchant_server,
        TestServer(build_app(sim_settings)) as sim_server,
        aiohttp.ClientSession() as http,
    ):
        yield Sandbox(
            http,
            str(sim_server.make_url("")).rstrip("/"),
            merchant,
            str(merchant_server.make_url("/callbacks")),
        )


def valid_signature(provider: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(f"dev-secret-{provider}".encode(), body, hashlib.sha256).hexdigest()
    return headers.get("X-Provider-Signature") == f"sha256={expected}"


async def test_a_callback_is_signed_and_retried_with_back_off_until_the_merchant_takes_it(
    sandbox: Sandbox,
) -> None:
    sandbox.merchant.received.clear()
    sandbox.merchant.answers[:] = [500, 503]

    charge = await sandbox.charge("gopay", "ref-retry")

    await eventually(lambda: _settled_callbacks(sandbox, 3))
    assert all(valid_signature("gopay", h, b) for h, b in sandbox.merchant.received)
    assert len({h["X-Provider-Notification-Id"] for h, _ in sandbox.merchant.received}) == 1
    body = sandbox.merchant.bodies()[-1]
    assert body["event"] == "charge.settled"
    assert body["transaction_id"] == charge["transaction_id"]
    assert body["merchant_ref"] == "ref-retry"
    assert body["amount"] == 25_000
    assert body["paid_at"].endswith("Z")
    (record,) = await _records(sandbox, "gopay", "ref-retry")
    assert record["callbacks"][0]["attempts"] == 3
    assert record["callbacks"][0]["delivered"] is True


async def test_the_provider_gives_up_after_its_retries(sandbox: Sandbox) -> None:
    sandbox.merchant.received.clear()
    sandbox.merchant.answers[:] = [500] * 10

    await sandbox.charge("dana", "ref-give-up")

    async def gave_up() -> bool:
        (record,) = await _records(sandbox, "dana", "ref-give-up")
        callback = record["callbacks"][0] if record["callbacks"] else {}
        return callback.get("attempts") == len(RETRY_DELAYS) + 1 and not callback["delivered"]

    await eventually(gave_up)
    sandbox.merchant.answers.clear()


async def test_a_charge_is_idempotent_on_its_key(sandbox: Sandbox) -> None:
    first = await sandbox.charge("ovo", "ref-idem")
    again = await sandbox.charge("ovo", "ref-idem")
    status, reply = await sandbox.call(
        "POST",
        "/ovo/v1/charges",
        {"merchant_ref": "ref-idem", "amount": 1, "currency": "IDR", "callback_url": "http://x/"},
        key="key-ref-idem",
    )

    assert (again["transaction_id"], again["action"]) == (first["transaction_id"], first["action"])
    assert first["transaction_id"].startswith("ovo-")
    assert (status, reply["error"]["code"]) == (409, "idempotency_key_reused")
    (record,) = await _records(sandbox, "ovo", "ref-idem")
    assert record["requests"] == 2


async def test_refunds_are_idempotent_and_never_exceed_the_charge(sandbox: Sandbox) -> None:
    charge = await sandbox.charge("card", "ref-refund", amount=10_000)
    path = f"/card/v1/charges/{charge['transaction_id']}/refunds"

    async def settled() -> bool:
        _, reply = await sandbox.call("GET", f"/card/v1/charges/{charge['transaction_id']}")
        return bool(reply["data"]["status"] == "settled")

    await eventually(settled)
    first = await sandbox.call("POST", path, {"amount": 6_000}, key="r-1")
    repeat = await sandbox.call("POST", path, {"amount": 6_000}, key="r-1")
    too_much = await sandbox.call("POST", path, {"amount": 4_001}, key="r-2")
    no_key = await sandbox.call("POST", path, {"amount": 1})

    assert first[0] == repeat[0] == 201
    assert first[1]["data"]["refund_id"] == repeat[1]["data"]["refund_id"]
    assert first[1]["data"]["status"] == "succeeded"
    assert (too_much[0], too_much[1]["error"]["code"]) == (409, "refund_exceeds_charge")
    assert (no_key[0], no_key[1]["error"]["details"]["field"]) == (400, "Idempotency-Key")
    (record,) = await _records(sandbox, "card", "ref-refund")
    assert record["refunded"] == 6_000


async def test_each_provider_asks_for_payment_its_own_way(sandbox: Sandbox) -> None:
    actions = {}
    for provider in ("gopay", "qris", "card"):
        actions[provider] = (await sandbox.charge(provider, f"ref-action-{provider}"))["action"]

    assert actions["gopay"]["type"] == "deeplink"
    assert actions["gopay"]["url"].startswith("gojek://gopay/")
    assert actions["card"]["type"] == "redirect"
    async with sandbox.http.get(actions["card"]["url"]) as page:
        assert page.status == 200
        assert "3-D Secure" in await page.text()
    qr = actions["qris"]["qr_string"]
    assert actions["qris"]["type"] == "qr"
    assert qr.startswith("000201010212")
    assert qr[-4:] == f"{crc16_ccitt(qr[:-4].encode()):04X}"


def test_the_qris_payload_carries_amount_and_a_valid_crc() -> None:
    payload = qris_payload("qrs-1234567890", 82_000)

    assert "540582000" in payload  # tag 54, length 05, the amount
    assert "5303360" in payload  # IDR
    assert payload[-8:-4] == "6304"
    assert crc16_ccitt(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value


async def test_behaviour_rates_decide_outcomes_and_bad_input_is_refused(
    sandbox: Sandbox,
) -> None:
    status, behaviour = await sandbox.call("POST", "/_control/shopeepay", {"failure_rate": 1.0})
    assert status == 200
    assert behaviour["data"]["failure_rate"] == 1.0
    sandbox.merchant.received.clear()

    await sandbox.charge("shopeepay", "ref-fails")

    async def failed() -> bool:
        return any(b["event"] == "charge.failed" for b in sandbox.merchant.bodies())

    await eventually(failed)
    await sandbox.call("POST", "/_control/shopeepay", {"failure_rate": 0.0})
    charge = {"merchant_ref": "r", "amount": 1, "currency": "IDR", "callback_url": "http://x/"}
    cases = [
        ("/_control/shopeepay", {"failure_rate": 2}, "failure_rate"),
        ("/_control/shopeepay/next", {"outcome": "maybe"}, "outcome"),
        ("/gopay/v1/charges", {**charge, "currency": "USD"}, "currency"),
        ("/gopay/v1/charges", {**charge, "amount": 0}, "amount"),
        ("/gopay/v1/charges", {**charge, "callback_url": "ftp://x"}, "callback_url"),
    ]
    for path, body, field_name in cases:
        status, reply = await sandbox.call("POST", path, body, key="bad")
        assert status == 422, reply
        assert field_name in [f["field"] for f in reply["error"]["details"]["fields"]]
    unknown = await sandbox.call("POST", "/paypal/v1/charges", {}, key="k")
    assert unknown[0] == 404


async def _records(sandbox: Sandbox, provider: str, ref: str) -> list[dict[str, Any]]:
    _, reply = await sandbox.call("GET", f"/_control/{provider}/charges?merchant_ref={ref}")
    items: list[dict[str, Any]] = reply["data"]["items"]
    return items


async def _settled_callbacks(sandbox: Sandbox, count: int) -> bool:
    return len(sandbox.merchant.received) >= count


async def test_a_newer_forced_outcome_replaces_one_no_charge_used(sandbox: Sandbox) -> None:
    await sandbox.call("POST", "/_control/qris/next", {"outcome": "failure"})
    await sandbox.call("POST", "/_control/qris/next", {"outcome": "timeout"})

    await sandbox.charge("qris", "ref-forced-1")
    await sandbox.charge("qris", "ref-forced-2")

    (first,) = await _records(sandbox, "qris", "ref-forced-1")
    (second,) = await _records(sandbox, "qris", "ref-forced-2")
    assert (first["outcome"], second["outcome"]) == ("timeout", "success")
