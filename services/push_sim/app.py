"""FCM and APNs as the outside world behaves (per token, per request):

- FCM ``POST /fcm/v1/projects/{project}/messages:send`` → 200
  ``{"name": "projects/p/messages/<id>"}``; an unregistered token → 404 ``NOT_FOUND``
  with ``errorCode: UNREGISTERED``; 429
  ``RESOURCE_EXHAUSTED`` with ``Retry-After``; 503 ``UNAVAILABLE``; 401 without the bearer.
- APNs ``POST /apns/3/device/{token}`` → 200 with ``apns-id``; 410 ``Unregistered``; 400
  ``BadDeviceToken`` for a malformed token; 429 ``TooManyRequests``; 503 ``ServiceUnavailable``.
- A delivery receipt is posted to ``<notification_url>/internal/push/receipts`` a little
  later (signed ``X-Push-Signature: sha256=<hmac>``), once per accepted message.

Control endpoints for tests and demos, under ``/_control``: mark a token unregistered, queue
the next answers (``{"status": 429, "retry_after": 2, "count": 1}``), list what was sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bobaku.kernel.web import metrics
from bobaku.services.push_sim.settings import PushSimSettings

APNS_TOKEN = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class Sim:
    settings: PushSimSettings
    unregistered: set[str] = field(default_factory=set)
    queued: list[dict[str, Any]] = field(default_factory=list)  # forced next answers
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted messages
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every request
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    http: aiohttp.ClientSession | None = None

    def forced(self) -> dict[str, Any] | None:
        if not self.queued:
            return None
        head = self.queued[0]
        head["count"] -= 1
        if head["count"] <= 0:
            self.queued.pop(0)
        return head

    def noise(self) -> int | None:
        roll = random.random()
        if roll < self.settings.push_transient_rate:
            return 503
        if roll < self.settings.push_transient_rate + self.settings.push_rate_limit_rate:
            return 429
        return None

    def accept(self, api: str, token: str, payload: dict[str, Any], message_id: str) -> None:
        self.sent.append(
            {"api": api, "token": token, "message_id": message_id, "payload": payload,
             "at": time.time()}
        )  # fmt: skip
        data = payload.get("data") or payload  # FCM data, or APNs custom keys
        nid = data.get("notification_id") if isinstance(data, dict) else None
        if isinstance(nid, str):
            task = asyncio.create_task(self.receipt(message_id, nid))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def receipt(self, message_id: str, nid: str) -> None:
        await asyncio.sleep(self.settings.push_receipt_delay_s)
        body = json.dumps(
            {"message_id": message_id, "notification_id": nid, "status": "delivered",
             "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        ).encode()  # fmt: skip
        key = self.settings.push_credential.get_secret_value().encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        assert self.http is not None
        for delay in (0.5, 2.0, 5.0, None):  # like real webhooks: a few tries, then give up
            try:
                async with self.http.post(
                    f"{self.settings.notification_url.rstrip('/')}/internal/push/receipts",
                    data=body,
                    headers={"Content-Type": "application/json", "X-Push-Signature": signature},
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as resp:
                    if resp.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if delay is None:
                return
            await asyncio.sleep(delay)


SIM = web.AppKey("push_sim", Sim)


def _fcm_error(status: int, code: str, message: str, error_code: str | None = None,
               retry_after: int | None = None) -> web.Response:  # fmt: skip
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if error_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
             "errorCode": error_code}
        ]  # fmt: skip
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response({"error": error}, status=status, headers=headers)


async def fcm_send(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    if (
        request.headers.get("Authorization")
        != f"Bearer {sim.settings.push_credential.get_secret_value()}"
    ):
        return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    try:
        payload = (await request.json())["message"]
        token = str(payload["token"])
    except (ValueError, KeyError, TypeError):
        return _fcm_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                          "INVALID_ARGUMENT")  # fmt: skip
    sim.attempts.append({"api": "fcm", "token": token, "at": time.time()})
    forced = sim.forced()
    status = forced["status"] if forced else sim.noise()
    if status == 429:
        retry = forced.get("retry_after", 1) if forced else sim.settings.push_retry_after_s
        return _fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED", retry)
    if status is not None and status >= 500:
        return _fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.",
                          "UNAVAILABLE")  # fmt: skip
    if token in sim.unregistered:
        return _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
    message_id = f"projects/{request.match_info['project']}/messages/{uuid.uuid4().hex[:16]}"
    sim.accept("fcm", token, payload, message_id)
    return web.json_response({"name": message_id})


def _apns_error(status: int, reason: str, retry_after: int | None = None,
                timestamp: bool = False) -> web.Response:  # fmt: skip
    body: dict[str, Any] = {"reason": reason}
    if timestamp:
        body["timestamp"] = int(time.time() * 1000)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


async def apns_send(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    token = request.match_info["token"]
    if (
        request.headers.get("authorization")
        != f"bearer {sim.settings.push_credential.get_secret_value()}"
    ):
        return _apns_error(403, "InvalidProviderToken")
    if not request.headers.get("apns-topic"):
        return _apns_error(400, "MissingTopic")
    try:
        payload = await request.json()
    except ValueError:
        return _apns_error(400, "PayloadEmpty")
    sim.attempts.append({"api": "apns", "token": token, "at": time.time()})
    forced = sim.forced()
    status = forced["status"] if forced else sim.noise()
    if status == 429:
        retry = forced.get("retry_after", 1) if forced else sim.settings.push_retry_after_s
        return _apns_error(429, "TooManyRequests", retry)
    if status is not None and status >= 500:
        return _apns_error(503, "ServiceUnavailable")
    if not APNS_TOKEN.match(token):
        return _apns_error(400, "BadDeviceToken")
    if token in sim.unregistered:
        return _apns_error(410, "Unregistered", timestamp=True)
    apns_id = request.headers.get("apns-id") or str(uuid.uuid4())
    sim.accept("apns", token, payload, apns_id)
    return web.Response(status=200, headers={"apns-id": apns_id})


async def control_unregister(request: web.Request) -> web.Response:
    request.app[SIM].unregistered.add(request.match_info["token"])
    return web.json_response({"unregistered": request.match_info["token"]})


async def control_next(request: web.Request) -> web.Response:
    body = await request.json()
    entry = {"status": int(body["status"]), "count": int(body.get("count", 1))}
    if "retry_after" in body:
        entry["retry_after"] = int(body["retry_after"])
    request.app[SIM].queued.append(entry)
    return web.json_response(entry, status=201)


async def control_sent(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    token = request.query.get("token")
    return web.json_response(
        {
            "sent": [s for s in sim.sent if token is None or s["token"] == token],
            "attempts": [a for a in sim.attempts if token is None or a["token"] == token],
        }
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(settings: PushSimSettings) -> web.Application:
    app = web.Application()
    sim = Sim(settings)
    app[SIM] = sim

    async def session(app: web.Application) -> Any:
        sim.http = aiohttp.ClientSession()
        yield
        for task in list(sim.tasks):
            task.cancel()
        await sim.http.close()

    app.cleanup_ctx.append(session)
    app.router.add_post("/fcm/v1/projects/{project}/messages:send", fcm_send)
    app.router.add_post("/apns/3/device/{token}", apns_send)
    app.router.add_post("/_control/tokens/{token}/unregister", control_unregister)
    app.router.add_post("/_control/next", control_next)
    app.router.add_get("/_control/sent", control_sent)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    # Scraped like every process the launcher starts (the simulator stands in for FCM/APNs).
    app.router.add_get("/metrics", metrics)
    return app
