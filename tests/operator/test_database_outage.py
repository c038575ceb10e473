"""The database server goes away under a running operator, and comes back.

The operator reaches the suite's MongoDB-wire server through a link the test cuts
(``mongo_link`` in conftest.py): open connections are reset and new ones refused, as when
the server's host dies. The Franchise must say so (Ready=False, DatabaseUnavailable, naming
the error), an Outlet applied meanwhile must wait for it instead of failing for good, and
both must become Ready again by themselves once the link is back: no restart, no edit.
"""

from __future__ import annotations

from typing import Any

from support import CuttableLink

Cluster = Any  # conftest.Cluster
Mongo = Any


async def test_a_database_outage_is_reported_and_healed_without_help(
    cluster: Cluster, mongo: Mongo, mongo_link: CuttableLink, unique: str
) -> None:
    franchise, outlet = f"out-{unique}", f"out-{unique}-blok-m"
    await cluster.apply(
        "Franchise",
        franchise,
        {
            "displayName": "BobaKu Outage",
            "owner": "owner@outage.example.com",
            "retention": "Delete",
        },
    )
    await cluster.wait_for("Franchise", franchise, "Ready")

    mongo_link.cut()
    try:
        # The resync (3 s here) finds the server gone; each try gives up after the client's
        # server-selection timeout (3 s), so this takes seconds, not the test's budget.
        body = await cluster.wait_for("Franchise", franchise, "Ready", "False", timeout=60)
        ready = cluster.condition(body, "Ready")
        assert ready["reason"] == "DatabaseUnavailable", ready
        assert ready["message"].startswith("DatabaseReady: "), ready
        database = cluster.condition(body, "DatabaseReady")
        assert (database["status"], database["reason"]) == ("False", "DatabaseUnavailable")
        # What was applied before the outage stays: the namespace is not torn down.
        assert cluster.condition(body, "NamespaceReady")["status"] == "True"

        # An Outlet applied during the outage waits for its Franchise.
        await cluster.apply("Outlet", outlet, {"franchiseRef": franchise, "displayName": "Blok M"})
        waiting = await cluster.wait_for("Outlet", outlet, "Ready", "False", timeout=30)
        assert cluster.condition(waiting, "Ready")["reason"] == "WaitingForFranchise"
        assert outlet not in await registered_outlets(mongo, cluster.db_name(franchise))
    finally:
        mongo_link.restore()
    before = mongo_link.accepted

    # Back by themselves: the retries and resyncs find the server again.
    await cluster.wait_for("Franchise", franchise, "Ready", timeout=60)
    body = await cluster.wait_for("Outlet", outlet, "Ready", timeout=60)
    assert cluster.condition(body, "Registered")["status"] == "True"
    assert outlet in await registered_outlets(mongo, cluster.db_name(franchise))
    # It came back through the link (new connections), not by some other way.
    assert mongo_link.accepted > before


async def registered_outlets(mongo: Mongo, database: str) -> set[str]:
    return {doc["_id"] async for doc in mongo[database]["outlets"].find({}, {"_id": 1})}
