"""Daily settlement: what each outlet's payments add up to, per business day.

A settlement *line* is what one event contributes: a capture adds its amount, its provider
fee and one to the count; a refund adds to ``refunded``; a lost dispute adds to
``chargebacks``. Lines are summed into counters per day per outlet, once per event, and the
report derives ``net = captured - refunded - chargebacks - provider_fees``.

The business day is the local date (``SETTLEMENT_TIMEZONE``, default Asia/Jakarta, the
day Indonesian providers settle on) of when the money moved: the provider's ``paid_at`` for
a capture, the time we recorded a refund or a lost dispute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from bobaku.kernel.events.envelope import parse_utc
from bobaku.services.payment.domain.events import Captured, DisputeLost, PaymentEvent, Refunded
from bobaku.services.payment.domain.fees import provider_fee

FIGURES = ("captured", "refunded", "chargebacks", "provider_fees", "count")


@dataclass(frozen=True)
class SettlementLine:
    day: str
    outlet_id: str
    provider: str
    captured: int = 0
    refunded: int = 0
    chargebacks: int = 0
    provider_fees: int = 0
    count: int = 0

    def figures(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIGURES}


def business_day(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).date().isoformat()


def settlement_line(
    event: PaymentEvent, provider: str, recorded_at: datetime, tz: tzinfo
) -> SettlementLine | None:
    """What ``event`` adds to its outlet's day, or ``None`` if it moves no money."""
    if isinstance(event, Captured):
        day = business_day(parse_utc(event.paid_at), tz)
        return SettlementLine(
            day,
            event.outlet_id,
            provider,
            captured=event.amount,
            provider_fees=provider_fee(provider, event.amount),
            count=1,
        )
    if isinstance(event, Refunded):
        return SettlementLine(
            business_day(recorded_at, tz), event.outlet_id, provider, refunded=event.amount
        )
    if isinstance(event, DisputeLost):
        return SettlementLine(
            business_day(recorded_at, tz), event.outlet_id, provider, chargebacks=event.amount
        )
    return None


def empty_figures() -> dict[str, int]:
    return dict.fromkeys(FIGURES, 0)


def tally_fields(line: SettlementLine) -> dict[str, int]:
    """What ``line`` adds to its day's counters: each figure to ``totals.<figure>`` and to
    ``<provider>.<figure>`` (the store adds them once per event id)."""
    fields: dict[str, int] = {}
    for name, value in line.figures().items():
        fields[f"totals.{name}"] = value
        fields[f"{line.provider}.{name}"] = value
    return fields


def with_net(figures: dict[str, int]) -> dict[str, int]:
    out = {name: int(figures.get(name, 0)) for name in FIGURES}
    out["net"] = out["captured"] - out["refunded"] - out["chargebacks"] - out["provider_fees"]
    return out


def sum_figures(rows: list[dict[str, int]]) -> dict[str, int]:
    total = empty_figures()
    for row in rows:
        for name in FIGURES:
            total[name] += int(row.get(name, 0))
    return with_net(total)
