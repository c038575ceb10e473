"""Refresh tokens (hashed) and revoked families, in the platform database.

Spending a token is the insert of its successor, whose ``parent`` is the spent token's hash
under a unique index: of two refreshes racing with one token, exactly one insert succeeds
(the database's unique check is atomic, unlike FerretDB's read-modify-write updates).
``spent_at`` is then set on the old token so that later reuse is recognised without a race.
A revoked family is a document keyed by the family id, so revoking twice is one revocation.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from bobaku.kernel.db import Databases, Document, IndexSpec, insert_new
from bobaku.services.customer.domain.errors import AlreadySucceeded
from bobaku.services.customer.domain.sessions import StoredRefreshToken

REFRESH_TOKENS = "refresh_tokens"
REVOKED_FAMILIES = "refresh_token_revocations"

INDEXES = (
    IndexSpec(
        "platform", REFRESH_TOKENS, [("parent", 1)], unique=True, name="refresh_parent_unique"
    ),
)


class RefreshTokenStore:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def add(self, token: StoredRefreshToken) -> None:
        """Store a new token; :class:`AlreadySucceeded` if its parent was spent already."""
        doc: Document = {
            "_id": token.hash,
            "family_id": token.family_id,
            "user_id": token.user_id,
            "parent": token.parent,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "spent_at": None,
        }
        try:
            await self.databases.platform[REFRESH_TOKENS].insert_one(doc)
        except DuplicateKeyError as exc:
            raise AlreadySucceeded(token.parent) from exc

    async def get(self, token_hash: str) -> StoredRefreshToken | None:
        doc = await self.databases.platform[REFRESH_TOKENS].find_one({"_id": token_hash})
        if doc is None:
            return None
        return StoredRefreshToken(
            hash=doc["_id"],
            family_id=doc["family_id"],
            user_id=doc["user_id"],
            parent=doc["parent"],
            issued_at=doc["issued_at"],
            expires_at=doc["expires_at"],
            spent_at=doc.get("spent_at"),
        )

    async def mark_spent(self, token_hash: str, at: datetime, successor: str) -> None:
        await self.databases.platform[REFRESH_TOKENS].update_one(
            {"_id": token_hash}, {"$set": {"spent_at": at, "successor": successor}}
        )

    async def family_revoked(self, family_id: str) -> bool:
        found = await self.databases.platform[REVOKED_FAMILIES].find_one({"_id": family_id})
        return found is not None

    async def revoke_family(
        self, family_id: str, *, user_id: str, reason: str, at: datetime
    ) -> bool:
        """Revoke every token of the family; False if it was revoked already."""
        return await insert_new(
            self.databases.platform[REVOKED_FAMILIES],
            {"_id": family_id, "user_id": user_id, "reason": reason, "revoked_at": at},
        )
