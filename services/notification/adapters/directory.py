"""Who people are, from other parts of the platform: the customer service's card (language,
email, the profile's channel switches) and the hub's kitchen presence (NATS KV)."""

from __future__ import annotations

from typing import Any

from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from bobaku.kernel.bus import EventBus
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError


class Customers:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def card(self, user_id: str) -> dict[str, Any] | None:
        """The customer's card, or None for a user the customer service does not know."""
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
    """Reads the hub's presence bucket: entries ``<deployment>.<outlet>.<client>``."""

    def __init__(self, bus: EventBus, bucket: str, scope: str) -> None:
        self.bus, self.bucket, self.scope = bus, bucket, scope
        self._kv: KeyValue | None = None

    async def online(self, outlet_id: str) -> int:
        """Displays of the outlet online now. A watch filtered by the server on the outlet's
        keys: ``KeyValue.keys(filters=...)`` would read every key of the bucket and match
        the filters as substrings (a wildcard never matches)."""
        if self._kv is None:
            try:
                self._kv = await self.bus.js.key_value(self.bucket)
            except BucketNotFoundError:
                return 0  # no hub has ever run: nobody is watching a kitchen display
        watcher = await self._kv.watch(
            f"{self.scope}.{outlet_id}.*", ignore_deletes=True, meta_only=True
        )
        try:
            count = 0
            async for entry in watcher:
                if entry is None:  # the end of what is stored now
                    break
                count += 1
            return count
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
