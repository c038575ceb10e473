"""Sessions: rotating refresh tokens grouped in families.

A login starts a *family*. Each refresh spends the presented token and issues its single
successor in the same family. A spent token presented again means two parties hold the
same token (one of them stole it), and nobody can tell which: the whole family is revoked,
so both must log in again. The server keeps only a hash of each token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


def new_refresh_token() -> str:
    """An opaque, unguessable token (256 bits of randomness)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are high-entropy random strings, so a fast hash is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_family_id() -> str:
    return f"fam-{secrets.token_hex(12)}"


def root_parent(family_id: str) -> str:
    """The ``parent`` of a family's first token. Every token has a distinct parent, so a
    unique index on ``parent`` lets each token be succeeded at most once, atomically."""
    return f"root:{family_id}"


@dataclass(frozen=True)
class StoredRefreshToken:
    hash: str
    family_id: str
    user_id: str
    parent: str
    issued_at: datetime
    expires_at: datetime
    spent_at: datetime | None = None


class Verdict(StrEnum):
    USABLE = "usable"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    # A spent token came back: token theft is the likely cause.
    REUSED = "reused"


def assess(token: StoredRefreshToken | None, *, family_revoked: bool, now: datetime) -> Verdict:
    """What a presented refresh token is worth. Reuse is checked before expiry: a stolen
    token that has also expired is still a theft signal."""
    if token is None:
        return Verdict.UNKNOWN
    if family_revoked:
        return Verdict.REVOKED
    if token.spent_at is not None:
        return Verdict.REUSED
    if token.expires_at <= now:
        return Verdict.EXPIRED
    return Verdict.USABLE
