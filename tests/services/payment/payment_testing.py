"""Helpers of the payment tests: ids, tokens, and a client for both running servers."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from nats.js.errors import NotFoundError
from support import eventually, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event
from bobaku.kernel.settings import Settings
from bobaku.services.payment.bootstrap import build_app as build_payment
from bobaku.services.payment.entrypoints.http import CONTEXT
from bobaku.services.payment.settings import PaymentSettings
from bobaku.services.provider_sim.bootstrap import build_app as build_sim
from bobaku.services.provider_sim.settings import ProviderSimSettings

INTENT_TTL_S = 2.0
PROVIDERS = ("gopay", "ovo", "dana", "shopeepay", "qris", "card")
PREFIX = dict(zip(PROVIDERS, ("gpy", "ovo", "dna", "spp", "qrs", "crd"), strict=True))


def new_franchise() -> str:
    return f"fr-t{secrets.token_hex(4)}"


def new_order_id() -> str:
    return f"ord-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def new_customer_id() -> str:
    return f"u-{secrets.token_hex(6)}"


def intent_id_of(order_id: str) -> str:
    return "pay-" + order_id[len("ord-") :]


def refunds_held(charge: dict[str, Any]) -> dict[str, int]:
    """The refunds a provider holds for a charge, its refund id to the amount: one per refund
    idempotency key, each sent at least once. How often a key was sent is not asserted: the
    deadline sweeper asks again, with the same key, for a refund whose answer is late (on a
    loaded machine, any answer slower than ``payment_refund_retry_s``), and that is correct."""
    refunds = charge["refunds"]
    assert all(r["requests"] >= 1 for r in refunds), refunds
    held = {r["refund_id"]: r["amount"] for r in refunds}
    assert len(held) == len(refunds), refunds
    return held


def refunds_taken(payment: dict[str, Any]) -> dict[str, int]:
    """A payment's succeeded refunds, by the provider's id for each, to the amount."""
    return {
        r["provider_refund_id"]: r["amount"]
        for r in payment["refunds"]
        if r["status"] == "succeeded"
    }


@dataclass
class World:
    http: aiohttp.ClientSession
    payment_url: str
    sim_url: str
    app: web.Application
    issuer: TokenIssuer

    # -- tokens ---------------------------------------------------------------------

    @property
    def service_token(self) -> str:
        return self.issuer.issue("svc-order", [Role.SERVICE])

    @property
    def hq_token(self) -> str:
        return self.issuer.issue("u-000000000001", [Role.HQ_ADMIN])

    def owner_token(self, franchise_id: str) -> str:
        return self.issuer.issue(
            "u-0000000000aa", [Role.FRANCHISE_OWNER], franchise_id=franchise_id
        )

    def manager_token(self, franchise_id: str, *outlets: str) -> str:
        return self.issuer.issue(
            "u-0000000000bb", [Role.OUTLET_MANAGER], franchise_id=franchise_id, outlet_ids=outlets
        )

    # -- HTTP -----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        send = dict(headers or {})
        if token:
            send["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.payment_url + path, json=json, data=data, headers=send
        ) as resp:
            return resp.status, await resp.json()

    async def sim(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.sim_url + path, json=json) as resp:
            return resp.status, await resp.json()

    async def force(self, provider: str, order_id: str, outcome: str, delay_s: float = 0) -> None:
        """Decide what the provider will do with this order's charge."""
        status, body = await self.sim(
            "POST",
            f"/_control/{provider}/next",
            {"outcome": outcome, "delay_s": delay_s, "merchant_ref": intent_id_of(order_id)},
        )
        assert status == 200, body

    async def charges(self, provider: str, order_id: str) -> list[dict[str, Any]]:
        status, body = await self.sim(
            "GET", f"/_control/{provider}/charges?merchant_ref={intent_id_of(order_id)}"
        )
        assert status == 200, body
        items: list[dict[str, Any]] = body["data"]["items"]
        return items

    # -- payments -------------------------------------------------------------------

    def intent_body(
        self,
        franchise_id: str,
        *,
        provider: str = "gopay",
        amount: int = 82_000,
        order_id: str | None = None,
        outlet_id: str = "outlet-1",
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "order_id": order_id or new_order_id(),
            "franchise_id": franchise_id,
            "outlet_id": outlet_id,
            "customer_id": customer_id or new_customer_id(),
            "provider": provider,
            "amount": amount,
        }

    async def create_intent(self, body: dict[str, Any]) -> dict[str, Any]:
        status, reply = await self.call(
            "POST", "/internal/intents", token=self.service_token, json=body
        )
        assert status == 201, reply
        data: dict[str, Any] = reply["data"]
        return data

    async def payment(self, intent_id: str) -> dict[str, Any]:
        status, reply = await self.call("GET", f"/payments/{intent_id}", token=self.hq_token)
        assert status == 200, reply
        data: dict[str, Any] = reply["data"]
        return data

    async def wait_status(self, intent_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            payment = await self.payment(intent_id)
            return payment if payment["status"] == status else None

        return await eventually(reached, timeout=timeout)

    async def paid(self, franchise_id: str, **kw: Any) -> dict[str, Any]:
        """A captured payment (the provider settles at once)."""
        intent = await self.create_intent(self.intent_body(franchise_id, **kw))
        return await self.wait_status(intent["intent_id"], "captured")

    async def history(self, franchise_id: str, intent_id: str) -> list[Event]:
        store = self.app[CONTEXT].payments.store
        return (await store.load(store.subject(franchise_id, intent_id))).events

    async def types(self, franchise_id: str, intent_id: str) -> list[str]:
        return [e.type for e in await self.history(franchise_id, intent_id)]


@contextlib.asynccontextmanager
async def running_world(
    settings: Settings, token_issuer: TokenIssuer, bus: EventBus, **overrides: Any
) -> AsyncIterator[World]:
    """A provider simulator and a payment service on ports of their own (``overrides``
    change the shared settings of both: another Redis, another NATS deployment)."""
    sim_port, payment_port = free_port(), free_port()
    sim_url, payment_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{payment_port}"
    base = {**settings.model_dump(), **overrides}
    sim_settings = ProviderSimSettings(
        **{**base, "service_name": "provider-sim", "provider_sim_mode": "instant"}
    )
    durable = f"payment-projector-{secrets.token_hex(4)}"
    payment_settings = PaymentSettings(
        **{
            **base,
            "service_name": "payment",
            "provider_sim_url": sim_url,
            "payment_webhook_base_url": payment_url,
            "payment_intent_ttl_s": INTENT_TTL_S,
            "payment_sweep_interval_s": 0.1,
            "payment_refund_retry_s": 1.0,
            "payment_projector_durable": durable,
        }
    )
    payment_app = build_payment(payment_settings)
    sim_server = TestServer(build_sim(sim_settings), host="127.0.0.1", port=sim_port)
    payment_server = TestServer(payment_app, host="127.0.0.1", port=payment_port)
    # A short drain bound: a callback in flight at the end must not hold the session open.
    await sim_server.start_server(shutdown_timeout=3)
    await payment_server.start_server(shutdown_timeout=3)
    try:
        async with aiohttp.ClientSession() as http:
            yield World(http, payment_url, sim_url, payment_app, token_issuer)
    finally:
        await payment_server.close()
        await sim_server.close()
    # The projector's durable consumer is this world's own: remove it (if still there).
    names = payment_settings.nats_names
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_consumer(
            names.stream("ES_PAYMENT"), f"{payment_settings.deployment_id}-{durable}"
        )
