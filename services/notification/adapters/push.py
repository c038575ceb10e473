"""Push through FCM (HTTP v1 API) and APNs (provider API), one request per device token.

Outcomes are classified the way both providers document them: accepted (with the
provider's message id), the token is no longer valid (FCM ``UNREGISTERED`` / 404, APNs 410
``Unregistered`` or 400 ``BadDeviceToken``), rate limited (429, with ``Retry-After`` when
given), a transient server error (5xx), or a permanent error (anything else).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    UNREGISTERED = "unregistered"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    message_id: str | None = None
    retry_after_s: float | None = None
    error: str = ""


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    data: dict[str, str]
    collapse_id: str  # the notification id: the provider shows one copy of a repeat


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class PushClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        fcm_base: str,
        apns_base: str,
        project: str,
        topic: str,
        credential: str,
        timeout_s: float,
    ) -> None:
        self.http = http
        self.fcm_base, self.apns_base = fcm_base.rstrip("/"), apns_base.rstrip("/")
        self.project, self.topic, self.credential = project, topic, credential
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, platform: str, token: str, message: PushMessage) -> PushResult:
        try:
            if platform == "apns":
                return await self._apns(token, message)
            return await self._fcm(token, message)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return PushResult(Outcome.TRANSIENT, error=f"{type(exc).__name__}: {exc}")

    async def _fcm(self, token: str, message: PushMessage) -> PushResult:
        body = {
            "message": {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
                "data": message.data,
                "android": {"collapse_key": message.collapse_id},
            }
        }
        async with self.http.post(
            f"{self.fcm_base}/v1/projects/{self.project}/messages:send",
            json=body,
            headers={"Authorization": f"Bearer {self.credential}"},
            timeout=self.timeout,
        ) as resp:
            payload = await resp.json(content_type=None)
            if resp.status == 200:
                return PushResult(Outcome.ACCEPTED, message_id=str(payload.get("name")))
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            codes = {d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict)}
            text = f"{resp.status} {error.get('status', '')}: {error.get('message', '')}"
            if "UNREGISTERED" in codes or resp.status == 404:
                return PushResult(Outcome.UNREGISTERED, error=text)
            if resp.status == 429:
                return PushResult(
                    Outcome.RATE_LIMITED, retry_after_s=_retry_after(resp.headers), error=text
                )
            if resp.status >= 500:
                return PushResult(
                    Outcome.TRANSIENT, retry_after_s=_retry_after(resp.headers), error=text
                )
            return PushResult(Outcome.PERMANENT, error=text)

    async def _apns(self, token: str, message: PushMessage) -> PushResult:
        apns_id = str(uuid.uuid5(uuid.NAMESPACE_URL, message.collapse_id))
        body = {"aps": {"alert": {"title": message.title, "body": message.body}}, **message.data}
        async with self.http.post(
            f"{self.apns_base}/3/device/{token}",
            json=body,
            headers={
                "authorization": f"bearer {self.credential}",
                "apns-topic": self.topic,
                "apns-push-type": "alert",
                "apns-id": apns_id,
                "apns-collapse-id": message.collapse_id[:64],
            },
            timeout=self.timeout,
        ) as resp:
            if resp.status == 200:
                return PushResult(Outcome.ACCEPTED, message_id=resp.headers.get("apns-id"))
            payload = await resp.json(content_type=None)
            reason = payload.get("reason", "") if isinstance(payload, dict) else ""
            text = f"{resp.status} {reason}"
            if resp.status == 410 or reason in ("Unregistered", "BadDeviceToken"):
                return PushResult(Outcome.UNREGISTERED, error=text)
            if resp.status == 429:
                return PushResult(
                    Outcome.RATE_LIMITED, retry_after_s=_retry_after(resp.headers), error=text
                )
            if resp.status >= 500:
                return PushResult(
                    Outcome.TRANSIENT, retry_after_s=_retry_after(resp.headers), error=text
                )
            return PushResult(Outcome.PERMANENT, error=text)
