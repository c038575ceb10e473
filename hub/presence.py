"""Who is on a kitchen channel, agreed by every replica.

Each subscription to ``outlet:{id}:kitchen`` is an entry ``<deployment>.<outlet>.<client>``
in a NATS KV
bucket (``hub_presence``) whose values expire after ``HUB_PRESENCE_TTL_S``; the replica
holding the connection rewrites its entries every third of that, and deletes them when the
client leaves. Every replica watches the whole bucket and keeps a mirror of it: a key it
has not seen is a *join*, a deletion is a *leave*, and so is an entry that was not
refreshed in time (its replica died). Joins and leaves are pushed to the local subscribers
of the channel, so displays on every replica see the same changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from bobaku.hub.metrics import PRESENCE_EVENTS
from bobaku.kernel.bus import EventBus

log = logging.getLogger(__name__)

PresenceListener = Callable[[str, str, dict[str, Any]], None]  # (kind, outlet id, info)


class KitchenPresence:
    def __init__(
        self, bus: EventBus, bucket: str, ttl_s: float, on_change: PresenceListener, scope: str
    ) -> None:
        self.bus = bus
        self.scope = scope
        self.bucket = bucket
        self.ttl_s = ttl_s
        self.on_change = on_change
        self._kv: KeyValue | None = None
        # outlet → client → (info, monotonic time last seen)
        self._mirror: dict[str, dict[str, tuple[dict[str, Any], float]]] = {}
        # entries this replica owns and refreshes: key → encoded info
        self._own: dict[str, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: Any = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        # File storage: the bucket (not its short-lived entries) survives a NATS restart,
        # so every replica's watcher can resume on it.
        config = KeyValueConfig(
            bucket=self.bucket, history=1, ttl=self.ttl_s, storage=StorageType.FILE
        )
        self._kv = await self.bus.key_value(config)
        self._watcher = await self._kv.watch(f"{self.scope}.>")
        self._tasks = [
            asyncio.create_task(self._watch(), name="presence-watch"),
            asyncio.create_task(self._every(self._refresh), name="presence-refresh"),
            asyncio.create_task(self._every(self._sweep), name="presence-sweep"),
        ]
        await asyncio.wait_for(self.ready.wait(), 10)

    async def stop(self) -> None:
        """Remove this replica's entries (their subscribers see them leave) and stop."""
        for key in list(self._own):
            with contextlib.suppress(Exception):
                await self._delete(key)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()

    async def join(self, outlet_id: str, client_id: str, info: dict[str, Any]) -> None:
        key = f"{self.scope}.{outlet_id}.{client_id}"
        value = json.dumps(info, separators=(",", ":")).encode()
        self._own[key] = value
        assert self._kv is not None
        await self._kv.put(key, value)

    async def leave(self, outlet_id: str, client_id: str) -> None:
        key = f"{self.scope}.{outlet_id}.{client_id}"
        if self._own.pop(key, None) is not None:
            await self._delete(key)

    def members(self, outlet_id: str) -> list[dict[str, Any]]:
        """Everyone on the channel, as the shared bucket says (own entries included at once)."""
        seen = {client: info for client, (info, _) in self._mirror.get(outlet_id, {}).items()}
        prefix = f"{self.scope}.{outlet_id}."
        for key, value in self._own.items():
            if key.startswith(prefix):
                seen.setdefault(key[len(prefix) :], json.loads(value))
        return sorted(seen.values(), key=lambda info: str(info.get("since", "")))

    async def _delete(self, key: str) -> None:
        assert self._kv is not None
        await self._kv.delete(key)

    async def _every(self, action: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await action()
            except Exception as exc:  # NATS briefly away: the next round tries again
                log.warning("presence %s failed: %s", getattr(action, "__name__", action), exc)

    async def _refresh(self) -> None:
        assert self._kv is not None
        for key, value in list(self._own.items()):
            await self._kv.put(key, value)

    async def _sweep(self) -> None:
        deadline = time.monotonic() - self.ttl_s
        for outlet_id, clients in list(self._mirror.items()):
            for client_id, (info, seen) in list(clients.items()):
                if seen < deadline:
                    self._forget(outlet_id, client_id, info)

    async def _watch(self) -> None:
        async for entry in self._watcher:
            if entry is None:  # the initial state has been read
                self.ready.set()
                continue
            scope, _, rest = entry.key.partition(".")
            outlet_id, _, client_id = rest.partition(".")
            if scope != self.scope or not client_id:
                continue
            if entry.operation in (KV_DEL, KV_PURGE):
                known = self._mirror.get(outlet_id, {}).get(client_id)
                if known is not None:
                    self._forget(outlet_id, client_id, known[0])
                continue
            try:
                info = json.loads(entry.value or b"{}")
            except ValueError:
                continue
            clients = self._mirror.setdefault(outlet_id, {})
            is_new = client_id not in clients
            clients[client_id] = (info, time.monotonic())
            # Entries present when this replica started are state, not news.
            if is_new and self.ready.is_set():
                PRESENCE_EVENTS.labels("join").inc()
                self.on_change("join", outlet_id, info)

    def _forget(self, outlet_id: str, client_id: str, info: dict[str, Any]) -> None:
        clients = self._mirror.get(outlet_id, {})
        clients.pop(client_id, None)
        if not clients:
            self._mirror.pop(outlet_id, None)
        PRESENCE_EVENTS.labels("leave").inc()
        self.on_change("leave", outlet_id, info)
