"""The outlet stock ledger's rules without a server (moved here with the menu's whole-item
counts, which the supply ledger replaced): reservations hold tracked units only, all or
nothing, settle once, are forgotten after the memory window, and survive a snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bobaku.services.supply.domain.ledger import (
    InsufficientStock,
    OutletStock,
    ReservationClosed,
    ReservationNotFound,
    StockFact,
)

NOON = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def recorded(ledger: OutletStock, fact: StockFact | None, at: datetime = NOON) -> OutletStock:
    assert fact is not None
    return ledger.apply(fact.type, fact.data, at)


def test_a_reservation_holds_tracked_units_only_and_a_repeat_records_nothing() -> None:
    ledger = OutletStock("outlet-1")
    recorded(ledger, ledger.receive("r-1", {"tapioca-pearl": 300}, "manual"))
    fact = ledger.reserve("ord-1", {"tapioca-pearl": 120, "ice": 500})
    assert fact is not None
    assert [x["ingredient_id"] for x in fact.data["lines"]] == ["tapioca-pearl"]
    recorded(ledger, fact)
    assert ledger.available("tapioca-pearl") == 180
    assert ledger.available("ice") is None  # never received or counted: not limiting
    assert ledger.reserve("ord-1", {"tapioca-pearl": 120}) is None


def test_one_short_ingredient_refuses_the_whole_order() -> None:
    ledger = OutletStock("outlet-1")
    recorded(ledger, ledger.receive("r-1", {"tapioca-pearl": 50, "fresh-milk": 500}, "manual"))
    with pytest.raises(InsufficientStock) as caught:
        ledger.reserve("ord-1", {"fresh-milk": 150, "tapioca-pearl": 60})
    assert [s.as_record() for s in caught.value.shortages] == [
        {"ingredient_id": "tapioca-pearl", "requested": 60, "available": 50}
    ]
    assert ledger.available("fresh-milk") == 500


def test_release_gives_units_back_and_commit_uses_them_each_once() -> None:
    ledger = OutletStock("outlet-1")
    recorded(ledger, ledger.receive("r-1", {"cup-500": 5}, "manual"))
    recorded(ledger, ledger.reserve("ord-1", {"cup-500": 2}))
    recorded(ledger, ledger.reserve("ord-2", {"cup-500": 1}))
    recorded(ledger, ledger.release("ord-1"))
    recorded(ledger, ledger.commit("ord-2"))
    assert ledger.report() == [
        {"ingredient_id": "cup-500", "on_hand": 4, "reserved": 0, "available": 4}
    ]
    assert ledger.release("ord-1") is None
    assert ledger.commit("ord-2") is None
    with pytest.raises(ReservationClosed):
        ledger.commit("ord-1")
    with pytest.raises(ReservationClosed):
        ledger.release("ord-2")
    with pytest.raises(ReservationNotFound):
        ledger.release("ord-404")


def test_settled_reservations_are_forgotten_after_the_memory_window() -> None:
    ledger = OutletStock("outlet-1", memory=WEEK)
    recorded(ledger, ledger.reserve("ord-old", {}))
    recorded(ledger, ledger.commit("ord-old"))
    recorded(ledger, ledger.reserve("ord-open", {}))
    recorded(ledger, ledger.receive("r-1", {"cup-500": 1}, "manual"), NOON + timedelta(days=8))
    assert set(ledger.reservations) == {"ord-open"}


def test_a_ledger_survives_its_snapshot() -> None:
    ledger = OutletStock("outlet-1")
    recorded(ledger, ledger.receive("r-1", {"cup-500": 5}, "manual"))
    recorded(ledger, ledger.reserve("ord-1", {"cup-500": 2}))
    again = OutletStock.from_record(ledger.as_record(), WEEK)
    assert again.report() == ledger.report()
    assert again.reserve("ord-1", {"cup-500": 2}) is None
    assert again.receive("r-1", {"cup-500": 5}, "manual") is None


class _NoWalking(dict):  # type: ignore[type-arg]
    """The reservations, refusing to be walked (lookups by order id are fine)."""

    def _refuse(self, *_: object) -> None:
        raise AssertionError("an order's work walked every remembered reservation")

    __iter__ = values = items = keys = _refuse  # type: ignore[assignment]


def test_an_order_costs_the_same_however_many_orders_the_outlet_remembers() -> None:
    """Settled reservations are remembered for a week (so a late repeat is recognised): a
    busy outlet holds thousands. Reserving, committing, releasing, reading the levels and
    forgetting must not walk them; the held units are kept as events are applied."""
    ledger = OutletStock("outlet-1", memory=WEEK)
    recorded(ledger, ledger.count("c-1", {"tapioca-pearl": 10**6, "cup-500": 10**6}))
    for n in range(3000):
        at = NOON + timedelta(seconds=n)
        recorded(ledger, ledger.reserve(f"ord-{n}", {"tapioca-pearl": 110, "cup-500": 1}), at)
        if n % 3:
            recorded(ledger, ledger.commit(f"ord-{n}"), at)
    snapshot = ledger.as_record()  # a snapshot may walk them: it writes them all
    ledger = OutletStock.from_record(snapshot, WEEK)
    held = 1000  # every third order is still open
    assert ledger.reserved("tapioca-pearl") == held * 110
    ledger.reservations = _NoWalking(ledger.reservations)
    later = NOON + timedelta(hours=2)
    recorded(ledger, ledger.reserve("ord-new", {"tapioca-pearl": 110, "cup-500": 1}), later)
    assert ledger.reserved("cup-500") == held + 1
    recorded(ledger, ledger.commit("ord-new"), later)
    recorded(ledger, ledger.release("ord-0"), later)
    assert ledger.available("tapioca-pearl") == 10**6 - 2000 * 110 - 110 - (held - 1) * 110
    assert ledger.reserved("tapioca-pearl") == (held - 1) * 110
    assert ledger.availability()["cup-500"] == 10**6 - 2001 - (held - 1)
    assert ledger.report()[0]["reserved"] == (held - 1)
    # A week after the first orders, the settled ones go, from the oldest, open ones stay.
    recorded(
        ledger,
        ledger.receive("r-1", {"cup-500": 1}, "manual"),
        NOON + WEEK + timedelta(seconds=1500),
    )
    assert "ord-1" not in ledger.reservations
    assert "ord-2999" in ledger.reservations
    assert "ord-3" in ledger.reservations  # open (3 % 3 == 0): never forgotten
    assert ledger.reserve("ord-2999", {"cup-500": 1}) is None  # still recognised


def test_a_busy_weeks_snapshot_fits_in_one_nats_message() -> None:
    """The snapshot is one NATS message (1 MiB by default). A week of 1,500 settled orders
    a day at one outlet (10,500 remembered, each once holding nine ingredients) and a
    hundred still open fit, with room; a settled reservation holds nothing any more."""
    ledger = OutletStock("outlet-1", memory=WEEK)
    needs = {f"ingredient-{n}": 100 for n in range(9)}
    recorded(ledger, ledger.count("c-1", dict.fromkeys(needs, 10**9)))
    for n in range(10_600):
        at = NOON + timedelta(seconds=50 * n)
        order_id = f"ord-20261201-{n:08x}"
        recorded(ledger, ledger.reserve(order_id, needs), at)
        if n < 10_500:
            recorded(ledger, ledger.commit(order_id), at)
    assert ledger.reservations["ord-20261201-00000000"].held == {}
    snapshot = json.dumps({"state": ledger.as_record(), "last_seq": 10**6}).encode()
    assert len(snapshot) < 1024 * 1024 * 0.9, len(snapshot)
    again = OutletStock.from_record(json.loads(snapshot)["state"], WEEK)
    assert again.report() == ledger.report()
    assert again.reserved("ingredient-0") == 100 * 100
    assert again.reserve("ord-20261201-00000000", needs) is None  # still recognised
