"""The routing table: a NATS JetStream key-value bucket the operator writes, the gateway reads.

One contract for both sides: the bucket is ``Settings.routing_bucket`` (``ROUTING_BUCKET``),
created by whichever side comes first with :data:`ROUTING_HISTORY`; the key is
:func:`routing_key` (``franchise.<id>``), the value the JSON of
:func:`bobaku.operator.plan.routing_entry`. The gateway :meth:`RoutingEntries.watch`-es the
bucket, so onboarding a franchise needs no gateway restart.

Writes are compare-and-set on the key's revision, and the value is computed *after* the
revision is read, so two writers that race (a Franchise's reconcile and an Outlet's) can
never leave an older outlet list behind: the loser's write is refused and recomputed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nats.js.api import KeyValueConfig
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from bobaku.kernel.bus import EventBus
from bobaku.kernel.settings import Settings

Entry = dict[str, Any]
VOLATILE = ("updated_at",)
MAX_ATTEMPTS = 10
# Revisions kept per key (what `nats kv history` shows when debugging a routing change).
ROUTING_HISTORY = 5
KEY_PREFIX = "franchise."


def routing_key(franchise_id: str) -> str:
    return f"{KEY_PREFIX}{franchise_id}"


def franchise_of(key: str) -> str:
    return key.removeprefix(KEY_PREFIX)


class RoutingConflict(Exception):
    """The key kept changing under us; try again later."""


def _stable(entry: Entry | None) -> Entry | None:
    return None if entry is None else {k: v for k, v in entry.items() if k not in VOLATILE}


class RoutingEntries:
    """The bucket's entries: compare-and-set writes (operator), reads and a watch (gateway)."""

    def __init__(self, bus: EventBus, bucket: str) -> None:
        self.bus = bus
        self.bucket = bucket
        self._kv: KeyValue | None = None
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, bus: EventBus, settings: Settings) -> RoutingEntries:
        return cls(bus, settings.routing_bucket)

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.key_value(
                KeyValueConfig(
                    bucket=self.bucket,
                    description="gateway routing: franchise.<id> -> upstreams",
                    history=ROUTING_HISTORY,
                )
            )
        return self._kv

    async def get(self, key: str) -> Entry | None:
        kv = await self.kv()
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        value: Entry = json.loads(entry.value)
        return value

    async def publish(self, key: str, compute: Callable[[], Awaitable[Entry | None]]) -> bool:
        """Write ``compute()``'s entry unless it is already there; ``True`` if written.

        ``compute`` returning ``None`` means "nothing to publish" (e.g. the franchise is
        gone); it is called again on every attempt, after the current revision is read.
        """
        kv = await self.kv()
        for _ in range(MAX_ATTEMPTS):
            revision: int | None
            try:
                current = await kv.get(key)
                revision = current.revision
                existing = json.loads(current.value) if current.value else None
            except KeyNotFoundError:
                revision, existing = None, None
            entry = await compute()
            if entry is None or _stable(existing) == _stable(entry):
                return False
            data = json.dumps(entry, sort_keys=True).encode()
            try:
                if revision is None:
                    await kv.create(key, data)
                else:
                    await kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                continue
            return True
        raise RoutingConflict(f"routing entry {key} kept changing; {MAX_ATTEMPTS} attempts")

    async def remove(self, key: str) -> bool:
        """Delete the entry (watchers see a delete); ``False`` when there was none."""
        if await self.get(key) is None:
            return False
        kv = await self.kv()
        await kv.delete(key)
        return True

    async def watch(
        self, apply: Callable[[str, bytes | None], None], *, initial_timeout_s: float = 0.0
    ) -> None:
        """Call ``apply(key, value)`` for every current entry, then for every change
        (``value`` ``None`` on a delete), until :meth:`stop`. With ``initial_timeout_s``,
        return once the current entries are applied (or that time has passed)."""
        watcher = await (await self.kv()).watchall()
        initial = asyncio.Event()

        async def follow() -> None:
            async for entry in watcher:
                if entry is None:  # end of the initial values; keep following updates
                    initial.set()
                    continue
                apply(entry.key, entry.value if entry.operation is None else None)

        self._watcher = asyncio.create_task(follow(), name=f"watch-{self.bucket}")
        if initial_timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(initial.wait(), initial_timeout_s)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None


class SiloFranchises:
    """The franchises the operator has placed in a silo of their own (routing entries with
    ``mode: silo``), kept current from the routing table.

    What a pooled process's consumers use to leave a franchise's work to its silo (the
    analytics projections keep only the brand-level figures of a silo franchise).
    :meth:`start` returns once the current entries are known, so a consumer started after
    it does not count a silo franchise as pooled for its first messages.
    """

    def __init__(self, entries: RoutingEntries) -> None:
        self.entries = entries
        self.ids: set[str] = set()

    def __contains__(self, franchise_id: object) -> bool:
        return franchise_id in self.ids

    def apply(self, key: str, value: bytes | None) -> None:
        franchise_id = franchise_of(key)
        try:
            mode = json.loads(value).get("mode") if value else None
        except (ValueError, AttributeError):
            mode = None
        if mode == "silo":
            self.ids.add(franchise_id)
        else:
            self.ids.discard(franchise_id)

    async def start(self, initial_timeout_s: float = 5.0) -> None:
        await self.entries.watch(self.apply, initial_timeout_s=initial_timeout_s)

    async def stop(self) -> None:
        await self.entries.stop()


@contextlib.asynccontextmanager
async def watched_silos(bus: EventBus, settings: Settings) -> AsyncIterator[SiloFranchises]:
    """The routing table's silo franchises, known on entry and kept current until exit."""
    silos = SiloFranchises(RoutingEntries.from_settings(bus, settings))
    await silos.start()
    try:
        yield silos
    finally:
        await silos.stop()
