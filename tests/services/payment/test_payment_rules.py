"""The Payment aggregate's rules, the fee table and settlement lines: plain Python, no
servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bobaku.services.payment.domain.errors import (
    AlreadyCaptured,
    CallbackMismatch,
    DisputeClosed,
    IdempotencyKeyReused,
    NotCaptured,
    RefundExceedsCaptured,
)
from bobaku.services.payment.domain.events import (
    Captured,
    DisputeLost,
    DisputeOpened,
    Expired,
    PaymentEvent,
    RefundRequested,
)
from bobaku.services.payment.domain.fees import FEE_TABLE, provider_fee
from bobaku.services.payment.domain.ids import intent_id_for
from bobaku.services.payment.domain.model import Payment, open_intent, replay
from bobaku.services.payment.domain.settlement import (
    business_day,
    settlement_line,
    tally_fields,
    with_net,
)

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TX = "gpy-1234567890"


def pending(amount: int = 82_000, provider: str = "gopay") -> Payment:
    created = open_intent(
        intent_id="pay-20261124-0000abcd",
        order_id="ord-20261124-0000abcd",
        franchise_id="fr-jkt",
        outlet_id="outlet-1",
        customer_id="u-000000000001",
        provider=provider,
        amount=amount,
        transaction_id=TX,
        action={"type": "deeplink", "url": "gojek://x"},
        now=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )
    payment = replay([created])
    assert payment is not None
    return payment


def apply(payment: Payment, events: list[PaymentEvent]) -> Payment:
    for event in events:
        payment.apply(event)
    return payment


def captured(amount: int = 82_000) -> Payment:
    payment = pending(amount)
    return apply(payment, payment.settle(TX, amount, "2026-11-24T03:01:00Z", "rfd-x", NOW))


@pytest.mark.parametrize(
    ("provider", "amount", "fee"),
    [
        ("gopay", 100_000, 2_000),
        ("ovo", 100_000, 2_000),
        ("dana", 100_000, 1_500),
        ("shopeepay", 100_000, 2_000),
        ("qris", 100_000, 700),
        ("card", 100_000, 4_900),
        ("gopay", 10_025, 201),  # 200.5: half rounds up
        ("gopay", 10_024, 200),  # 200.48
        ("dana", 33_333, 500),  # 499.995
        ("qris", 10_050, 70),  # 70.35
        ("card", 1_000, 2_029),  # the fixed part can exceed a tiny payment
    ],
)
def test_provider_fees_follow_the_table_rounded_half_up(
    provider: str, amount: int, fee: int
) -> None:
    assert provider_fee(provider, amount) == fee


def test_the_fee_table_covers_every_provider() -> None:
    assert set(FEE_TABLE) == {"gopay", "ovo", "dana", "shopeepay", "qris", "card"}


def test_an_intent_id_is_derived_from_its_order_id() -> None:
    assert intent_id_for("ord-20261124-9f3a1c2b") == "pay-20261124-9f3a1c2b"
    with pytest.raises(ValueError, match="not an order id"):
        intent_id_for("order-9")


def test_a_settlement_captures_once() -> None:
    payment = captured()

    assert payment.status == "captured"
    assert payment.settle(TX, 82_000, "2026-11-24T03:02:00Z", "rfd-y", NOW) == []


def test_a_failure_after_the_settlement_is_ignored() -> None:
    assert captured().fail(TX, "insufficient_balance") == []


def test_a_callback_for_another_transaction_or_amount_is_refused() -> None:
    payment = pending()

    with pytest.raises(CallbackMismatch):
        payment.settle("gpy-1", 82_000, "2026-11-24T03:01:00Z", "rfd-x", NOW)
    with pytest.raises(CallbackMismatch):
        payment.settle(TX, 1, "2026-11-24T03:01:00Z", "rfd-x", NOW)


def test_an_intent_expires_only_when_due_and_only_while_pending() -> None:
    payment = pending()

    assert payment.expire(NOW) == []
    (expired,) = payment.expire(NOW + timedelta(minutes=15))
    assert isinstance(expired, Expired)
    assert captured().expire(NOW + timedelta(hours=1)) == []


def test_a_settlement_after_expiry_is_captured_and_refunded_in_full() -> None:
    payment = pending()
    apply(payment, payment.expire(NOW + timedelta(minutes=16)))

    events = payment.settle(TX, 82_000, "2026-11-24T03:20:00Z", "rfd-late", NOW)

    capture, refund = events
    assert isinstance(capture, Captured)
    assert capture.late
    assert isinstance(refund, RefundRequested)
    assert refund.automatic
    assert refund.amount == 82_000
    apply(payment, events)
    assert payment.refundable_amount == 0
    assert payment.status == "expired"
    apply(payment, payment.complete_refund("rfd-late", "gpy-1234567890-r1", NOW))
    assert payment.status == "refunded"


def test_a_captured_payment_cannot_be_voided() -> None:
    with pytest.raises(AlreadyCaptured):
        captured().void("order cancelled", NOW)
    voided = pending()
    apply(voided, voided.void("order cancelled", NOW))
    assert voided.void("again", NOW) == []


def test_refunds_set_aside_count_against_what_is_left() -> None:
    payment = captured(82_000)
    apply(payment, payment.request_refund("rfd-1", 50_000, "x", "k1", "owner", NOW))

    assert payment.refundable_amount == 32_000
    with pytest.raises(RefundExceedsCaptured):
        payment.request_refund("rfd-2", 32_001, "x", "k2", "owner", NOW)
    assert payment.request_refund("rfd-1", 50_000, "x", "k1", "owner", NOW) == []
    with pytest.raises(IdempotencyKeyReused):
        payment.request_refund("rfd-3", 1, "x", "k1", "owner", NOW)
    apply(payment, payment.fail_refund("rfd-1", "provider said no"))
    assert payment.refundable_amount == 82_000
    with pytest.raises(NotCaptured):
        pending().request_refund("rfd-4", 1, "x", "k4", "owner", NOW)


def test_a_dispute_holds_its_amount_and_a_lost_one_is_a_chargeback() -> None:
    payment = captured(82_000)
    apply(payment, payment.open_dispute("dsp-1", TX, 50_000, "fraud", NOW))

    assert payment.refundable_amount == 32_000
    apply(payment, payment.resolve_dispute("dsp-1", TX, False, 50_000, "fraud", NOW))
    assert payment.chargeback_amount == 50_000
    assert payment.resolve_dispute("dsp-1", TX, True, 50_000, "fraud", NOW) == []
    with pytest.raises(DisputeClosed):
        payment.submit_evidence("dsp-1", "receipt", "owner", NOW)


def test_a_resolution_that_overtakes_the_opening_records_both() -> None:
    payment = captured()

    opened, lost = payment.resolve_dispute("dsp-2", TX, False, 10_000, "fraud", NOW)

    assert isinstance(opened, DisputeOpened)
    assert isinstance(lost, DisputeLost)


def test_a_settlement_line_counts_once_per_event_on_the_jakarta_business_day() -> None:
    jakarta = ZoneInfo("Asia/Jakarta")
    payment = pending(150_000, "card")
    (capture,) = payment.settle(TX, 150_000, "2026-11-24T18:30:00Z", "rfd-x", NOW)

    line = settlement_line(capture, "card", NOW, jakarta)

    assert line is not None
    assert line.day == "2026-11-25"  # 01:30 WIB the next day
    assert business_day(datetime(2026, 11, 24, 16, 59, tzinfo=UTC), jakarta) == "2026-11-24"
    fields = tally_fields(line)  # the store adds them once per event id (test_listings.py)
    totals = {k.removeprefix("totals."): v for k, v in fields.items() if k.startswith("totals.")}
    assert {k: v for k, v in fields.items() if k.startswith("card.")} == {
        f"card.{k}": v for k, v in totals.items()
    }
    assert with_net(totals) == {
        "captured": 150_000,
        "refunded": 0,
        "chargebacks": 0,
        "provider_fees": 6_350,
        "net": 143_650,
        "count": 1,
    }
