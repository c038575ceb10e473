"""kernel.outlets.OutletDirectory against the real menu service and its announcements."""

from __future__ import annotations

import secrets

import pytest
from menu_testing import MenuService
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import NotFound
from bobaku.kernel.outlets import OutletDirectory


def _menu_client(menu: MenuService) -> ServiceClient:
    return ServiceClient("menu", str(menu.client.make_url("")).rstrip("/"))


async def test_a_missing_outlet_is_remembered_until_the_menu_announces_it(
    menu: MenuService, bus: EventBus
) -> None:
    client = _menu_client(menu)
    directory = OutletDirectory(client, ttl_s=3600)
    await directory.follow(bus)
    try:
        outlet_id = f"outlet-{secrets.randbelow(10**9) + 10**9}"
        assert await directory.lookup(outlet_id) is None
        assert await directory.lookup(outlet_id) is None
        assert directory.lookups == 1  # the second answer came from the directory
        with pytest.raises(NotFound) as missing:
            await directory.franchise_of(outlet_id)
        assert missing.value.code == "outlet_not_found"

        franchise_id = menu.new_franchise()
        status, answer = await menu.call(
            "PUT",
            f"/internal/outlets/{outlet_id}",
            json={"franchise_id": franchise_id, "name": f"BobaKu Test {outlet_id}"},
            token=menu.service,
        )
        assert status == 201, answer

        async def announced() -> bool:
            return await directory.lookup(outlet_id) == franchise_id

        await eventually(announced)  # menu.outlet_changed dropped the remembered "none"
        assert await directory.franchise_of(outlet_id) == franchise_id
    finally:
        await directory.stop()
        await client.close()


async def test_an_entry_is_asked_again_after_its_ttl(menu: MenuService) -> None:
    outlet_id, franchise_id = await menu.new_outlet()
    now = [1000.0]
    client = _menu_client(menu)
    directory = OutletDirectory(client, ttl_s=60, clock=lambda: now[0])
    try:
        assert await directory.franchise_of(outlet_id) == franchise_id
        now[0] += 59
        assert await directory.franchise_of(outlet_id) == franchise_id
        assert directory.lookups == 1
        now[0] += 2
        assert await directory.franchise_of(outlet_id) == franchise_id
        assert directory.lookups == 2
        directory.invalidate(outlet_id)
        assert await directory.franchise_of(outlet_id) == franchise_id
        assert directory.lookups == 3
    finally:
        await client.close()
