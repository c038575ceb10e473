"""Delivering one notification on one channel: the handler of each channel's consumer.

A job is a ``notification.delivery_requested`` event. The handler reads the channel's
status first, so a redelivered job never sends twice; it counts its own attempts (a job
deferred to the end of quiet hours is redelivered later without using up a try), backs
off per channel on failure (the consumer's delays, or the provider's ``Retry-After``), and
after the last try marks the channel ``failed`` with the reason and dead-letters the job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.bus import Delivery, EventBus, Reject, RetryLater
from bobaku.kernel.events import Event, new_event
from bobaku.services.notification.adapters.email import Email, SmtpSender
from bobaku.services.notification.adapters.push import Outcome, PushClient, PushMessage
from bobaku.services.notification.adapters.records import Records
from bobaku.services.notification.adapters.repos import StatusRepo, TokensRepo
from bobaku.services.notification.domain.kinds import Channel, Status
from bobaku.services.notification.service_layer.clock import iso, parse_utc, utc_now

log = logging.getLogger(__name__)

IN_APP_EVENT = "notification.requested"
FINAL = {str(Status.SENT), str(Status.DELIVERED), str(Status.FAILED), str(Status.SUPPRESSED)}


class ChannelFailed(Exception):
    def __init__(
        self,
        reason: str,
        retry_after_s: float | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        # What the try got done before it failed (push: tokens accepted), kept for the next.
        self.progress = progress or {}


@dataclass
class Deliverer:
    bus: EventBus
    records: Records
    status: StatusRepo
    tokens: TokensRepo
    smtp: SmtpSender
    push: PushClient
    message_id_domain: str
    tries: dict[str, int]
    max_retry_after_s: float = 300.0

    async def handle(self, event: Event, _: Delivery) -> None:
        nid, channel = event.data["notification_id"], event.data["channel"]
        # Both reads at once: a job's latency is its round trips one after the other.
        read, record = await asyncio.gather(self.status.read(nid), self.records.get(nid))
        current = read.value
        if current is None:
            raise Reject(f"no status for notification {nid}")
        entry = current["channels"].get(channel, {})
        if entry.get("status") in FINAL:
            return
        not_before = event.data.get("not_before")
        if not_before:
            wait = (parse_utc(not_before) - utc_now()).total_seconds()
            if wait > 0:
                raise RetryLater(min(wait, 3600.0), "deferred to the end of quiet hours")
        if record is None:
            raise Reject(f"notification {nid} has a status but no record")
        # The try is counted with its outcome, in one write (a crash in the middle of a send
        # does not count it; the consumer's max_deliveries still bounds the redeliveries).
        attempt = int(entry.get("attempts", 0)) + 1
        # The outcome is written against the status as read above: one round trip, unless
        # another channel (or a receipt) wrote in between and the compare-and-set re-reads.
        try:
            result = await self._send(Channel(channel), record, entry)
        except _Stop:
            return
        except ChannelFailed as exc:
            reason = str(exc)
            if attempt >= self.tries[channel]:
                await self.status.update_channel(
                    nid, channel, read, status=str(Status.FAILED), error=reason,
                    attempts=attempt, updated_at=iso(utc_now()), **exc.progress,
                )  # fmt: skip
                raise Reject(f"{channel} failed after {attempt} tries: {reason}") from exc
            await self.status.update_channel(
                nid, channel, read, error=reason, attempts=attempt, updated_at=iso(utc_now()),
                **exc.progress,
            )  # fmt: skip
            if exc.retry_after_s is not None:
                raise RetryLater(min(exc.retry_after_s, self.max_retry_after_s), reason) from exc
            raise
        await self.status.update_channel(
            nid, channel, read, status=str(Status.SENT), error=None, attempts=attempt,
            updated_at=iso(utc_now()), **result,
        )  # fmt: skip

    async def _send(
        self, channel: Channel, record: dict[str, Any], entry: dict[str, Any]
    ) -> dict[str, Any]:
        if channel is Channel.IN_APP:
            return await self._in_app(record)
        if channel is Channel.EMAIL:
            return await self._email(record)
        return await self._push(record, entry)

    async def _in_app(self, record: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": record["user_id"],
            "kind": record["kind"],
            "language": record["language"],
            "title": record["title"],
            "body": record["body"],
            "notification_id": record["_id"],
            "channels": ["in_app"],
        }
        params = record.get("params") or {}
        if params.get("order_id"):
            data["order_id"] = params["order_id"]
        if isinstance(params.get("amount"), int):
            data["amount"] = params["amount"]
        note = new_event(
            IN_APP_EVENT,
            data,
            source="notification-service",
            tenant=record.get("tenant"),
            version="1.1",
            event_id=f"inapp-{record['_id']}",
        )
        try:
            await self.bus.publish(note)
        except Exception as exc:
            raise ChannelFailed(f"publishing to the hub failed: {exc!r}") from exc
        return {}

    async def _email(self, record: dict[str, Any]) -> dict[str, Any]:
        message_id = f"{record['_id']}@{self.message_id_domain}"
        email = Email(
            to=record["email_to"],
            subject=record["title"],
            text=record["text"],
            html=record["html"],
            message_id=message_id,
            unsubscribe_url=record.get("unsubscribe_url"),
            language=record["language"],
        )
        try:
            await self.smtp.send(email)
        except (OSError, TimeoutError) as exc:  # refused, reset, timed out, SMTP errors
            raise ChannelFailed(f"SMTP: {type(exc).__name__}: {exc}") from exc
        return {"message_id": message_id}

    async def _push(self, record: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        user_id, nid = record["user_id"], record["_id"]
        tokens = await self.tokens.all(user_id)
        done: dict[str, str] = dict(entry.get("tokens") or {})
        if not tokens and not done:
            await self.status.update_channel(
                nid, "push", status=str(Status.SUPPRESSED), reason="no device registered"
            )
            raise _Stop
        message = PushMessage(
            title=record["title"],
            body=record["body"],
            data={"notification_id": nid, "kind": record["kind"]},
            collapse_id=nid,
        )
        removed: list[str] = list(entry.get("removed_tokens") or [])
        failure: tuple[str, float | None] | None = None
        todo = [(i, info) for i, info in sorted(tokens.items()) if i not in done]
        for n, (ident, info) in enumerate(todo):  # accepted on an earlier try: never again
            if n:
                # Progress is kept per token, so a retry only sends what is still missing
                # (the last token's goes with the outcome).
                await self.status.update_channel(nid, "push", tokens=done, removed_tokens=removed)
            result = await self.push.send(info["platform"], info["token"], message)
            if result.outcome is Outcome.ACCEPTED:
                done[ident] = result.message_id or ""
            elif result.outcome is Outcome.UNREGISTERED:
                await self.tokens.remove(user_id, ident)
                await self.tokens.release(ident)
                removed.append(ident)
                log.info("removed an unregistered push token", extra={"token_id": ident})
            elif result.outcome is Outcome.PERMANENT:
                removed.append(ident)
                log.warning("push refused", extra={"token_id": ident, "error": result.error})
            else:
                failure = failure or (result.error, result.retry_after_s)
        progress = {"tokens": done, "removed_tokens": removed}
        if failure is not None:
            raise ChannelFailed(f"push: {failure[0]}", failure[1], progress)
        if not done:
            await self.status.update_channel(
                nid, "push", status=str(Status.SUPPRESSED), reason="no valid device token",
                **progress,
            )  # fmt: skip
            raise _Stop
        return progress

    async def receipt(self, nid: str, token_message_id: str) -> bool:
        """A provider's delivery receipt: the push reached a device."""
        read = await self.status.read(nid)
        current = read.value
        if current is None:
            return False
        entry = current["channels"].get("push", {})
        if token_message_id not in (entry.get("tokens") or {}).values():
            return False
        await self.status.update_channel(
            nid, "push", read, status=str(Status.DELIVERED), delivered_at=iso(utc_now())
        )
        return True


class _Stop(Exception):
    """The channel was settled without sending (suppressed); nothing more to do."""
