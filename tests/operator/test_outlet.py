"""Outlets on a real API server: refused while their franchise is missing, then registered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from support import eventually

from bobaku.kernel.routing_table import RoutingEntries
from bobaku.operator.kube import Kube

# Fixtures from this folder's conftest.py: cluster, admin, mongo, routing, unique.
pytestmark = pytest.mark.slow

Cluster = Any  # conftest.Cluster
Mongo = AsyncMongoClient[dict[str, Any]]


async def test_an_outlet_of_a_missing_franchise_is_refused_in_its_status_until_it_exists(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    franchise = f"late-{unique}"
    outlet = f"late-{unique}-mall"
    await cluster.apply("Outlet", outlet, {"franchiseRef": franchise, "displayName": "Mall Outlet"})
    body = await cluster.wait_for("Outlet", outlet, "Ready", "False")
    ready = cluster.condition(body, "Ready")
    assert ready["reason"] == "FranchiseNotFound"
    assert franchise in ready["message"]
    assert "spec.franchiseRef" in ready["message"]
    assert cluster.condition(body, "FranchiseFound")["status"] == "False"
    assert cluster.condition(body, "Registered")["status"] == "False"

    async def warned() -> bool:
        events = await cluster.events(outlet)
        return any(e["reason"] == "FranchiseNotFound" and e["type"] == "Warning" for e in events)

    await eventually(warned, timeout=10)

    # The franchise arrives: the outlet is retried and registers.
    await cluster.apply("Franchise", franchise, {"displayName": "Late Franchise"})
    await cluster.wait_for("Franchise", franchise, "Ready")
    body = await cluster.wait_for("Outlet", outlet, "Ready", timeout=30)
    assert body["status"]["namespace"] == f"bobaku-fr-{franchise}"


async def test_outlets_register_in_their_franchise_and_unregister_when_deleted(
    cluster: Cluster,
    admin: Kube,
    mongo: Mongo,
    routing: RoutingEntries,
    menu_service: Any,
    unique: str,
) -> None:
    franchise = f"bdg-{unique}"
    ns = f"bobaku-fr-{franchise}"
    await cluster.apply(
        "Franchise",
        franchise,
        {"displayName": "BobaKu Bandung", "config": {"menu": {"unavailable": ["m001"]}}},
    )
    await cluster.wait_for("Franchise", franchise, "Ready")
    dago, braga = f"{franchise}-dago", f"{franchise}-braga"
    await cluster.apply(
        "Outlet",
        dago,
        {
            "franchiseRef": franchise,
            "displayName": "Dago",
            "city": "Bandung",
            "address": "Jl. Ir. H. Juanda 101",
            "phone": "+62 22 555 0101",
            "openingHours": {"opens": "10:00", "closes": "23:00"},
            "stations": 3,
            "config": {"menu": {"unavailable": ["m001", "m002"]}},
        },
    )
    await cluster.apply("Outlet", braga, {"franchiseRef": franchise, "displayName": "Braga"})
    for outlet in (dago, braga):
        body = await cluster.wait_for("Outlet", outlet, "Ready")
        assert cluster.condition(body, "Registered")["status"] == "True"
        assert cluster.condition(body, "ConfigReady")["status"] == "True"

    async def registered_in_franchise() -> bool:
        body = await cluster.get("Franchise", franchise)
        status = (body or {}).get("status", {})
        return status.get("outlets") == sorted([dago, braga]) and status.get("outletCount") == 2

    await eventually(registered_in_franchise, timeout=15)

    async def routed() -> bool:
        entry = await routing.get(f"franchise.{franchise}")
        return (entry or {}).get("outlets") == sorted([dago, braga])

    await eventually(routed, timeout=15)

    # The outlet's configuration: HQ → franchise → outlet.
    config_map = await admin.get("v1", "ConfigMap", f"outlet-{dago}", ns)
    assert config_map is not None
    assert config_map["metadata"]["labels"]["bobaku.io/outlet"] == dago
    config = json.loads(config_map["data"]["config.json"])
    assert config["currency"] == "IDR"  # HQ
    assert config["franchise"]["id"] == franchise  # franchise
    assert config["menu"]["unavailable"] == ["m001", "m002"]  # outlet over franchise
    assert config["outlet"]["openingHours"] == {
        "opens": "10:00",
        "closes": "23:00",
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    }
    assert config["outlet"]["stations"] == 3
    braga_config = await admin.get("v1", "ConfigMap", f"outlet-{braga}", ns)
    assert braga_config is not None
    assert json.loads(braga_config["data"]["config.json"])["menu"]["unavailable"] == ["m001"]

    # Its registration in the franchise's own database.
    outlets = mongo[cluster.db_name(franchise)]["outlets"]
    doc = await outlets.find_one({"_id": dago})
    assert doc is not None
    assert doc["franchise_id"] == franchise
    assert doc["city"] == "Bandung"
    assert doc["phone"] == "+62 22 555 0101"
    assert "Registered" in await cluster.event_reasons(dago)

    # Its registration in the menu service, which every service asks about an outlet.
    status, reply = await menu_service.outlet(dago)
    assert status == 200, reply
    assert reply["data"]["franchise_id"] == franchise
    assert reply["data"]["name"] == "Dago"
    assert reply["data"]["city"] == "Bandung"
    every_day = {"open": "10:00", "close": "23:00"}
    assert reply["data"]["opening_hours"] == {
        d: [every_day] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    status, _ = await menu_service.outlet(braga)
    assert status == 200

    # New hours through the Outlet resource reach the menu, the days left out closed.
    await cluster.apply(
        "Outlet",
        dago,
        {
            "franchiseRef": franchise,
            "displayName": "Dago",
            "city": "Bandung",
            "openingHours": {"opens": "07:00", "closes": "12:00", "days": ["Sat", "Sun"]},
        },
    )

    async def new_hours() -> bool:
        _, reply = await menu_service.outlet(dago)
        shift = [{"open": "07:00", "close": "12:00"}]
        return bool(reply["data"]["opening_hours"] == {"sat": shift, "sun": shift})

    await eventually(new_hours, timeout=15)

    # Deleting an outlet takes it out of everything it was registered in.
    assert await admin.delete("bobaku.io/v1alpha1", "Outlet", braga)
    await cluster.gone("Outlet", braga)

    async def unregistered() -> bool:
        body = await cluster.get("Franchise", franchise)
        entry = await routing.get(f"franchise.{franchise}")
        return (body or {}).get("status", {}).get("outlets") == [dago] and (entry or {}).get(
            "outlets"
        ) == [dago]

    await eventually(unregistered, timeout=15)
    assert await admin.get("v1", "ConfigMap", f"outlet-{braga}", ns) is None
    assert await outlets.find_one({"_id": braga}) is None
    status, reply = await menu_service.outlet(braga)
    assert status == 404, reply  # retired: no service takes an order for it
    assert "Retired" in await cluster.event_reasons(braga)


async def test_an_outlet_of_a_deleted_franchise_reports_it(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    franchise = f"gone-{unique}"
    outlet = f"gone-{unique}-kiosk"
    await cluster.apply("Franchise", franchise, {"displayName": "Short-lived"})
    await cluster.wait_for("Franchise", franchise, "Ready")
    await cluster.apply("Outlet", outlet, {"franchiseRef": franchise, "displayName": "Kiosk"})
    await cluster.wait_for("Outlet", outlet, "Ready")

    assert await admin.delete("bobaku.io/v1alpha1", "Franchise", franchise)
    await cluster.gone("Franchise", franchise)
    body = await cluster.wait_for("Outlet", outlet, "Ready", "False", timeout=20)
    assert cluster.condition(body, "Ready")["reason"] == "FranchiseNotFound"
