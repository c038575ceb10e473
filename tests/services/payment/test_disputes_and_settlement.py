"""Disputes pushed by the provider, and the daily settlement report with provider fees."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from payment_testing import World, new_franchise
from support import eventually

JAKARTA = ZoneInfo("Asia/Jakarta")
FIGURES = ("captured", "refunded", "chargebacks", "provider_fees", "net", "count")


def day_of(timestamp: str) -> str:
    """The business day (Jakarta) of a UTC timestamp, as the report counts it."""
    return datetime.fromisoformat(timestamp).astimezone(JAKARTA).date().isoformat()


async def report(world: World, franchise_id: str, day: str, token: str | None = None) -> Any:
    status, body = await world.call(
        "GET",
        f"/reports/settlement?date={day}&franchise_id={franchise_id}",
        token=token or world.owner_token(franchise_id),
    )
    assert status == 200, body
    return body["data"]


async def totals_over(world: World, franchise_id: str, days: set[str]) -> dict[str, Any]:
    """Franchise and per-outlet figures summed over ``days`` (a test may cross midnight)."""
    franchise = dict.fromkeys(FIGURES, 0)
    outlets: dict[str, dict[str, int]] = {}
    for day in sorted(days):
        data = await report(world, franchise_id, day)
        for name in FIGURES:
            franchise[name] += data["franchise"][name]
        for row in data["outlets"]:
            mine = outlets.setdefault(row["outlet_id"], dict.fromkeys(FIGURES, 0))
            for name in FIGURES:
                mine[name] += row[name]
    return {"franchise": franchise, "outlets": outlets}


async def dispute(world: World, payment: dict[str, Any], amount: int) -> str:
    status, body = await world.sim(
        "POST",
        f"/_control/{payment['provider']}/disputes",
        {"transaction_id": payment["transaction_id"], "amount": amount, "reason": "not received"},
    )
    assert status == 201, body
    dispute_id: str = body["data"]["dispute_id"]

    async def opened() -> bool:
        disputes = (await world.payment(payment["intent_id"]))["disputes"]
        return [d["status"] for d in disputes] == ["open"]

    await eventually(opened)
    return dispute_id


async def resolve(world: World, payment: dict[str, Any], dispute_id: str, outcome: str) -> Any:
    status, body = await world.sim(
        "POST",
        f"/_control/{payment['provider']}/disputes/{dispute_id}/resolve",
        {"outcome": outcome},
    )
    assert status == 200, body

    async def resolved() -> Any:
        (d,) = (await world.payment(payment["intent_id"]))["disputes"]
        return d if d["status"] == outcome else None

    return await eventually(resolved)


async def test_a_lost_dispute_is_a_chargeback_in_settlement_and_a_won_one_is_not(
    world: World,
) -> None:
    fr = new_franchise()
    lost = await world.paid(fr, provider="gopay", amount=50_000, outlet_id="outlet-1")
    won = await world.paid(fr, provider="gopay", amount=40_000, outlet_id="outlet-1")
    lost_dispute = await dispute(world, lost, 50_000)
    won_dispute = await dispute(world, won, 40_000)

    # While a dispute is open its amount is held: nothing of it can be refunded.
    assert (await world.payment(lost["intent_id"]))["refundable_amount"] == 0
    status, body = await world.call(
        "POST",
        f"/payments/{lost['intent_id']}/disputes/{lost_dispute}/evidence",
        token=world.owner_token(fr),
        json={"text": "Signed pickup receipt attached."},
    )
    assert status == 201, body
    assert body["data"]["evidence"][0]["text"] == "Signed pickup receipt attached."

    lost_view = await resolve(world, lost, lost_dispute, "lost")
    won_view = await resolve(world, won, won_dispute, "won")

    assert (await world.payment(lost["intent_id"]))["chargeback_amount"] == 50_000
    assert (await world.payment(won["intent_id"]))["chargeback_amount"] == 0
    assert (await world.payment(won["intent_id"]))["refundable_amount"] == 40_000
    assert await world.types(fr, lost["intent_id"]) == [
        "payment.intent_created",
        "payment.captured",
        "payment.dispute_opened",
        "payment.dispute_evidence_submitted",
        "payment.dispute_lost",
    ]
    days = {day_of(p["paid_at"]) for p in (lost, won)}
    days |= {day_of(lost_view["resolved_at"]), day_of(won_view["resolved_at"])}
    fees = 1_000 + 800  # 2 % of 50,000 and of 40,000
    expected = {
        "captured": 90_000,
        "refunded": 0,
        "chargebacks": 50_000,
        "provider_fees": fees,
        "net": 90_000 - 50_000 - fees,
        "count": 2,
    }

    async def settled() -> bool:
        return (await totals_over(world, fr, days))["franchise"] == expected

    await eventually(settled, timeout=20)


async def test_the_settlement_report_matches_fees_computed_by_hand(world: World) -> None:
    fr = new_franchise()
    sales = [
        # (outlet, provider, amount, fee by hand)
        ("outlet-1", "gopay", 82_000, 1_640),  # 2 %
        ("outlet-1", "gopay", 10_025, 201),  # 200.5 rounds half up
        ("outlet-1", "dana", 10_100, 152),  # 1.5 % = 151.5 → 152
        ("outlet-1", "card", 150_000, 6_350),  # 2.9 % = 4,350 + Rp2,000
        ("outlet-2", "qris", 10_050, 70),  # 0.7 % = 70.35 → 70
        ("outlet-2", "ovo", 25_000, 500),
        ("outlet-2", "shopeepay", 18_000, 360),
    ]
    paid = [
        await world.paid(fr, outlet_id=outlet, provider=provider, amount=amount)
        for outlet, provider, amount, _ in sales
    ]
    # Money that moved out again, and payments that never settled, which must not count.
    shopeepay = paid[-1]
    status, body = await world.call(
        "POST",
        f"/payments/{shopeepay['intent_id']}/refunds",
        token=world.owner_token(fr),
        json={"amount": 5_000, "reason": "wrong size"},
        headers={"Idempotency-Key": "r1"},
    )
    assert status == 201, body
    failed = world.intent_body(fr, provider="ovo", outlet_id="outlet-2", amount=99_000)
    await world.force("ovo", failed["order_id"], "failure")
    failed_intent = await world.create_intent(failed)
    await world.wait_status(failed_intent["intent_id"], "failed")

    days = {day_of(p["paid_at"]) for p in paid} | {day_of(body["data"]["completed_at"])}
    outlet_1 = {
        "captured": 82_000 + 10_025 + 10_100 + 150_000,
        "refunded": 0,
        "chargebacks": 0,
        "provider_fees": 1_640 + 201 + 152 + 6_350,
        "count": 4,
    }
    outlet_2 = {
        "captured": 10_050 + 25_000 + 18_000,
        "refunded": 5_000,
        "chargebacks": 0,
        "provider_fees": 70 + 500 + 360,
        "count": 3,
    }
    for figures in (outlet_1, outlet_2):
        figures["net"] = (
            figures["captured"]
            - figures["refunded"]
            - figures["chargebacks"]
            - figures["provider_fees"]
        )
    franchise = {name: outlet_1[name] + outlet_2[name] for name in FIGURES}

    async def settled() -> dict[str, Any] | None:
        got = await totals_over(world, fr, days)
        return got if got["franchise"] == franchise else None

    got = await eventually(settled, timeout=20)
    assert got["outlets"] == {"outlet-1": outlet_1, "outlet-2": outlet_2}

    one_day = await report(world, fr, day_of(paid[0]["paid_at"]))
    assert one_day["fee_table"]["providers"]["card"] == {"percent": "2.9%", "fixed": 2_000}
    assert one_day["fee_table"]["providers"]["qris"] == {"percent": "0.7%", "fixed": 0}
    assert one_day["currency"] == "IDR"
    assert one_day["timezone"] == "Asia/Jakarta"
    if len(days) == 1:
        (row,) = [o for o in one_day["outlets"] if o["outlet_id"] == "outlet-1"]
        assert row["by_provider"]["gopay"]["provider_fees"] == 1_640 + 201
        assert row["by_provider"]["card"]["count"] == 1


async def test_a_franchise_owner_cannot_reach_another_franchises_payments_or_reports(
    world: World, caplog: Any
) -> None:
    mine, theirs = new_franchise(), new_franchise()
    payment = await world.paid(theirs, outlet_id="outlet-4")
    intruder = world.owner_token(mine)
    today = day_of(payment["paid_at"])

    attempts = [
        ("GET", f"/payments/{payment['intent_id']}", None, {}),
        ("GET", f"/payments?order_id={payment['order_id']}", None, {}),
        ("GET", f"/payments?franchise_id={theirs}", None, {}),
        ("GET", f"/reports/settlement?franchise_id={theirs}&date={today}", None, {}),
        (
            "POST",
            f"/payments/{payment['intent_id']}/refunds",
            {"amount": 1_000, "reason": "x"},
            {"Idempotency-Key": "steal"},
        ),
    ]
    with caplog.at_level("WARNING", logger="bobaku.security"):
        for method, path, body, headers in attempts:
            status, reply = await world.call(
                method, path, token=intruder, json=body, headers=headers
            )
            assert status == 403, (path, reply)
            assert reply["error"]["code"] == "tenant_forbidden"
            assert payment["transaction_id"] not in str(reply)
            assert "data" not in reply

    violations = [r for r in caplog.records if r.__dict__.get("security_event")]
    assert len(violations) == len(attempts)
    assert {r.__dict__["target_franchise"] for r in violations} == {theirs}
    assert (await world.payment(payment["intent_id"]))["refunded_amount"] == 0

    # Their own owner, the payment's customer and HQ do see it; another customer does not.
    assert (await report(world, theirs, today))["franchise"]["count"] >= 0
    owner = await world.call(
        "GET", f"/payments/{payment['intent_id']}", token=world.owner_token(theirs)
    )
    customer = world.issuer.issue(payment["customer_id"], ["customer"])
    stranger = world.issuer.issue("u-00000000dead", ["customer"])
    assert owner[0] == 200
    assert (await world.call("GET", f"/payments/{payment['intent_id']}", token=customer))[0] == 200
    assert (await world.call("GET", f"/payments/{payment['intent_id']}", token=stranger))[0] == 403


async def test_a_franchises_payments_are_listed_newest_first_with_filters_and_pages(
    world: World,
) -> None:
    fr = new_franchise()
    first = await world.paid(fr, outlet_id="outlet-1", provider="gopay")
    second = await world.paid(fr, outlet_id="outlet-2", provider="qris")
    third = await world.paid(fr, outlet_id="outlet-1", provider="card")
    owner = world.owner_token(fr)

    async def projected() -> bool:
        status, body = await world.call("GET", "/payments", token=owner)
        assert status == 200, body
        return [i["status"] for i in body["data"]["items"]] == ["captured"] * 3

    await eventually(projected, timeout=20)  # the read model follows the events
    status, body = await world.call("GET", "/payments?limit=2", token=owner)
    assert status == 200, body
    page = body["data"]
    assert [p["intent_id"] for p in page["items"]] == [third["intent_id"], second["intent_id"]]
    status, rest = await world.call(
        "GET", f"/payments?limit=2&cursor={page['next_cursor']}", token=owner
    )
    assert status == 200
    assert [p["intent_id"] for p in rest["data"]["items"]] == [first["intent_id"]]
    assert rest["data"]["next_cursor"] is None

    _, by_outlet = await world.call("GET", "/payments?outlet_id=outlet-2", token=owner)
    assert [p["intent_id"] for p in by_outlet["data"]["items"]] == [second["intent_id"]]
    _, by_provider = await world.call("GET", "/payments?provider=card", token=owner)
    assert [p["intent_id"] for p in by_provider["data"]["items"]] == [third["intent_id"]]
    manager = world.manager_token(fr, "outlet-1")
    _, managed = await world.call("GET", "/payments", token=manager)
    assert {p["outlet_id"] for p in managed["data"]["items"]} == {"outlet-1"}
    bad = await world.call("GET", "/payments?status=lost", token=owner)
    assert bad[0] == 422
    assert bad[1]["error"]["details"]["fields"][0]["field"] == "status"


async def test_an_owner_asking_for_another_franchises_outlet_is_refused_not_answered_empty(
    world: World, caplog: Any
) -> None:
    mine, theirs = new_franchise(), new_franchise()
    # Outlets of their own (the other tests share outlet-1..7 between franchises).
    outlet = f"outlet-{int(theirs[4:], 16) % 10**9}"  # only `theirs` took payments for it
    own_outlet = f"outlet-{int(mine[4:], 16) % 10**9}"
    payment = await world.paid(theirs, outlet_id=outlet)
    await world.paid(mine, outlet_id=own_outlet)
    owner = world.owner_token(mine)
    today = day_of(payment["paid_at"])
    attempts = [
        f"/payments?outlet_id={outlet}",
        f"/payments?franchise_id={mine}&outlet_id={outlet}",
        f"/reports/settlement?outlet_id={outlet}&date={today}",
    ]
    with caplog.at_level("WARNING", logger="bobaku.security"):
        for path in attempts:
            status, reply = await world.call("GET", path, token=owner)
            assert (status, reply["error"]["code"]) == (403, "tenant_forbidden"), (path, reply)
    violations = [r for r in caplog.records if r.__dict__.get("security_event")]
    assert len(violations) == len(attempts)
    assert {r.__dict__["target_franchise"] for r in violations} == {theirs}
    # Their owner and the owner's own outlet are answered as before.
    theirs_owner = world.owner_token(theirs)
    assert (await world.call("GET", f"/payments?outlet_id={outlet}", token=theirs_owner))[0] == 200
    status, _ = await world.call("GET", f"/reports/settlement?outlet_id={own_outlet}", token=owner)
    assert status == 200


async def test_hq_reading_an_unknown_franchise_gets_a_404_and_creates_no_database(
    world: World,
) -> None:
    from bobaku.kernel.db import franchise_db_name
    from bobaku.kernel.web import DATABASES

    databases = world.app[DATABASES]
    nowhere = new_franchise()
    for path in (
        f"/reports/settlement?franchise_id={nowhere}",
        f"/reports/settlement?franchise_id={nowhere}&date=2026-01-01",
        f"/payments?franchise_id={nowhere}",
    ):
        status, reply = await world.call("GET", path, token=world.hq_token)
        assert (status, reply["error"]["code"]) == (404, "franchise_not_found"), (path, reply)
    names = await databases.client.list_database_names()
    assert franchise_db_name(databases.prefix, nowhere) not in names
    # A franchise with payments is read as before.
    known = new_franchise()
    await world.paid(known)
    status, _ = await world.call(
        "GET", f"/reports/settlement?franchise_id={known}", token=world.hq_token
    )
    assert status == 200
