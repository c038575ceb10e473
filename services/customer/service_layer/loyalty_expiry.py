"""The loyalty expiry job (a kernel :class:`~bobaku.kernel.tasks.BackgroundTask`).

Each step walks the expiry calendar (``adapters/loyalty_expiry.py``) day by day, reading
only the days it has not finished, by key:

- **reminders**: for the days up to ``notice_days`` ahead, each customer whose points lapse
  then hears it once: a ``loyalty.reward_expiring`` on EVENTS (``events.brand.…``), whose
  event id and notification cause are the customer and the lapse day, so a second run, a
  crash before the mark or another replica publishing the same reminder tells nobody twice;
- **expiries**: for the days that have begun, the ledger appends ``loyalty.points_expired``
  (once per lapse day: the ledger remembers its lapses) and the day's entry is deleted.

A day is finished (its cursor moves past it) once it can gain no new entries in the normal
course: the newest day of each walk is read again at the next step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import new_event
from bobaku.kernel.events.envelope import utc_iso
from bobaku.services.customer.adapters.loyalty_expiry import ExpiryCalendar
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.commands import ExpirePoints
from bobaku.services.customer.domain.events import RewardExpiring
from bobaku.services.customer.service_layer import handlers
from bobaku.services.customer.service_layer.clock import utc_now
from bobaku.services.customer.service_layer.context import CustomerContext

log = logging.getLogger(__name__)

SOURCE = "customer-service"
# Days one step walks before it yields (the task calls it again at once).
DAYS_PER_STEP = 31
# How far back a deployment's first run looks for lapses it has not applied.
FIRST_LOOK_BACK_DAYS = 7
# What lapses is the points balance: the reminder names it as a "reward" of its own.
POINTS_REWARD_NAME = "BobaKu points"


def reminder_id(customer_id: str, day: date) -> str:
    return f"lxp-{customer_id}-{day:%Y%m%d}"


@dataclass
class LoyaltyExpiry:
    ctx: CustomerContext
    bus: EventBus
    calendar: ExpiryCalendar
    valid_days: int
    notice_days: int

    async def step(self) -> bool:
        """One pass of both walks; True while days are left over (after a long stop)."""
        more_reminders = await self._remind()
        more_expiries = await self._expire()
        return more_reminders or more_expiries

    async def _remind(self) -> bool:
        today = utc_now().date()
        horizon = today + timedelta(days=self.notice_days)
        start = await self._start("notice", today)
        # A lapse that has begun is the expiry walk's, not a reminder's.
        day = max(start, today + timedelta(days=1))
        last = min(horizon, day + timedelta(days=DAYS_PER_STEP))
        while day <= last:
            for customer_id, mark in (await self.calendar.due(day)).items():
                if not mark.get("noticed"):
                    await self._remind_one(customer_id, day)
            if day < horizon:
                await self.calendar.advance("notice", day)
            day += timedelta(days=1)
        return last < horizon

    async def _remind_one(self, customer_id: str, day: date) -> None:
        ledger, _ = await self.ctx.ledgers.load(customer_id)
        points = sum(p for lapse, p in loyalty.lapses(ledger, self.valid_days) if lapse == day)
        if points > 0:
            fact = RewardExpiring(
                customer_id=customer_id,
                reward_id=f"points-{day.isoformat()}",
                reward_name=POINTS_REWARD_NAME,
                expires_at=utc_iso(loyalty.lapse_moment(day)),
                points=points,
            )
            reminder = new_event(
                fact.type, fact.data, source=SOURCE, event_id=reminder_id(customer_id, day)
            )
            await self.bus.publish(reminder)
            log.info(
                "points lapse soon; the customer is told",
                extra={"customer_id": customer_id, "lapse": day.isoformat(), "points": points},
            )
        await self.calendar.noticed(day, customer_id)

    async def _expire(self) -> bool:
        today = utc_now().date()
        start = await self._start("expire", today)
        day, last = start, min(today, start + timedelta(days=DAYS_PER_STEP))
        while day <= last:
            for customer_id in await self.calendar.due(day):
                expired = await handlers.expire_points(
                    self.ctx, ExpirePoints(customer_id, day, self.valid_days)
                )
                if expired:
                    log.info(
                        "points lapsed",
                        extra={"customer_id": customer_id, "lapse": day.isoformat(),
                               "points": expired},
                    )  # fmt: skip
                await self.calendar.done(day, customer_id)
            if day < today:
                await self.calendar.advance("expire", day)
            day += timedelta(days=1)
        return last < today

    async def _start(self, job: str, today: date) -> date:
        """The first day a walk has not finished; on a deployment's very first run, a week
        back (the calendar only holds what the projector marked since it began)."""
        finished = await self.calendar.cursor(job)
        if finished is None:
            return today - timedelta(days=FIRST_LOOK_BACK_DAYS)
        return finished + timedelta(days=1)
