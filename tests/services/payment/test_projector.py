"""The payment projector: one writer per read model, each event counted once."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from payment_testing import World, new_franchise
from support import eventually

from bobaku.kernel.bus import Delivery, Reject
from bobaku.kernel.events import new_event
from bobaku.services.payment.adapters.lease import LeaderLease
from bobaku.services.payment.entrypoints.http import CONTEXT, COUNTERS, VIEWS
from bobaku.services.payment.entrypoints.projector import PaymentProjector


def projector_of(world: World) -> PaymentProjector:
    app = world.app
    return PaymentProjector(
        app[CONTEXT].payments, app[COUNTERS], app[VIEWS], ZoneInfo("Asia/Jakarta")
    )


async def test_a_redelivered_event_is_counted_once(world: World) -> None:
    fr = new_franchise()
    payment = await world.paid(fr, provider="gopay", amount=50_000)
    counters = world.app[COUNTERS]

    async def counted() -> Any:
        docs = await counters.of_day(fr, _any_day(payment), None)
        return docs if docs and docs[0]["totals"]["count"] == 1 else None

    before = await eventually(counted, timeout=20)
    history = await world.history(fr, payment["intent_id"])
    delivery = Delivery(subject="es.payment", stream="ES_PAYMENT", stream_seq=1, deliveries=2)
    for event in history:  # as JetStream would after a lost ack
        await projector_of(world).handle(event, delivery)

    after = await counters.of_day(fr, _any_day(payment), None)
    assert after[0]["totals"] == before[0]["totals"]


async def test_an_event_this_service_did_not_write_is_dead_lettered_at_once(
    world: World,
) -> None:
    handmade = new_event(
        "payment.captured",
        {"intent_id": "pay-20260101-00000000", "franchise_id": "fr-x"},
        source="someone-else",
        tenant="fr-x",
    )

    with pytest.raises(Reject, match="does not fit"):
        await projector_of(world).handle(
            handmade, Delivery("es.payment.fr-x.pay-20260101-00000000", "ES_PAYMENT", 1, 1)
        )


async def test_only_one_process_holds_the_projector_lease(redis: Any) -> None:
    name = f"test-{secrets.token_hex(4)}"
    first, second = LeaderLease(redis, name, 5), LeaderLease(redis, name, 5)

    assert await first.hold() is True
    assert await second.hold() is False
    assert await first.hold() is True  # renewing what it holds
    await first.release()
    assert await second.hold() is True
    assert await first.renew() is False  # the old holder cannot renew what it lost
    await second.release()


def _any_day(payment: dict[str, Any]) -> str:
    """The Jakarta business day of the payment's capture."""
    paid_at = datetime.fromisoformat(payment["paid_at"])
    return paid_at.astimezone(ZoneInfo("Asia/Jakarta")).date().isoformat()
