"""Accounts: registration, log-in, session rotation and log-out, and the profile."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.errors import Unauthorized
from bobaku.kernel.events import new_event
from bobaku.kernel.outbox import Outbox
from bobaku.services.customer.adapters.passwords import PasswordHasher
from bobaku.services.customer.adapters.refresh_tokens import AlreadySucceeded, RefreshTokenStore
from bobaku.services.customer.adapters.users import UserIdTaken, UserRepository
from bobaku.services.customer.domain.sessions import (
    StoredRefreshToken,
    Verdict,
    assess,
    new_family_id,
    new_refresh_token,
    root_parent,
    token_hash,
)
from bobaku.services.customer.domain.users import (
    Language,
    User,
    UserNotFound,
    new_customer,
)
from bobaku.services.customer.service_layer.clock import utc_now

log = logging.getLogger(__name__)
security_log = logging.getLogger("bobaku.security")

SOURCE = "customer-service"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"


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


class Accounts:
    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenStore,
        passwords: PasswordHasher,
        issuer: TokenIssuer,
        outbox: Outbox,
        access_ttl_s: int,
        refresh_ttl_s: int,
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.passwords = passwords
        self.issuer = issuer
        self.outbox = outbox
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl = timedelta(seconds=refresh_ttl_s)

    # --- identity ----------------------------------------------------------------------

    async def register_customer(
        self, *, email: str, password: str, name: str, phone: str | None, language: Language
    ) -> Session:
        """Create a customer account and its first session. Raises ``EmailTaken``."""
        password_hash = await self.passwords.hash(password)
        now = utc_now()
        for _ in range(3):
            user = new_customer(
                email=email,
                name=name,
                password_hash=password_hash,
                language=language,
                phone=phone,
                now=now,
            )
            registered = new_event(
                "customer.registered",
                {"user_id": user.id, "language": language},
                source=SOURCE,
            )
            try:
                await self.users.add(user, [registered])
            except UserIdTaken:
                continue
            break
        else:
            raise RuntimeError("could not draw a free user id")
        try:
            await self.outbox.deliver(self.users.pending(user.id, registered))
        except Exception:
            # Committed with the user; the outbox relay publishes it later.
            log.warning("customer.registered left in the outbox", exc_info=True)
        return Session(user, await self._start_session(user, now))

    async def log_in(self, *, email: str, password: str) -> Session:
        """Whether the email is unknown or the password wrong, the answer (and the time it
        takes) is the same: nobody learns from a failed login who has an account."""
        user = await self.users.by_email(email)
        if user is None:
            await self.passwords.verify_decoy(password)
            raise _invalid_credentials()
        if not await self.passwords.verify(user.password_hash, password):
            raise _invalid_credentials()
        if self.passwords.needs_rehash(user.password_hash):
            await self.users.set_password_hash(user.id, await self.passwords.hash(password))
        return Session(user, await self._start_session(user, utc_now()))

    async def refresh(self, presented: str) -> TokenPair:
        """Spend a refresh token for a new pair. A spent token coming back revokes its family."""
        now = utc_now()
        stored = await self.refresh_tokens.get(token_hash(presented))
        revoked = stored is not None and await self.refresh_tokens.family_revoked(stored.family_id)
        verdict = assess(stored, family_revoked=revoked, now=now)
        if verdict is Verdict.REUSED and stored is not None:
            await self._revoke_after_reuse(stored, now)
        if verdict is not Verdict.USABLE or stored is None:
            raise _invalid_refresh_token(verdict)
        user = await self.users.get(stored.user_id)
        if user is None:
            raise _invalid_refresh_token(Verdict.UNKNOWN)
        try:
            pair = await self._issue(user, stored.family_id, parent=stored.hash, now=now)
        except AlreadySucceeded:
            # Another refresh with this very token won the race: the same theft signal.
            await self._revoke_after_reuse(stored, now)
            raise _invalid_refresh_token(Verdict.REUSED) from None
        await self.refresh_tokens.mark_spent(stored.hash, now, token_hash(pair.refresh_token))
        return pair

    async def log_out(self, presented: str) -> None:
        """End the session the token belongs to (its whole family); repeating is harmless."""
        stored = await self.refresh_tokens.get(token_hash(presented))
        if stored is None:
            raise _invalid_refresh_token(Verdict.UNKNOWN)
        await self.refresh_tokens.revoke_family(
            stored.family_id, user_id=stored.user_id, reason="logout", at=utc_now()
        )

    async def _start_session(self, user: User, now: datetime) -> TokenPair:
        family_id = new_family_id()
        return await self._issue(user, family_id, parent=root_parent(family_id), now=now)

    async def _issue(self, user: User, family_id: str, *, parent: str, now: datetime) -> TokenPair:
        refresh = new_refresh_token()
        await self.refresh_tokens.add(
            StoredRefreshToken(
                hash=token_hash(refresh),
                family_id=family_id,
                user_id=user.id,
                parent=parent,
                issued_at=now,
                expires_at=now + self.refresh_ttl,
            )
        )
        access = self.issuer.issue(
            user.id,
            sorted(user.roles),
            franchise_id=user.franchise_id,
            outlet_ids=user.outlet_ids,
            ttl_s=self.access_ttl_s,
            extra={"name": user.name},
        )
        return TokenPair(access, refresh, self.access_ttl_s)

    async def _revoke_after_reuse(self, token: StoredRefreshToken, now: datetime) -> None:
        first = await self.refresh_tokens.revoke_family(
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

    # --- profile -----------------------------------------------------------------------

    async def profile(self, user_id: str) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFound("no such user", details={"user_id": user_id})
        return user

    async def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        phone: str | None = None,
        clear_phone: bool = False,
        language: Language | None = None,
        notifications: dict[str, bool] | None = None,
    ) -> User:
        user = (await self.profile(user_id)).with_profile(
            name=name,
            phone=phone,
            clear_phone=clear_phone,
            language=language,
            notifications=notifications,
            now=utc_now(),
        )
        await self.users.save_profile(user)
        return user


def _invalid_credentials() -> InvalidCredentials:
    return InvalidCredentials("email or password is wrong")


def _invalid_refresh_token(verdict: Verdict) -> InvalidRefreshToken:
    return InvalidRefreshToken(
        "this refresh token cannot be used; log in again", details={"reason": str(verdict)}
    )
