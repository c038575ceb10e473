"""What the customer service tests share: a client of the app, and a stand-in for the
order service that appends its events to the order aggregates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.web import BUS, DATABASES
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.domain.loyalty import Ledger

PASSWORD = "teh-tarik-2026"


@dataclass
class CustomerApi:
    """A client of the running app, with the shortcuts the tests share."""

    client: TestClient[Any, Any]
    service_token: str
    bus: EventBus

    @property
    def app(self) -> Any:
        return self.client.app

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        resp = await self.client.request(method, path, json=json, data=data, headers=hdrs)
        return resp.status, await resp.json()

    async def register(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "email": f"cust-{secrets.token_hex(5)}@example.com",
            "password": PASSWORD,
            "name": "Test Customer",
            "language": "id",
            **overrides,
        }
        status, answer = await self.call("POST", "/auth/register", json=body)
        assert status == 201, answer
        return dict(answer["data"])

    async def me(self, access_token: str) -> dict[str, Any]:
        status, body = await self.call("GET", "/me", token=access_token)
        assert status == 200, body
        return dict(body["data"])

    async def internal(
        self, method: str, path: str, json: Any = None
    ) -> tuple[int, dict[str, Any]]:
        return await self.call(method, path, token=self.service_token, json=json)

    @property
    def databases(self) -> Any:
        return self.app[DATABASES]

    async def ledger(self, customer_id: str) -> Ledger:
        ledger, _ = await LedgerStore(self.app[BUS]).load(customer_id)
        return ledger

    async def ledger_types(self, customer_id: str) -> list[str]:
        return [e.type for e in await LedgerStore(self.app[BUS]).events(customer_id)]

    async def card(self, customer_id: str) -> dict[str, Any]:
        status, body = await self.internal("GET", f"/internal/customers/{customer_id}")
        assert status == 200, body
        return dict(body["data"])

    async def points_settle_at(self, customer_id: str, points: int) -> dict[str, Any]:
        """Wait until both the ledger and the read model show ``points``."""

        async def settled() -> dict[str, Any] | None:
            if (await self.ledger(customer_id)).points != points:
                return None
            card = await self.card(customer_id)
            return card if card["current_points"] == points else None

        return await eventually(settled, timeout=10)


class Orders:
    """Stands in for the order service: appends its events to the order aggregates."""

    def __init__(self, bus: EventBus) -> None:
        self.store = AggregateStore(bus, "order")

    @staticmethod
    def new_id() -> str:
        return f"ord-20261124-{secrets.token_hex(4)}"

    async def append(self, franchise_id: str, order_id: str, event: Event) -> Event:
        subject = self.store.subject(franchise_id, order_id)
        await self.store.append(subject, [event], await self.store.last_seq(subject))
        return event

    async def paid(
        self, customer_id: str, amount: int, *, order_id: str | None = None, fr: str = "fr-jakarta"
    ) -> Event:
        order_id = order_id or self.new_id()
        event = new_event(
            "order.payment_completed",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "intent_id": f"pay-20261124-{secrets.token_hex(4)}",
                "transaction_id": f"gpy-{secrets.randbelow(10**9)}",
                "amount": amount,
                "paid_at": "2026-11-24T10:00:00Z",
            },
            source="order-service",
            tenant=fr,
        )
        return await self.append(fr, order_id, event)

    async def refunded(
        self,
        customer_id: str,
        order_id: str,
        amount: int,
        *,
        total_refunded: int,
        full: bool,
        refund_id: str | None = None,
        fr: str = "fr-jakarta",
    ) -> Event:
        event = new_event(
            "order.refunded",
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "refund_id": refund_id or f"rfd-{secrets.token_hex(4)}",
                "amount": amount,
                "total_refunded": total_refunded,
                "full": full,
            },
            source="order-service",
            tenant=fr,
        )
        return await self.append(fr, order_id, event)
