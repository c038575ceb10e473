"""Users: customers and staff share one shape; staff carry roles and their tenancy."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from bobaku.kernel.auth import OUTLET_STAFF, Role

Language = Literal["id", "en"]

STAFF_ROLES = frozenset(OUTLET_STAFF)

# Pragmatic address check: one '@', a local part without spaces, and a dotted domain whose
# labels are letters, digits and inner hyphens. Deliverability is the mail provider's job.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalize_email(email: str) -> str:
    """The form that identifies an account: trimmed and lower-cased, so one address cannot
    register twice as ``Rina@x.id`` and ``rina@x.id``."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(_EMAIL.match(email)) and ".." not in email


def new_user_id() -> str:
    return f"u-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Notifications:
    """Which channels the user accepts notifications on (order accepted, ready, refunded)."""

    push: bool = True
    email: bool = True
    in_app: bool = True


@dataclass(frozen=True)
class Preferences:
    language: Language = "id"
    notifications: Notifications = field(default_factory=Notifications)


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str
    roles: frozenset[Role]
    created_at: datetime
    updated_at: datetime
    phone: str | None = None
    preferences: Preferences = field(default_factory=Preferences)
    # Tenancy of staff: franchise owners and outlet staff belong to one franchise; outlet
    # managers and staff to some of its outlets. Customers and HQ have neither.
    franchise_id: str | None = None
    outlet_ids: tuple[str, ...] = ()

    @property
    def email_normalized(self) -> str:
        return normalize_email(self.email)

    def with_profile(
        self,
        *,
        name: str | None = None,
        phone: str | None = None,
        clear_phone: bool = False,
        language: Language | None = None,
        notifications: dict[str, bool] | None = None,
        now: datetime,
    ) -> User:
        """The user after a profile change; fields left ``None`` keep their value."""
        prefs = self.preferences
        if notifications:
            prefs = replace(prefs, notifications=replace(prefs.notifications, **notifications))
        if language is not None:
            prefs = replace(prefs, language=language)
        return replace(
            self,
            name=name if name is not None else self.name,
            phone=None if clear_phone else (phone if phone is not None else self.phone),
            preferences=prefs,
            updated_at=now,
        )


def new_customer(
    *,
    email: str,
    name: str,
    password_hash: str,
    language: Language,
    phone: str | None,
    now: datetime,
) -> User:
    return User(
        id=new_user_id(),
        email=email.strip(),
        name=name,
        password_hash=password_hash,
        roles=frozenset({Role.CUSTOMER}),
        created_at=now,
        updated_at=now,
        phone=phone,
        preferences=Preferences(language=language),
    )


def staff_member(
    *,
    user_id: str,
    email: str,
    name: str,
    password_hash: str,
    role: Role,
    franchise_id: str | None,
    outlet_ids: tuple[str, ...],
    now: datetime,
) -> User:
    """A staff account as the seed (and later an admin API) creates it."""
    if role not in STAFF_ROLES:
        raise ValueError(f"{role} is not a staff role")
    if role is Role.HQ_ADMIN and (franchise_id or outlet_ids):
        raise ValueError("HQ admins belong to no franchise")
    if role is not Role.HQ_ADMIN and not franchise_id:
        raise ValueError(f"a {role} belongs to a franchise")
    if role in (Role.OUTLET_MANAGER, Role.STAFF) and not outlet_ids:
        raise ValueError(f"a {role} works at one or more outlets")
    return User(
        id=user_id,
        email=email,
        name=name,
        password_hash=password_hash,
        roles=frozenset({role}),
        created_at=now,
        updated_at=now,
        franchise_id=franchise_id,
        outlet_ids=outlet_ids,
    )
