"""The customer service's command handlers, one per command of ``domain/commands.py``:
accounts (register, log in, rotate and end sessions, the profile) and loyalty (earn,
reverse, redeem, release).

Loyalty handlers load the customer's ledger, let the domain decide, and append the decision
with the sequence it was made on; when another writer got there first they reload and
decide again, so the ledger, never a read model, decides whether points can be spent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bobaku.kernel.errors import ConcurrencyConflict, ValidationFailed
from bobaku.kernel.events import new_event
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.commands import (
    EarnPoints,
    ExpirePoints,
    LogIn,
    LogOut,
    RedeemRewards,
    RefreshSession,
    RegisterCustomer,
    ReleaseRedemption,
    ReversePoints,
    UpdateProfile,
)
from bobaku.services.customer.domain.errors import (
    AlreadySucceeded,
    InvalidCredentials,
    InvalidRefreshToken,
    UserIdTaken,
    UserNotFound,
)
from bobaku.services.customer.domain.events import (
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_REVERSED,
    CustomerRegistered,
    LoyaltyEvent,
)
from bobaku.services.customer.domain.loyalty import Ledger, Reward
from bobaku.services.customer.domain.sessions import (
    StoredRefreshToken,
    Verdict,
    assess,
    new_family_id,
    new_refresh_token,
    root_parent,
    token_hash,
)
from bobaku.services.customer.domain.users import User, new_customer
from bobaku.services.customer.service_layer.clock import utc_now
from bobaku.services.customer.service_layer.context import CustomerContext

log = logging.getLogger(__name__)
security_log = logging.getLogger("bobaku.security")

SOURCE = "customer-service"

T = TypeVar("T")
Decision = Callable[[Ledger, datetime], tuple[list[LoyaltyEvent], T]]

MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True)
class Session:
    user: User
    tokens: TokenPair


# --- identity -----------------------------------------------------------------------------


async def register_customer(ctx: CustomerContext, cmd: RegisterCustomer) -> Session:
    """Create a customer account and its first session. Raises ``EmailTaken``."""
    password_hash = await ctx.passwords.hash(cmd.password)
    now = utc_now()
    for _ in range(3):
        user = new_customer(
            email=cmd.email,
            name=cmd.name,
            password_hash=password_hash,
            language=cmd.language,
            phone=cmd.phone,
            now=now,
        )
        fact = CustomerRegistered(user_id=user.id, language=cmd.language)
        registered = new_event(fact.type, fact.data, source=SOURCE)
        try:
            await ctx.users.add(user, [registered])
        except UserIdTaken:
            continue
        break
    else:
        raise RuntimeError("could not draw a free user id")
    try:
        await ctx.outbox.deliver(ctx.users.pending(user.id, registered))
    except Exception:
        # Committed with the user; the outbox relay publishes it later.
        log.warning("customer.registered left in the outbox", exc_info=True)
    return Session(user, await _start_session(ctx, user, now))


async def log_in(ctx: CustomerContext, cmd: LogIn) -> Session:
    """Whether the email is unknown or the password wrong, the answer (and the time it
    takes) is the same: nobody learns from a failed login who has an account."""
    user = await ctx.users.by_email(cmd.email)
    if user is None:
        await ctx.passwords.verify_decoy(cmd.password)
        raise _invalid_credentials()
    if not await ctx.passwords.verify(user.password_hash, cmd.password):
        raise _invalid_credentials()
    if ctx.passwords.needs_rehash(user.password_hash):
        await ctx.users.set_password_hash(user.id, await ctx.passwords.hash(cmd.password))
    return Session(user, await _start_session(ctx, user, utc_now()))


async def refresh_session(ctx: CustomerContext, cmd: RefreshSession) -> TokenPair:
    """Spend a refresh token for a new pair. A spent token coming back revokes its family."""
    now = utc_now()
    stored = await ctx.refresh_tokens.get(token_hash(cmd.refresh_token))
    revoked = stored is not None and await ctx.refresh_tokens.family_revoked(stored.family_id)
    verdict = assess(stored, family_revoked=revoked, now=now)
    if verdict is Verdict.REUSED and stored is not None:
        await _revoke_after_reuse(ctx, stored, now)
    if verdict is not Verdict.USABLE or stored is None:
        raise _invalid_refresh_token(verdict)
    user = await ctx.users.get(stored.user_id)
    if user is None:
        raise _invalid_refresh_token(Verdict.UNKNOWN)
    try:
        pair = await _issue(ctx, user, stored.family_id, parent=stored.hash, now=now)
    except AlreadySucceeded:
        # Another refresh with this very token won the race: the same theft signal.
        await _revoke_after_reuse(ctx, stored, now)
        raise _invalid_refresh_token(Verdict.REUSED) from None
    await ctx.refresh_tokens.mark_spent(stored.hash, now, token_hash(pair.refresh_token))
    return pair


async def log_out(ctx: CustomerContext, cmd: LogOut) -> None:
    """End the session the token belongs to (its whole family); repeating is harmless."""
    stored = await ctx.refresh_tokens.get(token_hash(cmd.refresh_token))
    if stored is None:
        raise _invalid_refresh_token(Verdict.UNKNOWN)
    await ctx.refresh_tokens.revoke_family(
        stored.family_id, user_id=stored.user_id, reason="logout", at=utc_now()
    )


async def _start_session(ctx: CustomerContext, user: User, now: datetime) -> TokenPair:
    family_id = new_family_id()
    return await _issue(ctx, user, family_id, parent=root_parent(family_id), now=now)


async def _issue(
    ctx: CustomerContext, user: User, family_id: str, *, parent: str, now: datetime
) -> TokenPair:
    refresh = new_refresh_token()
    await ctx.refresh_tokens.add(
        StoredRefreshToken(
            hash=token_hash(refresh),
            family_id=family_id,
            user_id=user.id,
            parent=parent,
            issued_at=now,
            expires_at=now + timedelta(seconds=ctx.refresh_ttl_s),
        )
    )
    access = ctx.issuer.issue(
        user.id,
        sorted(user.roles),
        franchise_id=user.franchise_id,
        outlet_ids=user.outlet_ids,
        ttl_s=ctx.access_ttl_s,
        extra={"name": user.name},
    )
    return TokenPair(access, refresh, ctx.access_ttl_s)


async def _revoke_after_reuse(
    ctx: CustomerContext, token: StoredRefreshToken, now: datetime
) -> None:
    first = await ctx.refresh_tokens.revoke_family(
        token.family_id, user_id=token.user_id, reason="reuse", at=now
    )
    security_log.warning(
        "spent refresh token presented again; its session family is revoked",
        extra={
            "security_event": "refresh_token_reuse",
            "user_id": token.user_id,
            "family_id": token.family_id,
            "family_already_revoked": not first,
        },
    )


def _invalid_credentials() -> InvalidCredentials:
    return InvalidCredentials("email or password is wrong")


def _invalid_refresh_token(verdict: Verdict) -> InvalidRefreshToken:
    return InvalidRefreshToken(
        "this refresh token cannot be used; log in again", details={"reason": str(verdict)}
    )


# --- profile ------------------------------------------------------------------------------


async def profile(ctx: CustomerContext, user_id: str) -> User:
    user = await ctx.users.get(user_id)
    if user is None:
        raise UserNotFound("no such user", details={"user_id": user_id})
    return user


async def update_profile(ctx: CustomerContext, cmd: UpdateProfile) -> User:
    user = (await profile(ctx, cmd.user_id)).with_profile(
        name=cmd.name,
        phone=cmd.phone,
        clear_phone=cmd.clear_phone,
        language=cmd.language,
        notifications=cmd.notifications,
        now=utc_now(),
    )
    await ctx.users.save_profile(user)
    return user


# --- loyalty ------------------------------------------------------------------------------


async def earn_points(ctx: CustomerContext, cmd: EarnPoints) -> int:
    """Points for a paid order (0 if the order earned already). Returns points earned."""

    def decide(ledger: Ledger, now: datetime) -> tuple[list[LoyaltyEvent], int]:
        facts = loyalty.earn_for_payment(
            ledger,
            order_id=cmd.order_id,
            amount=cmd.amount,
            now=now,
            franchise_id=cmd.franchise_id,
        )
        return facts, _points_of(facts, POINTS_EARNED)

    return await _decide(ctx, cmd.customer_id, decide)


async def reverse_points(ctx: CustomerContext, cmd: ReversePoints) -> int:
    """Take back the points a refund makes void. Returns points reversed."""

    def decide(ledger: Ledger, now: datetime) -> tuple[list[LoyaltyEvent], int]:
        facts = loyalty.reverse_for_refund(
            ledger,
            order_id=cmd.order_id,
            refund_id=cmd.refund_id,
            amount=cmd.amount,
            full=cmd.full,
            now=now,
        )
        return facts, _points_of(facts, POINTS_REVERSED)

    return await _decide(ctx, cmd.customer_id, decide)


async def redeem_rewards(ctx: CustomerContext, cmd: RedeemRewards) -> dict[str, Any]:
    rewards = rewards_named(cmd.reward_ids)
    if await ctx.users.get(cmd.customer_id) is None:
        raise UserNotFound("no such customer", details={"customer_id": cmd.customer_id})

    def decide(ledger: Ledger, now: datetime) -> tuple[list[LoyaltyEvent], dict[str, Any]]:
        facts, redemption = loyalty.redeem(ledger, order_id=cmd.order_id, rewards=rewards, now=now)
        return facts, redemption.result()

    return await _decide(ctx, cmd.customer_id, decide)


async def release_redemption(ctx: CustomerContext, cmd: ReleaseRedemption) -> dict[str, Any]:
    def decide(ledger: Ledger, now: datetime) -> tuple[list[LoyaltyEvent], dict[str, Any]]:
        facts, redemption = loyalty.release(ledger, order_id=cmd.order_id, now=now)
        return facts, {
            "order_id": cmd.order_id,
            "points": redemption.points,
            "status": "released",
        }

    return await _decide(ctx, cmd.customer_id, decide)


async def expire_points(ctx: CustomerContext, cmd: ExpirePoints) -> int:
    """Lapse what is due on ``cmd.on``; a second call for the day appends nothing.
    Returns the points expired."""

    def decide(ledger: Ledger, now: datetime) -> tuple[list[LoyaltyEvent], int]:
        facts = loyalty.expire(ledger, on=cmd.on, valid_days=cmd.valid_days, now=now)
        return facts, _points_of(facts, POINTS_EXPIRED)

    return await _decide(ctx, cmd.customer_id, decide)


async def _decide(ctx: CustomerContext, customer_id: str, decide: Decision[T]) -> T:
    seq = 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        ledger, seq = await ctx.ledgers.load(customer_id)
        facts, result = decide(ledger, utc_now())
        if not facts:
            return result
        try:
            await ctx.ledgers.append(customer_id, facts, expected_seq=seq)
        except ConcurrencyConflict:
            log.info(
                "ledger moved on; deciding again",
                extra={"customer_id": customer_id, "attempt": attempt},
            )
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
            continue
        return result
    raise ConcurrencyConflict(ctx.ledgers.subject(customer_id), seq)


def rewards_named(reward_ids: Sequence[str]) -> list[Reward]:
    """The catalog's rewards for ``reward_ids``; 422 naming each unknown one."""
    unknown = [
        {"field": f"reward_ids.{i}", "problem": f"unknown reward {rid!r}", "type": "unknown_reward"}
        for i, rid in enumerate(reward_ids)
        if rid not in loyalty.REWARDS_BY_ID
    ]
    if unknown:
        raise ValidationFailed("unknown rewards", details={"fields": unknown})
    return [loyalty.REWARDS_BY_ID[rid] for rid in reward_ids]


def _points_of(facts: Sequence[LoyaltyEvent], fact_type: str) -> int:
    return sum(int(f.data["points"]) for f in facts if f.type == fact_type)
