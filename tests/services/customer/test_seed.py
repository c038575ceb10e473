"""The demo seed: idempotent, and its people are who the docs say they are."""

from __future__ import annotations

from typing import Any

from customer_testing import CustomerApi
from support import eventually

from bobaku.kernel.auth import Role
from bobaku.kernel.settings import Settings
from bobaku.services.customer.adapters.users import USERS
from bobaku.services.customer.seed import CUSTOMERS, DEMO_PASSWORD, STAFF, seed_demo
from bobaku.services.customer.settings import CustomerSettings


async def log_in(api: CustomerApi, email: str) -> dict[str, Any]:
    status, body = await api.call(
        "POST", "/auth/login", json={"email": email, "password": DEMO_PASSWORD}
    )
    assert status == 200, (email, body)
    return dict(body["data"])


async def test_seeding_twice_leaves_one_copy_of_everything(
    api: CustomerApi, settings: Settings
) -> None:
    # scripts/seed.py hands each service's seed the kernel's settings.
    first = await seed_demo(settings)
    second = await seed_demo(settings)

    emails = [c.email for c in CUSTOMERS] + [s.email for s in STAFF]
    assert sorted(first.users_created) == sorted(emails)
    assert first.ledgers_written == ["rina@example.com", "budi@example.com", "siti@example.com"]
    assert second.users_created == []
    assert second.ledgers_written == []
    users = api.databases.platform[USERS]
    assert await users.count_documents({"email_normalized": {"$in": emails}}) == len(emails) == 19

    rina = await log_in(api, "rina@example.com")
    events = await api.ledger_types(rina["user"]["id"])
    assert events.count("loyalty.tier_changed") == 2  # member -> silver -> gold
    assert len(events) == 12


async def test_rina_is_gold_with_1230_points(
    api: CustomerApi, customer_settings: CustomerSettings
) -> None:
    await seed_demo(customer_settings)
    rina = await log_in(api, "rina@example.com")
    assert rina["user"]["name"] == "Rina Wijaya"
    token = rina["tokens"]["access_token"]

    async def projected() -> dict[str, Any] | None:
        _, body = await api.call("GET", "/me/loyalty", token=token)
        return body["data"] if body["data"]["points"] == 1230 else None

    summary = await eventually(projected)
    assert summary["tier"] == "gold"
    assert summary["rolling_12m_points"] == 1680
    assert (summary["next_tier"], summary["points_to_next_tier"]) == ("platinum", 3320)
    card = await api.card(rina["user"]["id"])
    assert (card["membership_tier"], card["current_points"]) == ("gold", 1230)
    ledger = await api.ledger(rina["user"]["id"])
    assert (ledger.earned, ledger.redeemed) == (1680, 450)


async def test_staff_are_seeded_with_their_roles_and_tenancy(
    api: CustomerApi, customer_settings: CustomerSettings
) -> None:
    await seed_demo(customer_settings)
    expected = {
        "hq@bobaku.id": (["hq_admin"], None, []),
        "owner.jakarta@bobaku.id": (["franchise_owner"], "fr-jakarta", []),
        "owner.bandung@bobaku.id": (["franchise_owner"], "fr-bandung", []),
        "manager.outlet-01@bobaku.id": (["outlet_manager"], "fr-jakarta", ["outlet-01"]),
        "staff.outlet-03@bobaku.id": (["staff"], "fr-jakarta", ["outlet-03"]),
        "manager.outlet-04@bobaku.id": (["outlet_manager"], "fr-bandung", ["outlet-04"]),
        "staff.outlet-05@bobaku.id": (["staff"], "fr-bandung", ["outlet-05"]),
    }
    for email, (roles, franchise_id, outlet_ids) in expected.items():
        user = (await log_in(api, email))["user"]
        assert (user["roles"], user["franchise_id"], user["outlet_ids"]) == (
            roles,
            franchise_id,
            outlet_ids,
        ), email
    staff = [s for s in STAFF if s.role in (Role.OUTLET_MANAGER, Role.STAFF)]
    assert sorted({o for s in staff for o in s.outlet_ids}) == [f"outlet-0{n}" for n in range(1, 7)]
