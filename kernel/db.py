"""MongoDB through PyMongo's async API, one database per franchise.

- ``platform`` database: brand-wide data (customers, loyalty, the HQ catalog, franchises).
- ``fr_<franchise>`` databases: each franchise's own data (orders, payments, stock, its
  overrides). :meth:`Databases.franchise` is the only way code reaches one, and it takes the
  franchise id that the caller's verified token carries, so a query cannot wander into
  another tenant's database.
- Indexes are declared next to the code that queries them (:class:`IndexSpec`) and created
  at start-up, and on the first use of a franchise database.
- Writing a fact once: :func:`insert_new` and :func:`insert_or_get` insert by ``_id`` and let
  the server's unique ``_id`` decide who was first. They are how a retried request or a
  redelivered event finds what its first attempt wrote (an order's idempotency key, a
  payment intent's directory entry, a notification record) without a read-then-write race,
  and an insert stays flat on FerretDB where an update scans the collection.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bobaku.kernel.deployment import Deployment
from bobaku.kernel.errors import BadRequest, DependencyUnavailable, FranchiseNotFound
from bobaku.kernel.settings import Settings

FRANCHISE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
PING_TIMEOUT_S = 0.5

Document = dict[str, Any]
Scope = Literal["platform", "franchise"]


@dataclass(frozen=True)
class IndexSpec:
    scope: Scope
    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    name: str | None = None

    def model(self) -> IndexModel:
        name = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(list(self.keys), unique=self.unique, name=name)


@dataclass
class IndexCatalog:
    """Every index the running process relies on, declared in code."""

    specs: list[IndexSpec] = field(default_factory=list)

    @classmethod
    def of(cls, *specs: IndexSpec) -> IndexCatalog:
        return cls(list(specs))

    def only(self, scope: Scope) -> IndexCatalog:
        """The declarations of one scope (the operator creates the franchise ones)."""
        return IndexCatalog([s for s in self.specs if s.scope == scope])

    def declare(self, *specs: IndexSpec) -> None:
        self.specs.extend(specs)

    def for_scope(self, scope: Scope) -> dict[str, list[IndexModel]]:
        by_collection: dict[str, list[IndexModel]] = {}
        for spec in self.specs:
            if spec.scope == scope:
                by_collection.setdefault(spec.collection, []).append(spec.model())
        return by_collection


def franchise_db_name(prefix: str, franchise_id: str) -> str:
    if not FRANCHISE_ID.match(franchise_id):
        raise BadRequest(
            f"invalid franchise id {franchise_id!r}",
            details={"field": "franchise_id", "pattern": FRANCHISE_ID.pattern},
        )
    # Database names may not contain '-' on every server; map it to '_'.
    return f"{prefix}_fr_{franchise_id.replace('-', '_')}"


class Databases:
    """The process's MongoDB client and the per-franchise database resolver."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        prefix: str,
        catalog: IndexCatalog,
        deployment: Deployment | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.catalog = catalog
        # A silo reaches only its own franchise's database (403 otherwise).
        self.deployment = deployment or Deployment()
        self._indexed: set[str] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, catalog: IndexCatalog | None = None) -> Databases:
        listeners: list[monitoring.CommandListener] = []
        if settings.mongodb_command_log is not None:
            listeners.append(CommandLog.to_directory(settings.mongodb_command_log, settings))
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongodb_url,
            appname=settings.service_name,
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=3000,
            tz_aware=True,
            event_listeners=listeners,
        )
        return cls(
            client,
            settings.mongodb_db_prefix,
            catalog or IndexCatalog(),
            Deployment.from_settings(settings),
        )

    @property
    def platform(self) -> AsyncDatabase[Document]:
        return self.client[f"{self.prefix}_platform"]

    async def start(self) -> None:
        """Create the platform indexes; franchise ones are created on first use."""
        await self._ensure_indexes(self.platform, "platform")

    async def franchise(self, franchise_id: str) -> AsyncDatabase[Document]:
        self.deployment.guard(franchise_id)
        db = self.client[franchise_db_name(self.prefix, franchise_id)]
        if db.name not in self._indexed:
            async with self._lock:
                if db.name not in self._indexed:
                    await self._ensure_indexes(db, "franchise")
        return db

    async def franchise_exists(self, franchise_id: str) -> bool:
        """Whether the franchise has a database, without creating one (a read of an unknown
        franchise must not leave an empty database behind). Known ones are answered from
        memory; an unknown one costs a ``listDatabases``."""
        self.deployment.guard(franchise_id)
        name = franchise_db_name(self.prefix, franchise_id)
        if name in self._indexed:
            return True
        return name in await self.client.list_database_names()

    async def existing_franchise(self, franchise_id: str) -> AsyncDatabase[Document]:
        """The franchise's database if it exists; 404 ``franchise_not_found`` otherwise."""
        if not await self.franchise_exists(franchise_id):
            raise FranchiseNotFound(
                f"no franchise {franchise_id}", details={"franchise_id": franchise_id}
            )
        return await self.franchise(franchise_id)

    async def drop_franchise(self, franchise_id: str) -> None:
        name = franchise_db_name(self.prefix, franchise_id)
        await self.client.drop_database(name)
        self._indexed.discard(name)

    async def ping(self) -> None:
        """Readiness: fails at once when the driver knows its servers are unreachable (the
        first failed operation or heartbeat marks a server so), instead of waiting out the
        server-selection timeout; otherwise a ping bounded by :data:`PING_TIMEOUT_S`."""
        topology = self.client.topology_description
        servers = topology.server_descriptions().values()
        if not topology.has_readable_server() and any(s.error for s in servers):
            raise DependencyUnavailable(
                "no reachable MongoDB server", details={"dependency": "mongo"}
            )
        await asyncio.wait_for(self.client.admin.command("ping"), PING_TIMEOUT_S)

    async def close(self) -> None:
        await self.client.close()

    async def _ensure_indexes(self, db: AsyncDatabase[Document], scope: Scope) -> None:
        for collection, models in self.catalog.for_scope(scope).items():
            # One index per call: FerretDB 1.24 fails a createIndexes that names two or more
            # indexes which already exist (every restart), though one at a time is fine.
            for model in models:
                await db[collection].create_indexes([model])
        self._indexed.add(db.name)


