"""Who people are, from other parts of the platform: the customer service's card (language,
email, the profile's channel switches) and the hub's kitchen presence (NATS KV)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from nats.js.errors import BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE

from bobaku.kernel.bus import EventBus
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError
from bobaku.kernel.lru import LruMap

log = logging.getLogger(__name__)


class Customers:
    """The customer service's cards, kept ``ttl_s`` per user (an LRU of ``size``): a burst
    of notifications for one person costs one request, and a change of language, email or
    channel switches in the profile applies within ``ttl_s``."""

    def __init__(self, client: ServiceClient, *, ttl_s: float = 30.0, size: int = 10_000) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._cards: LruMap[str, tuple[float, dict[str, Any] | None]] = LruMap(size)

    async def card(self, user_id: str) -> dict[str, Any] | None:
        """The customer's card, or None for a user the customer service does not know."""
        now = time.monotonic()
        kept = self._cards.peek(user_id)
        if kept is not None and kept[0] > now:
            self._cards.touch(user_id)
            return kept[1]
        card = await self._fetch(user_id)
        if self.ttl_s > 0:
            self._cards.put(user_id, (now + self.ttl_s, card))
        return card

    async def _fetch(self, user_id: str) -> dict[str, Any] | None:
        try:
            card: dict[str, Any] = await self.client.request(
                "GET", f"/internal/customers/{user_id}"
            )
        except BobakuError as exc:
            if exc.status == 404:
                return None
            raise
        return card


class KitchenPresence:
    """Kitchen displays online per outlet, from the hub's presence bucket (entries
    ``<deployment>.<outlet>.<client>``, rewritten by the hub every third of the bucket's TTL,
    deleted when a display leaves).

    One watch for the process's lifetime keeps a mirror of the deployment's entries, so a
    lookup is a dictionary read, not a consumer created on the server per event. An entry
    not rewritten within the TTL (its hub replica died) no longer counts. Before any hub has
    created the bucket nobody watches a kitchen display; the watch is tried again every
    ``retry_s``.
    """

    def __init__(self, bus: EventBus, bucket: str, scope: str, *, retry_s: float = 5.0) -> None:
        self.bus, self.bucket, self.scope, self.retry_s = bus, bucket, scope, retry_s
        # outlet → client → when the hub last wrote the entry (epoch seconds)
        self._mirror: dict[str, dict[str, float]] = {}
        self._ttl_s: float | None = None
        self._task: asyncio.Task[None] | None = None
        # Set once the bucket's current state is mirrored, or known not to exist.
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="kitchen-presence")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def online(self, outlet_id: str) -> int:
        """Displays of the outlet online now."""
        if not self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), 5)
        fresh_since = time.time() - self._ttl_s if self._ttl_s else 0.0
        return sum(1 for at in self._mirror.get(outlet_id, {}).values() if at >= fresh_since)

    async def _follow(self) -> None:
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except BucketNotFoundError:
                self._mirror.clear()
                self.ready.set()  # no hub has ever run: nobody is watching a display
            except Exception as exc:  # NATS away: the mirror stays as it was until back
                log.warning("kitchen presence watch stopped (%s); retrying", exc)
            await asyncio.sleep(self.retry_s)

    async def _watch(self) -> None:
        kv = await self.bus.existing_key_value(self.bucket)
        self._ttl_s = (await kv.status()).ttl or None
        watcher = await kv.watch(f"{self.scope}.>")
        mirror: dict[str, dict[str, float]] = {}
        live = False
        try:
            async for entry in watcher:
                if entry is None:  # the bucket's current state has been read
                    self._mirror, live = mirror, True
                    self.ready.set()
                    continue
                _, _, rest = entry.key.partition(".")
                outlet_id, _, client_id = rest.partition(".")
                if not client_id:
                    continue
                clients = mirror.setdefault(outlet_id, {})
                if entry.operation in (KV_DEL, KV_PURGE):
                    clients.pop(client_id, None)
                else:
                    clients[client_id] = entry.created.timestamp() if entry.created else time.time()
                if live:
                    self._mirror = mirror
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
