"""Who people are, from other parts of the platform: the customer service's card (language,
email, the profile's channel switches) and the hub's kitchen presence (NATS KV)."""

from __future__ import annotations

from typing import Any

from nats.js.errors import BucketNotFoundError, NoKeysError
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
        if self._kv is None:
            try:
                self._kv = await self.bus.js.key_value(self.bucket)
            except BucketNotFoundError:
                return 0  # no hub has ever run: nobody is watching a kitchen display
        try:
            return len(await self._kv.keys(filters=[f"{self.scope}.{outlet_id}.*"]))
        except NoKeysError:
            return 0
