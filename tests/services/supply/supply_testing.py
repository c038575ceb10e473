"""The supply test harness: two running supply replicas, a menu, tokens, small helpers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus

Client = TestClient[Any, Any]


@dataclass
class SupplyHarness:
    menu: Client
    replicas: list[Client]
    issuer: TokenIssuer
    bus: EventBus
    franchises: set[str] = field(default_factory=set)

    @property
    def supply(self) -> Client:
        return self.replicas[0]

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

    def owner(self, franchise_id: str) -> str:
        return self.token(Role.FRANCHISE_OWNER, franchise_id=franchise_id)

    def manager(self, franchise_id: str, *outlets: str) -> str:
        return self.token(Role.OUTLET_MANAGER, franchise_id=franchise_id, outlet_ids=outlets)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        replica: int = 0,
        data: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        client = self.replicas[replica]
        async with client.request(method, path, json=json, data=data, headers=headers) as resp:
            return resp.status, await resp.json()

    async def new_outlet(self, franchise_id: str | None = None) -> tuple[str, str]:
        if franchise_id is None:
            franchise_id = f"fr-t{secrets.token_hex(4)}"
            self.franchises.add(franchise_id)
        outlet_id = f"outlet-{secrets.randbelow(10**9) + 10**9}"
        body = {"franchise_id": franchise_id, "name": f"BobaKu Test {outlet_id}"}
        async with self.menu.put(
            f"/internal/outlets/{outlet_id}",
            json=body,
            headers={"Authorization": f"Bearer {self.service}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        return outlet_id, franchise_id

    async def count(self, outlet_id: str, franchise_id: str, levels: dict[str, int]) -> None:
        """A stock take that sets the outlet's levels."""
        lines = [{"ingredient_id": i, "counted": n} for i, n in levels.items()]
        status, body = await self.call(
            "POST",
            f"/outlets/{outlet_id}/stock-takes",
            json={"lines": lines},
            token=self.manager(franchise_id, outlet_id),
        )
        assert status == 201, body

    async def stock(self, outlet_id: str, franchise_id: str) -> dict[str, dict[str, int]]:
        status, body = await self.call(
            "GET",
            f"/outlets/{outlet_id}/ingredient-stock",
            token=self.manager(franchise_id, outlet_id),
        )
        assert status == 200, body
        return {x["ingredient_id"]: x for x in body["data"]["items"]}
