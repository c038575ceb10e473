"""A franchise's MongoDB database and database user.

The database is created by creating its ``outlets`` collection (the operator's own, see
:meth:`TenantDatabases.register_outlet`) and the indexes the silo services declare (MongoDB
creates a database on its first collection). Orders' and payments' read models are not
here but in Redis (docs/architecture.md, the storage rule), so there may be no index.
The user gets ``readWrite`` on that database alone.

Not every MongoDB-wire server manages users: FerretDB 1.24 answers ``createUser`` with
``CommandNotFound`` unless started with its experimental new authentication, which
then requires credentials on every connection. :meth:`TenantDatabases.ensure` reports what
it could do in :class:`DatabaseOutcome`, and the operator says it in the DatabaseReady
condition instead of pretending a user exists.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.errors import CollectionInvalid, OperationFailure

from bobaku.kernel.db import Databases, Document
from bobaku.operator.plan import DatabasePlan

log = logging.getLogger(__name__)

COMMAND_NOT_FOUND = 59
USER_ALREADY_EXISTS = 51003
USER_NOT_FOUND = 11
UNAUTHORIZED = 13
OUTLETS = "outlets"


@dataclass(frozen=True)
class DatabaseOutcome:
    created: bool  # the database did not exist before
    user: bool  # the user exists with the password we hold
    user_note: str  # what happened to the user, for people


class TenantDatabases:
    """The operator's view of the MongoDB server: tenants' databases and users."""

    def __init__(self, databases: Databases) -> None:
        self.databases = databases

    async def exists(self, name: str) -> bool:
        return name in await self.databases.client.list_database_names()

    async def ensure(
        self, plan: DatabasePlan, password: str, indexed: str | None = None
    ) -> DatabaseOutcome:
        """Create the database, its indexes and its user (or converge them).

        ``indexed`` is the index digest a previous run recorded in the status: when the
        database exists and it matches, the indexes are not created again (on FerretDB
        that is eight round trips of ~40 ms each, on every resync of every franchise).
        """
        existed = await self.exists(plan.name)
        db = self.databases.client[plan.name]
        if existed and indexed == plan.index_digest:
            user, note = await self._ensure_user(plan, password)
            return DatabaseOutcome(created=False, user=user, user_note=note)
        if not existed:
            with contextlib.suppress(CollectionInvalid):  # made meanwhile: fine
                await db.create_collection(OUTLETS)
        for collection, models in plan.indexes.for_scope("franchise").items():
            # One index per command: FerretDB 1.24 drops the connection (a panic, "slice
            # bounds out of range") on a createIndexes of several indexes that all exist.
            for model in models:
                await db[collection].create_indexes([model])
        user, note = await self._ensure_user(plan, password)
        return DatabaseOutcome(created=not existed, user=user, user_note=note)

    async def _ensure_user(self, plan: DatabasePlan, password: str) -> tuple[bool, str]:
        db = self.databases.client[plan.name]
        roles = [{"role": "readWrite", "db": plan.name}]
        try:
            await db.command({"createUser": plan.username, "pwd": password, "roles": roles})
            return True, f"user {plan.username} created with readWrite on {plan.name}"
        except OperationFailure as exc:
            if exc.code == USER_ALREADY_EXISTS:
                # Converge on the password in the Secret (and the role, should it drift).
                await db.command({"updateUser": plan.username, "pwd": password, "roles": roles})
                return True, f"user {plan.username} has readWrite on {plan.name}"
            if exc.code in (COMMAND_NOT_FOUND, UNAUTHORIZED):
                return False, (
                    f"no database user: the server refused createUser ({exc.code} "
                    f"{_code_name(exc.details)}), so the services connect without credentials"
                )
            raise

    async def drop_user(self, plan: DatabasePlan) -> str:
        try:
            await self.databases.client[plan.name].command({"dropUser": plan.username})
        except OperationFailure as exc:
            if exc.code == USER_NOT_FOUND:
                return f"user {plan.username} was already gone"
            if exc.code in (COMMAND_NOT_FOUND, UNAUTHORIZED):
                return "the server manages no users"
            raise
        return f"user {plan.username} dropped"

    async def drop(self, plan: DatabasePlan) -> bool:
        """Drop the database; ``False`` when it did not exist."""
        existed = await self.exists(plan.name)
        await self.databases.client.drop_database(plan.name)
        return existed

    async def register_outlet(self, database: str, outlet_id: str, doc: Document) -> None:
        outlets = self.databases.client[database][OUTLETS]
        await outlets.replace_one({"_id": outlet_id}, {"_id": outlet_id, **doc}, upsert=True)

    async def unregister_outlet(self, database: str, outlet_id: str) -> None:
        await self.databases.client[database]["outlets"].delete_one({"_id": outlet_id})

    async def registered_outlet(self, database: str, outlet_id: str) -> Document | None:
        result: Document | None = await self.databases.client[database]["outlets"].find_one(
            {"_id": outlet_id}
        )
        return result


def _code_name(details: Mapping[str, Any] | None) -> str:
    return str((details or {}).get("codeName", ""))