async def index_names(db: AsyncDatabase[Document], collection: str) -> Iterable[str]:
    return [ix["name"] async for ix in await db[collection].list_indexes()]


# --------------------------------------------------------------------------- command log

# Commands that read or write documents, and where their collection name is.
_DATA_COMMANDS = ("find", "count", "aggregate", "distinct", "update", "delete", "insert")


def _filter_fields(query: Any) -> set[str]:
    """The fields a filter tests, ``$and``/``$or``/``$nor`` looked into."""
    fields: set[str] = set()
    if isinstance(query, Mapping):
        for key, value in query.items():
            if key in ("$and", "$or", "$nor") and isinstance(value, list):
                for part in value:
                    fields |= _filter_fields(part)
            elif not key.startswith("$"):
                fields.add(key)
    return fields


def command_summary(name: str, database: str, command: Mapping[str, Any]) -> dict[str, Any]:
    """What the storage rule needs to know of one command: its collection, the fields it
    filters and sorts on, whether it is an exact ``_id`` lookup, and what it writes."""
    summary: dict[str, Any] = {"op": name, "db": database}
    if name not in _DATA_COMMANDS and name not in ("findAndModify", "findandmodify"):
        return summary
    summary["coll"] = command.get(name) or command.get("findAndModify")
    filters: list[Any] = []
    if name in ("find", "count", "distinct"):
        filters.append(command.get("filter", command.get("query")) or {})
        summary["sort"] = sorted(dict(command.get("sort") or {}))
        summary["limit"] = command.get("limit")
    elif name == "aggregate":
        summary["pipeline"] = [next(iter(stage)) for stage in command.get("pipeline", [])]
    elif name == "update":
        updates = command.get("updates", [])
        filters += [u.get("q", {}) for u in updates]
        summary["upsert"] = any(u.get("upsert") for u in updates)
        summary["n"] = len(updates)
    elif name == "delete":
        filters += [d.get("q", {}) for d in command.get("deletes", [])]
    elif name == "insert":
        summary["n"] = len(command.get("documents", []))
    else:  # findAndModify
        filters.append(command.get("query") or {})
    fields: set[str] = set()
    exact_id = bool(filters)
    for query in filters:
        fields |= _filter_fields(query)
        exact_id = exact_id and _is_exact_id(query)
    summary["fields"] = sorted(fields)
    summary["by_id"] = exact_id
    return summary


def _is_exact_id(query: Any) -> bool:
    if not isinstance(query, Mapping) or set(query) != {"_id"}:
        return False
    value = query["_id"]
    return not isinstance(value, Mapping)


class CommandLog(monitoring.CommandListener):
    """A PyMongo command listener that writes :func:`command_summary` of every command
    this process sends as JSON lines (one file per process)."""

    def __init__(self, path: Path, process: str) -> None:
        self.path = path
        self.process = process
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8", buffering=1)

    @classmethod
    def to_directory(cls, directory: Path, settings: Settings) -> CommandLog:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{settings.service_name}-{os.getpid()}.jsonl"
        return cls(directory / name, settings.service_name)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        summary = command_summary(event.command_name, event.database_name, event.command)
        summary["process"] = self.process
        line = json.dumps(summary, default=str)
        with self._lock:
            self._file.write(line + "\n")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def insert_new(collection: AsyncCollection[Document], doc: Document) -> bool:
    """Insert ``doc``; True if this call created it, False if its ``_id`` was taken."""
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def insert_or_get(collection: AsyncCollection[Document], doc: Document) -> Document:
    """Insert ``doc``, or when its ``_id`` is taken, the document stored under it: what the
    first writer wrote wins, and every later caller is told what that was."""
    if await insert_new(collection, doc):
        return doc
    stored = await collection.find_one({"_id": doc["_id"]})
    # Gone between the two calls (deleted by its owner): the caller's copy is then the best
    # answer there is, and a retry will insert it.
    return stored if stored is not None else doc
