"""Outlets into the menu service, the platform's authority on outlets.

Every service asks the menu service which franchise an outlet belongs to
(:mod:`bobaku.kernel.outlets`), and the menu service reads when it is open: an Outlet
resource serves only once the menu service knows it. The operator registers it with
``PUT {MENU_URL}/internal/outlets/{name}`` whenever what the menu holds differs from the
spec (each PUT announces ``menu.outlet_changed``, so a resync that finds nothing to change
sends none), and retires it with ``DELETE`` when the Outlet is deleted (a tombstone:
``menu.outlet_changed`` v1.1, ``change: deleted``). Both calls carry ``SERVICE_TOKEN``.
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.client import ServiceClient, error_from_reply
from bobaku.operator.config import OperatorSettings
from bobaku.operator.model import Outlet


def _day(name: str) -> str:
    return name.lower()  # the Outlet resource's Mon … Sun, the menu's mon … sun


def menu_registration(outlet: Outlet) -> dict[str, Any]:
    """The body of the menu's ``PUT /internal/outlets/{id}`` for an Outlet resource."""
    spec = outlet.spec
    hours = spec.opening_hours
    shift = [{"open": hours.opens, "close": hours.closes}]
    return {
        "franchise_id": spec.franchise_ref,
        "name": spec.display_name,
        "address": spec.address or "",
        "phone": spec.phone or "",
        "city": spec.city or "",
        "opening_hours": {_day(d): shift for d in hours.days},
    }


def _registered(held: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(held.get(k) == v for k, v in wanted.items())


class MenuOutlets:
    """The menu service's outlet registry, as the operator uses it."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> MenuOutlets:
        return cls(ServiceClient("menu", settings.menu_url, token=settings.service_token))

    async def close(self) -> None:
        await self.client.close()

    async def _call(
        self, method: str, path: str, ok: tuple[int, ...], **kw: Any
    ) -> tuple[int, Any]:
        reply = await self.client.call(method, path, retry_safe=True, **kw)
        try:
            payload = reply.json()
        except ValueError:
            payload = None
        if reply.status not in ok:
            raise error_from_reply("menu", reply, payload)
        return reply.status, payload

    async def register(self, outlet: Outlet) -> bool:
        """Register the outlet, or bring its registration up to date; True if it changed.
        The menu's refusals (409 ``outlet_franchise_fixed``, 422…) are raised as the
        kernel client raises them (a :class:`~bobaku.kernel.errors.BobakuError`)."""
        wanted = menu_registration(outlet)
        status, payload = await self._call("GET", f"/outlets/{outlet.name}", (200, 404))
        held = (payload or {}).get("data") or {} if status == 200 else {}
        if held and all(held.get(k) == v for k, v in wanted.items()):
            return False  # a resync announces nothing
        path = f"/internal/outlets/{outlet.name}"
        await self._call("PUT", path, (200, 201), json_body=wanted)
        return True

    async def retire(self, name: str) -> bool:
        """Retire the outlet; False when the menu did not know it (never, or already)."""
        status, _ = await self._call("DELETE", f"/internal/outlets/{name}", (200, 404))
        return status == 200
