"""Delivering signed callbacks to the merchant, with retries like a real provider.

A callback that times out or gets anything but a 2xx is sent again after each pause in
``retry_delays_s``; after the last one the provider gives up (and the merchant is expected
to ask for the charge's status instead).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from bobaku.services.provider_sim.domain.model import CallbackRecord, Notification
from bobaku.services.provider_sim.domain.signing import SIGNATURE_HEADER, signature

log = logging.getLogger(__name__)


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class CallbackSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
        retry_delays_s: Sequence[float],
    ) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry_delays_s = tuple(retry_delays_s)

    async def deliver(
        self, url: str, notification: Notification, secret: bytes, record: CallbackRecord
    ) -> bool:
        """Send until a 2xx or out of retries; ``record`` tracks the attempts."""
        body = encode(notification.body)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, body),
            "X-Provider-Notification-Id": notification.notification_id,
        }
        for attempt in range(len(self.retry_delays_s) + 1):
            if attempt:
                await asyncio.sleep(self.retry_delays_s[attempt - 1])
            record.attempts += 1
            try:
                async with self.session.post(
                    url, data=body, headers=headers, timeout=self.timeout
                ) as resp:
                    await resp.read()
                    record.last_status, record.last_error = resp.status, None
            except (aiohttp.ClientError, TimeoutError) as exc:
                record.last_status, record.last_error = None, f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= resp.status < 300:
                record.delivered = True
                return True
        log.warning(
            "gave up delivering a callback",
            extra={
                "notification_id": notification.notification_id,
                "callback_event": notification.event,
                "attempts": record.attempts,
                "last_status": record.last_status,
                "last_error": record.last_error,
            },
        )
        return False
