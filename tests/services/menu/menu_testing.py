"""The menu test harness: a running app, its clock, tokens and small helpers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EVENTS_STREAM, EventBus
from bobaku.kernel.settings import Settings

# A Tuesday, 12:00 in Jakarta: the demo outlets (10:00-22:00) are open.
NOON_IN_JAKARTA = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime = NOON_IN_JAKARTA

    def __call__(self) -> datetime:
        return self.now


@dataclass
class MenuService:
    """A running menu app and what a test needs to talk to it."""

    client: TestClient[Any, Any]
    app: web.Application
    clock: FakeClock
    issuer: TokenIssuer
    bus: EventBus
    settings: Settings
    franchises: set[str] = field(default_factory=set)

    def token(
        self, *roles: Role, franchise_id: str | None = None, outlet_ids: Iterable[str] = ()
    ) -> str:
        return self.issuer.issue(
            f"u-{secrets.token_hex(6)}", roles, franchise_id=franchise_id, outlet_ids=outlet_ids
        )

    @property
    def service(self) -> str:
        return self.token(Role.SERVICE)

    @property
    def hq(self) -> str:
        return self.token(Role.HQ_ADMIN)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        data: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        async with self.client.request(
            method, path, json=json, data=data, headers=sent
        ) as response:
            return response.status, await response.json()

    def new_franchise(self) -> str:
        franchise_id = f"fr-t{secrets.token_hex(4)}"
        self.franchises.add(franchise_id)
        return franchise_id

    async def new_outlet(self, franchise_id: str | None = None, **fields: Any) -> tuple[str, str]:
        """Register an outlet of its own (in a new franchise unless one is given)."""
        franchise_id = franchise_id or self.new_franchise()
        outlet_id = f"outlet-{secrets.randbelow(10**9) + 10**9}"
        body = {"franchise_id": franchise_id, "name": f"BobaKu Test {outlet_id}", **fields}
        status, answer = await self.call(
            "PUT", f"/internal/outlets/{outlet_id}", json=body, token=self.service
        )
        assert status == 201, answer
        return outlet_id, franchise_id

    async def new_item(self, **fields: Any) -> str:
        """Add an item of its own to the HQ catalog."""
        item_id = f"m{secrets.randbelow(900_000) + 100_000}"
        body = {
            "id": item_id,
            "name": f"Test Tea {item_id}",
            "category_id": "c01",
            "base_price": 20000,
            "topping_ids": ["t001", "t003"],
            **fields,
        }
        status, answer = await self.call("POST", "/items", json=body, token=self.hq)
        assert status == 201, answer
        return item_id

    async def menu_item(self, outlet_id: str, item_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/outlets/{outlet_id}/menu")
        assert status == 200, body
        for category in body["data"]["categories"]:
            for item in category["items"]:
                if item["id"] == item_id:
                    return dict(item)
        raise AssertionError(f"{item_id} is not on the menu of {outlet_id}")

    async def events_on(self, subject: str, stream: str = EVENTS_STREAM) -> int:
        """How many messages the stream holds on ``subject`` (wildcards allowed)."""
        info = await self.bus.js.stream_info(stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())

    async def caches_settled(self) -> None:
        """Wait until the cache-invalidation consumer has handled every event published so
        far, so that a test's own setup (a new item, a new outlet) cannot drop what the test
        is about to cache."""
        from support import eventually

        durable = f"{self.settings.deployment_id}-menu-cache"

        async def caught_up() -> bool:
            info = await self.bus.js.consumer_info(EVENTS_STREAM, durable)
            return not info.num_pending and not info.num_ack_pending

        await eventually(caught_up)
