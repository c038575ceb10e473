"""Typed settings from the environment, and the event envelope's wire shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bobaku.kernel.context import correlation_id_var, trace_id_var
from bobaku.kernel.db import Databases
from bobaku.kernel.events import Event, default_registry, new_event
from bobaku.kernel.settings import Settings

SEED_EVENT = {
    "id": "evt-20231015-4582",
    "type": "order.created",
    "timestamp": "2023-10-15T14:30:00Z",
    "version": "1.0",
    "source": "order-service",
    "data": {
        "order_id": "ord-20231015-789",
        "user_id": "u456",
        "outlet_id": "outlet-23",
        "items": [
            {
                "menu_id": "m001",
                "quantity": 2,
                "customizations": {
                    "sugar_level": 50,
                    "ice_level": 30,
                    "toppings": ["t001", "t003"],
                },
            }
        ],
        "total_amount": 76000,
        "payment_method": "gopay",
        "status": "pending_payment",
    },
    "metadata": {"correlation_id": "corr-78934", "trace_id": "trace-82938"},
}


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://10.0.0.5:4222")
    monkeypatch.setenv("SERVICE_NAME", "order")
    monkeypatch.setenv("HTTP_PORT", "9001")
    s = Settings()
    assert (s.nats_url, s.service_name, s.http_port) == ("nats://10.0.0.5:4222", "order", 9001)


def test_a_wrong_setting_fails_at_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URL", "postgres://db")
    monkeypatch.setenv("HTTP_PORT", "eighty")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert {e["loc"][0] for e in caught.value.errors()} == {"mongodb_url", "http_port"}


def test_the_briefs_example_event_parses_and_serialises_to_the_same_shape() -> None:
    event = Event.model_validate({**SEED_EVENT, "tenant": "fr-jkt"})
    assert json.loads(event.to_json()) == {**SEED_EVENT, "tenant": "fr-jkt"}
    default_registry().validate(event)


def test_consumers_tolerate_fields_they_do_not_know() -> None:
    newer = {**SEED_EVENT, "schema_url": "x", "metadata": {**SEED_EVENT["metadata"], "hop": 2}}  # type: ignore[dict-item]
    event = Event.model_validate(newer)
    assert event.id == "evt-20231015-4582"


def test_new_events_take_their_ids_from_the_request_context() -> None:
    c, t = correlation_id_var.set("corr-req-1"), trace_id_var.set("trace-req-1")
    try:
        event = new_event("order.created", {}, source="order-service", tenant="fr-jkt")
    finally:
        correlation_id_var.reset(c)
        trace_id_var.reset(t)
    assert event.metadata.correlation_id == "corr-req-1"
    assert event.metadata.trace_id == "trace-req-1"
    assert event.id.startswith(f"evt-{datetime.now(UTC):%Y%m%d}-")
    assert json.loads(event.to_json())["timestamp"].endswith("Z")


def test_every_shipped_schema_is_a_valid_json_schema() -> None:
    registry = default_registry()
    assert ("order.created", "1.0") in registry
    assert list(registry)  # loading checked each with check_schema


def test_parse_utc_is_the_inverse_of_utc_iso() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    import pytest

    from bobaku.kernel.events.envelope import parse_utc, utc_iso

    at = datetime(2023, 10, 15, 14, 30, 0, 123000, tzinfo=UTC)
    assert parse_utc(utc_iso(at)) == at
    assert parse_utc("2023-10-15T14:30:00Z").tzinfo is UTC
    wib = parse_utc("2023-10-15T21:30:00+07:00")
    assert wib == datetime(2023, 10, 15, 14, 30, tzinfo=UTC)
    assert wib.utcoffset() == timedelta(0)
    assert parse_utc("2023-10-15T14:30:00") == datetime(2023, 10, 15, 14, 30, tzinfo=UTC)
    assert parse_utc("2023-10-15T14:30:00-01:00").tzinfo != timezone(timedelta(hours=-1))
    with pytest.raises(ValueError, match="yesterday"):
        parse_utc("yesterday")


async def test_a_time_prints_the_same_before_and_after_a_round_trip_through_mongodb(
    databases: Databases,
) -> None:
    """BSON keeps milliseconds: a registration answered with ``…:00.000Z`` and read back as
    ``…:00Z`` made the profile differ from the registration about once in a thousand."""
    from bobaku.kernel.events.envelope import utc_iso

    times = [
        datetime(2026, 12, 2, 14, 30, 0, micro, tzinfo=UTC)
        for micro in (0, 1, 400, 999, 1000, 123456, 999999)
    ]
    stored = databases.platform.test_times
    await stored.insert_many([{"_id": n, "at": at} for n, at in enumerate(times)])
    for n, at in enumerate(times):
        doc = await stored.find_one({"_id": n})
        assert doc is not None
        assert utc_iso(doc["at"]) == utc_iso(at), at
    assert utc_iso(times[2]) == "2026-12-02T14:30:00Z"
    assert utc_iso(times[5]) == "2026-12-02T14:30:00.123Z"
