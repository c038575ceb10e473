"""The operator's side of the menu: outlets named like Outlet resources, registered,
changed and retired over ``/internal/outlets/{id}``, on the suite's FerretDB."""

from __future__ import annotations

import json
import secrets

from menu_testing import MenuService
from nats.js.errors import NotFoundError

from bobaku.kernel.bus import EVENTS_STREAM
from bobaku.kernel.events import Event
from bobaku.services.menu.entrypoints.http import CONTEXT


async def _last_outlet_event(menu: MenuService, franchise_id: str) -> Event | None:
    subject = menu.bus.names.subject(f"events.{franchise_id}.menu.outlet_changed")
    try:
        raw = await menu.bus.js.get_last_msg(EVENTS_STREAM, subject)
    except NotFoundError:
        return None
    return Event.model_validate(json.loads(raw.data or b"{}"))


def _name() -> str:
    return f"jkt-selatan-{secrets.token_hex(4)}"


async def test_an_outlet_named_like_a_kubernetes_resource_is_registered_and_served(
    menu: MenuService,
) -> None:
    franchise_id = menu.new_franchise()
    outlet_id = _name()
    status, reply = await menu.call(
        "PUT",
        f"/internal/outlets/{outlet_id}",
        json={"franchise_id": franchise_id, "name": "BobaKu Senopati"},
        token=menu.service,
    )
    assert status == 201, reply
    status, reply = await menu.call("GET", f"/outlets/{outlet_id}")
    assert status == 200, reply
    assert reply["data"]["franchise_id"] == franchise_id
    status, reply = await menu.call("GET", f"/outlets/{outlet_id}/menu")
    assert status == 200, reply


async def test_outlet_ids_outside_the_shared_rule_are_refused(menu: MenuService) -> None:
    for bad in ("Jkt-Selatan", "-senopati", "senopati-", "a" * 57, "jkt_selatan"):
        status, reply = await menu.call(
            "PUT",
            f"/internal/outlets/{bad}",
            json={"franchise_id": menu.new_franchise(), "name": "BobaKu Bad"},
            token=menu.service,
        )
        assert status == 422, (bad, reply)


async def test_hours_that_drop_a_day_are_stored_without_the_old_day(menu: MenuService) -> None:
    outlet_id, franchise_id = await menu.new_outlet()
    week = {d: [{"open": "09:00", "close": "21:00"}] for d in ("mon", "tue", "wed", "sat")}
    for hours in (week, {"mon": [{"open": "07:00", "close": "11:00"}]}):
        status, reply = await menu.call(
            "PUT",
            f"/outlets/{outlet_id}/hours",
            json={"opening_hours": hours, "timezone": "Asia/Jakarta"},
            token=menu.hq,
        )
        assert status == 200, reply
        # Read from the database itself, not from what the handler computed.
        stored = await menu.app[CONTEXT].repository.outlet(outlet_id)
        assert stored is not None
        assert stored.hours.as_record() == hours
    # The registration (the operator's PUT) replaces the week too.
    status, reply = await menu.call(
        "PUT",
        f"/internal/outlets/{outlet_id}",
        json={
            "franchise_id": franchise_id,
            "name": "BobaKu Weekend",
            "opening_hours": {"sun": [{"open": "12:00", "close": "18:00"}]},
        },
        token=menu.service,
    )
    assert status == 200, reply
    status, reply = await menu.call("GET", f"/outlets/{outlet_id}")
    assert reply["data"]["opening_hours"] == {"sun": [{"open": "12:00", "close": "18:00"}]}


async def test_a_retired_outlet_is_gone_announced_and_can_come_back(menu: MenuService) -> None:
    franchise_id = menu.new_franchise()
    outlet_id = _name()
    body = {"franchise_id": franchise_id, "name": "BobaKu Retiring"}
    path = f"/internal/outlets/{outlet_id}"
    status, reply = await menu.call("DELETE", path, token=menu.service)
    assert status == 404, reply
    status, reply = await menu.call("PUT", path, json=body, token=menu.service)
    assert status == 201, reply
    status, reply = await menu.call("DELETE", path, token=menu.hq)
    assert status == 403, reply

    status, reply = await menu.call("DELETE", path, token=menu.service)
    assert status == 200, reply
    event = await _last_outlet_event(menu, franchise_id)
    assert event is not None
    assert (event.version, event.data["change"], event.data["outlet_id"]) == (
        "1.1",
        "deleted",
        outlet_id,
    )
    status, reply = await menu.call("GET", f"/outlets/{outlet_id}")
    assert status == 404, reply
    status, reply = await menu.call("GET", f"/outlets?franchise_id={franchise_id}")
    assert status == 200, reply
    assert [o["id"] for o in reply["data"]["items"]] == []
    status, reply = await menu.call("DELETE", path, token=menu.service)
    assert status == 404, reply

    status, reply = await menu.call("PUT", path, json=body, token=menu.service)
    assert status == 201, reply
    status, reply = await menu.call("GET", f"/outlets/{outlet_id}")
    assert status == 200, reply
    event = await _last_outlet_event(menu, franchise_id)
    assert event is not None
    assert event.data["change"] == "created"
