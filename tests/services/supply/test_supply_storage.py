"""What the order's supply step and the relay write outside the event streams, on the real
FerretDB: one insert per order (never an update of a collection that grows with orders),
and a per-outlet entry that only ever moves to a newer ledger sequence, however the relays
of several replicas race."""

from __future__ import annotations

import asyncio
import random
import secrets

from supply_testing import SupplyHarness

from bobaku.services.supply.entrypoints.http import CONTEXT


async def test_the_first_outlet_named_for_an_order_wins_even_when_calls_race(
    harness: SupplyHarness,
) -> None:
    repository = harness.supply.app[CONTEXT].repository
    order_id = f"ord-{secrets.token_hex(6)}"
    outlets = [f"outlet-{n}" for n in range(12)]
    places = await asyncio.gather(
        *(repository.place_reservation(order_id, "fr-jakarta", o) for o in outlets)
    )
    assert len(set(places)) == 1
    assert places[0][1] in outlets
    assert await repository.reservation_place(order_id) == places[0]
    # A later call, from any replica, is told the same place.
    assert await repository.place_reservation(order_id, "fr-jakarta", "outlet-99") == places[0]


async def test_the_announced_availability_only_moves_to_a_newer_sequence(
    harness: SupplyHarness,
) -> None:
    announced = harness.supply.app[CONTEXT].announced
    outlet, franchise = await harness.new_outlet()
    seqs = list(range(1, 25))
    random.Random(4).shuffle(seqs)
    await asyncio.gather(*(announced.set(franchise, outlet, [f"m{n:03d}"], n) for n in seqs))
    assert await announced.get(franchise, outlet) == (["m024"], 24)
    assert not await announced.set(franchise, outlet, [], 7)  # a late, older one
    assert not await announced.set(franchise, outlet, [], 24)  # a redelivery
    assert await announced.get(franchise, outlet) == (["m024"], 24)
    assert await announced.set(franchise, outlet, [], 25)
    assert await announced.get(franchise, outlet) == ([], 25)
