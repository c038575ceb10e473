"""From platform events to notifications: who is told what, on which channels.

One consumer feeds :meth:`Notifier.on_event`. For each recipient the notification is
rendered once (language, formats and time zone of the recipient), written once under an id
derived from its cause (the insert is the deduplication), and one delivery job per allowed
channel is queued on the ``NOTIFICATIONS`` stream; each channel has its own consumer, so a
broken channel never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bobaku.kernel.auth import Role
from bobaku.kernel.bus import EventBus, RetryLater
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.eventstore import AggregateStore
from bobaku.services.notification.adapters.directory import Customers, KitchenPresence
from bobaku.services.notification.adapters.records import Records
from bobaku.services.notification.adapters.repos import (
    InboxRepo,
    PreferencesRepo,
    RosterRepo,
    StatusRepo,
    TokensRepo,
)
from bobaku.services.notification.adapters.state import State, part
from bobaku.services.notification.adapters.templates import Templates
from bobaku.services.notification.domain import links
from bobaku.services.notification.domain.kinds import KINDS, Audience, Channel, Status
from bobaku.services.notification.domain.rules import (
    Intent,
    intents_for,
    notification_id,
    provider_of,
)
from bobaku.services.notification.service_layer.clock import iso, parse_utc, utc_now

log = logging.getLogger(__name__)

SOURCE = "notification-service"
DELIVERY_REQUESTED = "notification.delivery_requested"
LATE_CHECK = "notification.late_check_due"
DONE_STATUSES = {"order.ready", "order.completed", "order.cancelled", "order.compensated"}


def delivery_subject(channel: str) -> str:
    return f"ntf.deliver.{channel}"


@dataclass
class Notifier:
    bus: EventBus
    state: State
    records: Records
    customers: Customers
    presence: KitchenPresence
    templates: Templates
    signing_key: bytes
    public_base_url: str
    late_grace_s: float = 300.0
    failure_window_s: int = 600
    failure_threshold: int = 3
    # The order aggregates (ES_ORDER), read when a late check comes due.
    orders: AggregateStore | None = None
    prefs: PreferencesRepo = field(init=False)
    status: StatusRepo = field(init=False)
    inbox: InboxRepo = field(init=False)
    roster: RosterRepo = field(init=False)
    tokens: TokensRepo = field(init=False)

    def __post_init__(self) -> None:
        self.prefs = PreferencesRepo(self.state)
        self.status = StatusRepo(self.state)
        self.inbox = InboxRepo(self.state)
        self.roster = RosterRepo(self.state)
        self.tokens = TokensRepo(self.state)

    # --- deciding ------------------------------------------------------------------------

    async def on_event(self, event: Event, stream_seq: int | None = None) -> None:
        """``stream_seq``: the event's sequence in ES_ORDER, for an order's events."""
        intents = intents_for(event)
        intents += await self._staff_intents(event, stream_seq)
        for intent in intents:
            for user_id, role in await self._recipients(intent):
                await self.create(intent, user_id, role)

    async def _staff_intents(self, event: Event, stream_seq: int | None) -> list[Intent]:
        data, tenant = event.data, event.tenant
        out: list[Intent] = []
        if event.type == "order.being_prepared" and tenant:
            order_id, outlet_id = data["order_id"], data.get("outlet_id")
            await self.state.put(
                f"late.{part(tenant)}.{part(order_id)}", {"ticket": event.id, "ready": False}
            )
            if outlet_id and not await self.presence.online(outlet_id):
                out.append(
                    Intent(
                        "kitchen_offline_order",
                        event.id,
                        tenant,
                        outlet_id=outlet_id,
                        params={"order_id": order_id, "outlet_id": outlet_id},
                    )
                )
            if data.get("estimated_completion") and outlet_id:
                due = parse_utc(data["estimated_completion"]) + timedelta(seconds=self.late_grace_s)
                timer: dict[str, Any] = {
                    "order_id": order_id,
                    "outlet_id": outlet_id,
                    "ticket": event.id,
                    "target": data["estimated_completion"],
                    "not_before": iso(due),
                }
                if stream_seq is not None:
                    timer["after_seq"] = stream_seq
                check = new_event(
                    LATE_CHECK,
                    timer,
                    source=SOURCE,
                    tenant=tenant,
                    version="1.1",
                    event_id=f"late-{event.id}",
                )
                await self.bus.publish(check, subject="ntf.check.late")
        elif event.type in DONE_STATUSES and tenant and data.get("order_id"):
            # A ready mark needs no ticket (a check finding it stops): one write, no
            # compare-and-set. A later ticket (a recall) writes its own state after it.
            await self.state.put(f"late.{part(tenant)}.{part(data['order_id'])}", {"ready": True})
        elif event.type == "payment.failed" and tenant:
            provider = provider_of(data.get("transaction_id"))
            alert = await self._count_failure(tenant, provider, event)
            if alert is not None:
                out.append(
                    Intent(
                        "provider_failing",
                        alert,
                        tenant,
                        params={
                            "provider": provider,
                            "failures": self.failure_threshold,
                            "window_minutes": self.failure_window_s // 60,
                        },
                    )
                )
        return out

    async def _count_failure(self, tenant: str, provider: str, event: Event) -> str | None:
        """Failures of one provider in a sliding window; the cause of an alert when this
        failure is the one that reaches the threshold (at most one alert per window). A
        redelivered failure is not counted again, but gets its alert's cause back, so a
        crash after counting cannot lose the alert."""
        now, window = event.timestamp.timestamp(), self.failure_window_s
        cause = f"pfail:{tenant}:{provider}:{event.id}"
        fired: str | None = None

        def mutate(raw: Any) -> Any:
            nonlocal fired
            raw = raw or {"seen": [], "alerted_at": 0.0, "alert": None}
            seen = [s for s in raw["seen"] if s[1] > now - window]
            if any(s[0] == event.id for s in seen):
                fired = cause if raw.get("alert") == cause else None
                return {**raw, "seen": seen}
            seen.append([event.id, now])
            fired = (
                cause
                if len(seen) >= self.failure_threshold
                and now - raw.get("alerted_at", 0.0) >= window
                else None
            )
            return {
                "seen": seen[-self.failure_threshold * 4 :],
                "alerted_at": now if fired else raw.get("alerted_at", 0.0),
                "alert": fired or raw.get("alert"),
            }

        await self.state.change(f"pfail.{part(tenant)}.{part(provider)}", mutate)
        return fired

    async def on_late_check(self, event: Event) -> None:
        data, tenant = event.data, event.tenant
        wait = (parse_utc(data["not_before"]) - utc_now()).total_seconds()
        if wait > 0:
            raise RetryLater(min(wait, 3600.0), "the order's service target has not passed yet")
        current = await self.state.get(f"late.{part(tenant or '')}.{part(data['order_id'])}")
        if not current or current.get("ready") or current.get("ticket") != data["ticket"]:
            return
        if await self._left_the_kitchen(tenant, data["order_id"], data.get("after_seq")):
            return  # ready in time; this service just has not read that event yet
        intent = Intent(
            "order_late",
            data["ticket"],
            tenant,
            outlet_id=data["outlet_id"],
            params={
                "order_id": data["order_id"],
                "outlet_id": data["outlet_id"],
                "target": data["target"],
            },
        )
        for user_id, role in await self._recipients(intent):
            await self.create(intent, user_id, role)

    async def _left_the_kitchen(
        self, tenant: str | None, order_id: str, after_seq: int | None = None
    ) -> bool:
        """The order's own stream, the source of truth: the ready mark above comes from a
        consumer that may be behind the timer. Only the events after the ticket are read
        (a timer of v1.0, without ``after_seq``, reads the order's whole history)."""
        if self.orders is None:
            return False
        subject = self.orders.subject(tenant, order_id)
        stream = await self.orders.load(subject, after_seq=after_seq or 0)
        return any(e.type in DONE_STATUSES for e in stream.events)

    async def _recipients(self, intent: Intent) -> list[tuple[str, str]]:
        audience = KINDS[intent.kind].audience
        if audience is Audience.CUSTOMER:
            return [(intent.user_id, str(Role.CUSTOMER))] if intent.user_id else []
        if not intent.tenant:
            return []
        outlet = (
            await self.roster.members(intent.tenant, intent.outlet_id) if intent.outlet_id else {}
        )
        if audience is Audience.STAFF:
            return sorted(outlet.items())
        managers = {u: r for u, r in outlet.items() if r != str(Role.STAFF)}
        managers.update(await self.roster.members(intent.tenant, None))
        return sorted(managers.items())

    # --- creating ------------------------------------------------------------------------

    def unsubscribe_url(self, user_id: str, channel: str, kind: str | None) -> str:
        token = links.sign(self.signing_key, links.Unsubscribe(user_id, channel, kind))
        return f"{self.public_base_url.rstrip('/')}/api/v1/notifications/unsubscribe?token={token}"

    async def create(self, intent: Intent, user_id: str, role: str) -> str:
        nid = notification_id(intent.cause, intent.kind, user_id)
        # Independent reads, together: the handler's time is its round trips.
        existing, prefs, card = await asyncio.gather(
            self.status.get(nid),
            self.prefs.get(user_id),
            self.customers.card(user_id),  # staff have accounts there too
        )
        if existing is not None:
            await self._queue(nid, existing, intent.tenant)  # a redelivery: resume, never resend
            return nid
        kind = KINDS[intent.kind]
        language = prefs.language_or((card or {}).get("language"))
        profile_switches = (card or {}).get("notifications") or {}
        now = utc_now()
        rendered = self.templates.render(
            intent.kind,
            language,
            intent.params,
            time_zone=prefs.time_zone,
            unsubscribe_url=self.unsubscribe_url(user_id, "email", intent.kind),
        )
        email_to = prefs.email or (card or {}).get("email")
        deferred = prefs.deferred_until(intent.kind, now)
        channels: dict[str, dict[str, Any]] = {}
        for channel in kind.channels:
            reason = None
            if not prefs.allows(intent.kind, channel, profile_switches):
                reason = "opted out"
            elif channel is Channel.EMAIL and not email_to:
                reason = "no email address"
            entry: dict[str, Any] = {
                "status": str(Status.SUPPRESSED if reason else Status.QUEUED),
                "attempts": 0,
                "updated_at": iso(now),
            }
            if reason:
                entry["reason"] = reason
            elif deferred is not None:
                entry["deferred_until"] = iso(deferred)
            channels[str(channel)] = entry
        record = {
            "_id": nid,
            "user_id": user_id,
            "role": role,
            "kind": intent.kind,
            "tenant": intent.tenant,
            "cause": intent.cause,
            "language": rendered.language,
            "title": rendered.title,
            "body": rendered.body,
            "text": rendered.text,
            "html": rendered.html,
            "email_to": email_to,
            "unsubscribe_url": self.unsubscribe_url(user_id, "email", intent.kind),
            "params": {
                k: v for k, v in intent.params.items() if isinstance(v, str | int | float | bool)
            },
            "created_at": iso(now),
        }
        await self.records.insert(record)  # a duplicate insert is the same record
        status = {
            "user_id": user_id,
            "kind": intent.kind,
            "tenant": intent.tenant,
            "created_at": iso(now),
            "read": False,
            "channels": channels,
        }
        in_app = channels.get(str(Channel.IN_APP), {}).get("status") == str(Status.QUEUED)
        if not await self.status.create(nid, status):
            # Another delivery of the cause got there first: queue what it wrote.
            await self._queue(nid, await self.status.get(nid) or status, intent.tenant)
            return nid
        await asyncio.gather(
            *([self.inbox.add(user_id, nid)] if in_app else []),
            self._queue(nid, status, intent.tenant),
        )
        return nid

    async def _queue(self, nid: str, status: dict[str, Any], tenant: str | None) -> None:
        jobs = []
        for channel, entry in status["channels"].items():
            if entry.get("status") != str(Status.QUEUED):
                continue
            data: dict[str, Any] = {"notification_id": nid, "channel": channel}
            if entry.get("deferred_until"):
                data["not_before"] = entry["deferred_until"]
            job = new_event(
                DELIVERY_REQUESTED,
                data,
                source=SOURCE,
                tenant=tenant,
                event_id=f"dlv-{nid}-{channel}",
            )
            jobs.append(self.bus.publish(job, subject=delivery_subject(channel)))
        await asyncio.gather(*jobs)
