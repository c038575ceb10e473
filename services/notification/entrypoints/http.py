"""The notification service's HTTP routes (documented at ``GET /openapi.json``).

Customers manage their preferences and device tokens and read their inbox; support (HQ)
reads any notification's status; the unsubscribe link works without a token (it is signed);
the push providers post delivery receipts (signed with the push credential).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from aiohttp import web

from bobaku.kernel.auth import Principal, Role
from bobaku.kernel.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import page_request
from bobaku.kernel.web import ok, principal, read_json
from bobaku.services.notification.adapters.repos import prefs_doc, token_id
from bobaku.services.notification.domain import links
from bobaku.services.notification.domain.kinds import KINDS
from bobaku.services.notification.domain.preferences import Preferences, QuietHours
from bobaku.services.notification.entrypoints.schemas import (
    NotificationPage,
    NotificationView,
    PreferencesBody,
    PreferencesView,
    PushReceipt,
    RegisterToken,
    Subscription,
    TokenList,
    UnsubscribeResult,
)
from bobaku.services.notification.service_layer.clock import iso, utc_now
from bobaku.services.notification.service_layer.delivery import Deliverer
from bobaku.services.notification.service_layer.notify import Notifier
from bobaku.services.notification.service_layer.views import Views, inbox_position


@dataclass(frozen=True)
class Services:
    notifier: Notifier
    deliverer: Deliverer
    views: Views
    signing_key: bytes
    receipt_key: bytes


SERVICES = web.AppKey("notification_services", Services)
api = Api("notification", "Push, email and in-app notifications: preferences, inbox, status")

# Role groups (the kernel's role groups replace these at merge).
SUPPORT = (Role.HQ_ADMIN,)
ALERTED = (Role.STAFF, Role.OUTLET_MANAGER, Role.FRANCHISE_OWNER)
DEFAULT_PAGE, MAX_PAGE = 20, 50
NID = re.compile(r"^ntf-[0-9a-f]{24}$")


def _svc(request: web.Request) -> Services:
    return request.app[SERVICES]


def _prefs_view(prefs: Preferences) -> dict[str, Any]:
    return {"user_id": prefs.user_id, **prefs_doc(prefs)}


def _me(request: web.Request) -> Principal:
    who = principal(request)
    if not who.subject:
        raise Unauthorized("token has no subject")
    return who


# --- preferences ---------------------------------------------------------------------------


@api.get(
    "/notifications/preferences",
    response=PreferencesView,
    summary="My notification preferences (per channel and kind, quiet hours, language)",
    tags=("preferences",),
)
async def get_preferences(request: web.Request) -> web.Response:
    who = _me(request)
    return ok(_prefs_view(await _svc(request).notifier.prefs.get(who.subject)))


@api.put(
    "/notifications/preferences",
    body=PreferencesBody,
    response=PreferencesView,
    summary="Replace my notification preferences",
    tags=("preferences",),
)
async def put_preferences(request: web.Request) -> web.Response:
    who = _me(request)
    body = await read_json(request, PreferencesBody)
    quiet = body.quiet_hours
    prefs = Preferences(
        who.subject,
        language=body.language,
        email=body.email,
        time_zone=body.time_zone,
        channels={str(c): on for c, on in body.channels.items()},
        kinds={k: {str(c): on for c, on in v.items()} for k, v in body.kinds.items()},
        quiet_hours=(
            QuietHours(time.fromisoformat(quiet.start), time.fromisoformat(quiet.end))
            if quiet
            else None
        ),
    )
    await _svc(request).notifier.prefs.save(prefs)
    return ok(_prefs_view(prefs))


# --- device tokens -------------------------------------------------------------------------


@api.post(
    "/notifications/devices",
    body=RegisterToken,
    response=TokenList,
    status=201,
    errors=(409,),
    summary="Register a device token for push (FCM or APNs); idempotent per token",
    tags=("devices",),
)
async def register_device(request: web.Request) -> web.Response:
    who = _me(request)
    body = await read_json(request, RegisterToken)
    if body.user_id is not None and body.user_id != who.subject:
        raise Forbidden(
            "a device token can only be registered for yourself",
            details={"fields": [{"field": "user_id", "problem": "not the caller"}]},
        )
    tokens = _svc(request).notifier.tokens
    ident = token_id(body.token)
    owner = await tokens.claim(ident, who.subject)
    if owner != who.subject:
        raise Forbidden(
            "this device token belongs to another user",
            details={"fields": [{"field": "token", "problem": "registered by another user"}]},
        )
    await tokens.add(who.subject, body.token, body.platform, iso(utc_now()))
    return ok(await _token_list(request, who.subject), status=201)


@api.get(
    "/notifications/devices", response=TokenList, summary="My device tokens", tags=("devices",)
)
async def list_devices(request: web.Request) -> web.Response:
    return ok(await _token_list(request, _me(request).subject))


@api.delete(
    "/notifications/devices/{token_id}",
    response=TokenList,
    errors=(404,),
    summary="Forget one of my device tokens",
    tags=("devices",),
)
async def delete_device(request: web.Request) -> web.Response:
    who = _me(request)
    ident = request.match_info["token_id"]
    tokens = _svc(request).notifier.tokens
    owner = await tokens.owner(ident) if re.fullmatch(r"tok-[0-9a-f]{20}", ident) else None
    if owner is None:
        raise NotFound("no such device token", details={"token_id": ident})
    who.require_user(owner, "this device token belongs to another user", token_id=ident)
    await tokens.remove(who.subject, ident)
    await tokens.release(ident)
    return ok(await _token_list(request, who.subject))


async def _token_list(request: web.Request, user_id: str) -> dict[str, Any]:
    tokens = await _svc(request).notifier.tokens.all(user_id)
    return {
        "items": [
            {"id": ident, "platform": t["platform"], "created_at": t["created_at"]}
            for ident, t in sorted(tokens.items())
        ]
    }


# --- inbox and status ----------------------------------------------------------------------


@api.get(
    "/notifications",
    response=NotificationPage,
    summary="My in-app notifications, newest first, with read state and delivery status",
    query=(
        ("limit", "integer", f"page size, 1-{MAX_PAGE} (default {DEFAULT_PAGE})"),
        ("cursor", "string", "next_cursor of the previous page"),
    ),
    errors=(422,),
    tags=("inbox",),
)
async def my_notifications(request: web.Request) -> web.Response:
    who = _me(request)
    return ok(await _page(request, who.subject))


@api.get(
    "/notifications/users/{user_id}",
    response=NotificationPage,
    summary="A user's notifications and their delivery status (support)",
    query=(("limit", "integer", "page size"), ("cursor", "string", "next_cursor")),
    errors=(422,),
    tags=("support",),
)
async def user_notifications(request: web.Request) -> web.Response:
    principal(request).require_role(*SUPPORT)
    return ok(await _page(request, request.match_info["user_id"]))


async def _page(request: web.Request, user_id: str) -> dict[str, Any]:
    page = page_request(request.query, inbox_position, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    return await _svc(request).views.page(user_id, page.limit, page.cursor)


# --- staff and manager alerts --------------------------------------------------------------


@api.put(
    "/notifications/subscriptions/me",
    response=Subscription,
    summary="Receive my outlets' (staff, managers) or franchise's (owners) alerts",
    tags=("alerts",),
)
async def subscribe(request: web.Request) -> web.Response:
    who = _me(request)
    who.require_role(*ALERTED)
    if not who.franchise_id:
        raise Forbidden("your token names no franchise")
    roster = _svc(request).notifier.roster
    role = next(
        str(r) for r in (Role.FRANCHISE_OWNER, Role.OUTLET_MANAGER, Role.STAFF) if r in who.roles
    )
    for outlet in sorted(who.outlet_ids):
        await roster.join(who.franchise_id, outlet, who.subject, role)
    if Role.FRANCHISE_OWNER in who.roles:
        await roster.join(who.franchise_id, None, who.subject, role)
    return ok(
        {"franchise_id": who.franchise_id, "outlet_ids": sorted(who.outlet_ids), "role": role}
    )


@api.delete(
    "/notifications/subscriptions/me",
    response=Subscription,
    summary="Stop receiving my outlets' or franchise's alerts",
    tags=("alerts",),
)
async def unsubscribe_alerts(request: web.Request) -> web.Response:
    who = _me(request)
    who.require_role(*ALERTED)
    if not who.franchise_id:
        raise Forbidden("your token names no franchise")
    roster = _svc(request).notifier.roster
    for outlet in sorted(who.outlet_ids):
        await roster.leave(who.franchise_id, outlet, who.subject)
    await roster.leave(who.franchise_id, None, who.subject)
    return ok({"franchise_id": who.franchise_id, "outlet_ids": [], "role": ""})


# --- without a token: unsubscribe links, provider receipts ---------------------------------


@api.get(
    "/notifications/unsubscribe",
    response=UnsubscribeResult,
    query=(("token", "string", "the signed token from the email's link"),),
    errors=(422,),
    auth=False,
    summary="Unsubscribe from an email's kind (the link in every email; no login)",
    tags=("preferences",),
)
async def unsubscribe_get(request: web.Request) -> web.Response:
    return ok(await _unsubscribe(request, request.query.get("token", "")))


@api.post(
    "/notifications/unsubscribe",
    response=UnsubscribeResult,
    query=(("token", "string", "the signed token (RFC 8058 one-click unsubscribe)"),),
    errors=(422,),
    auth=False,
    summary="One-click unsubscribe (List-Unsubscribe-Post)",
    tags=("preferences",),
)
async def unsubscribe_post(request: web.Request) -> web.Response:
    return ok(await _unsubscribe(request, request.query.get("token", "")))


async def _unsubscribe(request: web.Request, token: str) -> dict[str, Any]:
    what = links.verify(_svc(request).signing_key, token)
    if (
        what is None
        or what.channel not in ("email", "push", "in_app")
        or (what.kind is not None and what.kind not in KINDS)
    ):
        raise ValidationFailed(
            "the unsubscribe link is invalid or was altered",
            details={"fields": [{"field": "token", "problem": "bad signature"}]},
        )
    await _svc(request).notifier.prefs.opt_out(what.user_id, what.channel, what.kind)
    return {"user_id": what.user_id, "channel": what.channel, "kind": what.kind}


@api.post(
    "/internal/push/receipts",
    body=PushReceipt,
    response=UnsubscribeResult,
    errors=(401, 404),
    auth=False,
    summary="A push provider's delivery receipt (signed: X-Push-Signature)",
    tags=("internal",),
)
async def push_receipt(request: web.Request) -> web.Response:
    raw = await request.read()
    expected = "sha256=" + hmac.new(_svc(request).receipt_key, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Push-Signature", "")):
        raise Unauthorized("bad receipt signature")
    body = await read_json(request, PushReceipt)
    if not await _svc(request).deliverer.receipt(body.notification_id, body.message_id):
        raise NotFound("no such push", details={"message_id": body.message_id})
    return ok({"user_id": "", "channel": "push", "kind": None})


# --- one notification (after the fixed paths above, which it would otherwise shadow) ---


@api.get(
    "/notifications/{notification_id}",
    response=NotificationView,
    errors=(403, 404),
    summary="One notification with its status per channel (its user, or support)",
    tags=("inbox",),
)
async def one_notification(request: web.Request) -> web.Response:
    view = await _owned(request)
    return ok(view)


@api.post(
    "/notifications/{notification_id}/read",
    response=NotificationView,
    errors=(403, 404),
    summary="Mark one of my notifications read",
    tags=("inbox",),
)
async def mark_read(request: web.Request) -> web.Response:
    view = await _owned(request, owner_only=True)
    notifier = _svc(request).notifier
    if await notifier.status.mark_read(view["id"]):
        await notifier.inbox.read_one(view["user_id"])
    return ok({**view, "read": True})


async def _owned(request: web.Request, owner_only: bool = False) -> dict[str, Any]:
    who = _me(request)
    nid = request.match_info["notification_id"]
    view = await _svc(request).views.one(nid) if NID.match(nid) else None
    if view is None:
        raise NotFound("no such notification", details={"notification_id": nid})
    if owner_only or not who.has_role(*SUPPORT):
        # Another user's notification is a 403 and a security event, like another user's
        # device token or order (docs/security/access.md), not a 404 that hides the probe.
        who.require_user(
            view["user_id"], "this notification belongs to another user", notification_id=nid
        )
    return view
