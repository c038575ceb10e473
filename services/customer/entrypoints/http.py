"""The customer service's HTTP routes (documented at ``GET /openapi.json``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bobaku.kernel.auth import Principal, Role, TokenIssuer, jwk_of
from bobaku.kernel.errors import NotFound
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import PAGE_QUERY, as_int, page_request
from bobaku.kernel.web import VERIFIER, ok, principal, read_json
from bobaku.services.customer.domain import commands
from bobaku.services.customer.domain.loyalty import REWARDS
from bobaku.services.customer.entrypoints.schemas import (
    PLAIN_ID,
    AuthResult,
    CustomerCard,
    LogIn,
    LogoutResult,
    LoyaltySummary,
    RedeemRewards,
    RedemptionResult,
    RefreshTokenBody,
    RegisterCustomer,
    ReleaseResult,
    RewardList,
    Tokens,
    UpdateProfile,
    UserView,
)
from bobaku.services.customer.service_layer import handlers
from bobaku.services.customer.service_layer.context import CustomerContext
from bobaku.services.customer.service_layer.handlers import Session
from bobaku.services.customer.service_layer.views import user_view

CONTEXT = web.AppKey("customer_context", CustomerContext)
ISSUER = web.AppKey("token_issuer", TokenIssuer)

api = Api("customer", "Identity, profile and preferences, loyalty points and rewards")

_PLAIN_ID = re.compile(PLAIN_ID)


def session_view(session: Session) -> dict[str, Any]:
    return {"user": user_view(session.user), "tokens": session.tokens.as_dict()}


# --- identity -----------------------------------------------------------------------------


@api.post(
    "/auth/register",
    summary="Create a customer account; answers with the user and a first token pair",
    body=RegisterCustomer,
    response=AuthResult,
    status=201,
    errors=(409,),
    auth=False,
    tags=("auth",),
)
async def register_customer(request: web.Request) -> web.Response:
    body = await read_json(request, RegisterCustomer)
    cmd = commands.RegisterCustomer(
        email=body.email,
        password=body.password,
        name=body.name,
        phone=body.phone,
        language=body.language,
    )
    session = await handlers.register_customer(request.app[CONTEXT], cmd)
    return ok(session_view(session), status=201)


@api.post(
    "/auth/login",
    summary="Log in with email and password (customers and staff)",
    body=LogIn,
    response=AuthResult,
    errors=(401,),
    auth=False,
    tags=("auth",),
)
async def log_in(request: web.Request) -> web.Response:
    body = await read_json(request, LogIn)
    cmd = commands.LogIn(email=body.email, password=body.password)
    session = await handlers.log_in(request.app[CONTEXT], cmd)
    return ok(session_view(session))


@api.post(
    "/auth/refresh",
    summary="Spend a refresh token for a new pair; a spent token used again ends the session",
    body=RefreshTokenBody,
    response=Tokens,
    errors=(401,),
    auth=False,
    tags=("auth",),
)
async def rotate_refresh_token(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshTokenBody)
    cmd = commands.RefreshSession(body.refresh_token)
    pair = await handlers.refresh_session(request.app[CONTEXT], cmd)
    return ok(pair.as_dict())


@api.post(
    "/auth/logout",
    summary="End the session the refresh token belongs to",
    body=RefreshTokenBody,
    response=LogoutResult,
    errors=(401,),
    auth=False,
    tags=("auth",),
)
async def log_out(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshTokenBody)
    await handlers.log_out(request.app[CONTEXT], commands.LogOut(body.refresh_token))
    return ok({"revoked": True})


async def jwks(request: web.Request) -> web.Response:
    """The public keys that verify our tokens, as a bare JWK Set (RFC 7517): JWKS clients
    expect ``{"keys": [...]}`` at the top level, so this one route has no envelope."""
    issuer = request.app[ISSUER]
    keys = {kid: jwk_of(key, kid) for kid, key in request.app[VERIFIER].keys.items()}
    keys[issuer.kid] = jwk_of(issuer.public_key(), issuer.kid)
    return web.json_response(
        {"keys": list(keys.values())}, headers={"Cache-Control": "public, max-age=300"}
    )


# --- profile ------------------------------------------------------------------------------


@api.get("/me", summary="The caller's profile and preferences", response=UserView, errors=(404,))
async def show_profile(request: web.Request) -> web.Response:
    user = await handlers.profile(request.app[CONTEXT], principal(request).subject)
    return ok(user_view(user))


@api.patch(
    "/me",
    summary="Change name, phone or preferences (language, notification channels)",
    body=UpdateProfile,
    response=UserView,
    errors=(404,),
)
async def update_profile(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, UpdateProfile)
    prefs = body.preferences
    notifications = (
        prefs.notifications.model_dump(exclude_none=True)
        if prefs is not None and prefs.notifications is not None
        else None
    )
    cmd = commands.UpdateProfile(
        who.subject,
        name=body.name,
        phone=body.phone,
        clear_phone="phone" in body.model_fields_set and body.phone is None,
        language=prefs.language if prefs is not None else None,
        notifications=notifications,
    )
    user = await handlers.update_profile(request.app[CONTEXT], cmd)
    return ok(user_view(user))


# --- loyalty ------------------------------------------------------------------------------


@api.get(
    "/me/loyalty",
    summary="Points, tier, the way to the next tier, and the ledger history (newest first)",
    response=LoyaltySummary,
    query=PAGE_QUERY,
    errors=(422,),
)
async def show_loyalty(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(Role.CUSTOMER)
    limit, before = page_of(request)
    summary = await request.app[CONTEXT].views.loyalty_summary(
        who.subject, limit=limit, before=before
    )
    return ok(summary)


@api.get(
    "/rewards", summary="The rewards catalog", response=RewardList, auth=False, tags=("loyalty",)
)
async def list_rewards(request: web.Request) -> web.Response:
    return ok({"items": [r.as_dict() for r in REWARDS], "next_cursor": None})


# --- internal (other services, role service) ----------------------------------------------


@api.get(
    "/internal/customers/{customer_id}",
    summary="A customer's card for other services: name, tier, points, language, channels",
    response=CustomerCard,
    errors=(404,),
    tags=("internal",),
)
async def customer_card(request: web.Request) -> web.Response:
    require_service(request)
    card = await request.app[CONTEXT].views.customer_card(path_id(request, "customer_id"))
    return ok(card)


@api.post(
    "/internal/loyalty/{customer_id}/redemptions",
    summary="Spend points on rewards for an order (idempotent on order_id)",
    body=RedeemRewards,
    response=RedemptionResult,
    status=201,
    errors=(404, 409),
    tags=("internal",),
)
async def redeem_rewards(request: web.Request) -> web.Response:
    require_service(request)
    customer_id = path_id(request, "customer_id")
    body = await read_json(request, RedeemRewards)
    cmd = commands.RedeemRewards(customer_id, body.order_id, body.reward_ids)
    result = await handlers.redeem_rewards(request.app[CONTEXT], cmd)
    return ok(result, status=201)


@api.post(
    "/internal/loyalty/{customer_id}/redemptions/{order_id}/release",
    summary="Give an order's redeemed points back (idempotent)",
    response=ReleaseResult,
    errors=(404,),
    tags=("internal",),
)
async def release_redemption(request: web.Request) -> web.Response:
    require_service(request)
    cmd = commands.ReleaseRedemption(path_id(request, "customer_id"), path_id(request, "order_id"))
    result = await handlers.release_redemption(request.app[CONTEXT], cmd)
    return ok(result)


# --- helpers ------------------------------------------------------------------------------


def require_service(request: web.Request) -> Principal:
    who = principal(request)
    who.require_role(Role.SERVICE)
    return who


def path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _PLAIN_ID.match(value):
        raise NotFound(f"no such {name.removesuffix('_id')}", details={name: value})
    return value


def page_of(request: web.Request) -> tuple[int, int | None]:
    """``?limit=`` and ``?cursor=`` (a history position); 422 naming the bad one."""
    page = page_request(request.query, as_int)
    return page.limit, page.cursor
