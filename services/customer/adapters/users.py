"""Users in the platform database (``users``), with an outbox for the events they cause.

One account per normalized email is guaranteed by a unique index, not by a read before the
write: two registrations racing for one address cannot both insert.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bobaku.kernel.auth import Role
from bobaku.kernel.db import Databases, Document, IndexSpec
from bobaku.kernel.events import Event
from bobaku.kernel.outbox import OUTBOX, Pending, outbox_entry
from bobaku.services.customer.domain.errors import EmailTaken, UserIdTaken
from bobaku.services.customer.domain.users import (
    Notifications,
    Preferences,
    User,
    normalize_email,
)

USERS = "users"

# One index per collection for now: FerretDB 1.24 panics on a createIndexes call naming two
# or more indexes that all exist already (every restart), and the kernel creates a
# collection's indexes in one call. The outbox sweep's query (kernel.outbox.PENDING) wants
# an index of its own once that is fixed.
INDEXES = (
    IndexSpec("platform", USERS, [("email_normalized", 1)], unique=True, name="users_email_unique"),
)


def to_document(user: User) -> Document:
    return {
        "_id": user.id,
        "email": user.email,
        "email_normalized": user.email_normalized,
        "name": user.name,
        "phone": user.phone,
        "password_hash": user.password_hash,
        "roles": sorted(str(r) for r in user.roles),
        "franchise_id": user.franchise_id,
        "outlet_ids": list(user.outlet_ids),
        "preferences": _preferences_document(user.preferences),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _preferences_document(prefs: Preferences) -> Document:
    n = prefs.notifications
    return {
        "language": prefs.language,
        "notifications": {"push": n.push, "email": n.email, "in_app": n.in_app},
    }


def from_document(doc: Document) -> User:
    prefs = doc.get("preferences") or {}
    notes = prefs.get("notifications") or {}
    return User(
        id=doc["_id"],
        email=doc["email"],
        name=doc["name"],
        password_hash=doc["password_hash"],
        roles=frozenset(Role(r) for r in doc.get("roles", [])),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        phone=doc.get("phone"),
        preferences=Preferences(
            language=prefs.get("language", "id"),
            notifications=Notifications(
                push=bool(notes.get("push", True)),
                email=bool(notes.get("email", True)),
                in_app=bool(notes.get("in_app", True)),
            ),
        ),
        franchise_id=doc.get("franchise_id"),
        outlet_ids=tuple(doc.get("outlet_ids", [])),
    )


class UserRepository:
    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self.databases.platform[USERS]

    async def add(self, user: User, events: Sequence[Event] = ()) -> None:
        """Insert a new user together with the events its creation causes (its outbox), in
        one document write. Raises :class:`EmailTaken`, or :class:`UserIdTaken` on the
        (astronomically rare) collision of a fresh id."""
        doc = to_document(user)
        if events:
            doc[OUTBOX] = [outbox_entry(e) for e in events]
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            if await self.by_email(user.email) is not None:
                raise EmailTaken(
                    "an account with this email already exists", details={"field": "email"}
                ) from exc
            raise UserIdTaken(user.id) from exc

    def pending(self, user_id: str, event: Event) -> Pending:
        """``event`` as it waits in the user's outbox (what :meth:`add` wrote)."""
        return Pending(self.databases.platform, USERS, user_id, outbox_entry(event))

    async def get(self, user_id: str) -> User | None:
        doc = await self.collection.find_one({"_id": user_id}, {OUTBOX: 0})
        return from_document(doc) if doc else None

    async def by_email(self, email: str) -> User | None:
        doc = await self.collection.find_one(
            {"email_normalized": normalize_email(email)}, {OUTBOX: 0}
        )
        return from_document(doc) if doc else None

    async def save_profile(self, user: User) -> None:
        await self.collection.update_one(
            {"_id": user.id},
            {
                "$set": {
                    "name": user.name,
                    "phone": user.phone,
                    "preferences": _preferences_document(user.preferences),
                    "updated_at": user.updated_at,
                }
            },
        )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.collection.update_one(
            {"_id": user_id}, {"$set": {"password_hash": password_hash}}
        )
