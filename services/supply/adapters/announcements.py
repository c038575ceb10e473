"""What the relay last announced per outlet (``supply.availability_changed``): the menu items
the outlet could not make, and the ledger sequence that set reflects.

NATS JetStream key-value bucket ``supply_announced``, key ``<franchise>.<outlet_id>``, value
``{"unavailable": [...], "seq": n}``. Writes are compare-and-set on the key's revision and
only ever move to a newer ``seq``, so relays on several replicas racing for one outlet
cannot leave an older set behind (a conditional update on FerretDB 1.24 is not atomic, and
would scan its collection). One key per outlet: a write costs the same however many orders
were placed.
"""

from __future__ import annotations

import json

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from bobaku.kernel.bus import EventBus

BUCKET = "supply_announced"
MAX_ATTEMPTS = 20


class AnnouncedAvailability:
    def __init__(self, bus: EventBus, bucket: str = BUCKET) -> None:
        self.bus = bus
        self.bucket = bucket
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.key_value(
                KeyValueConfig(
                    bucket=self.bucket,
                    description="supply: items announced unavailable per outlet",
                    history=1,
                    storage=StorageType.FILE,
                )
            )
        return self._kv

    @staticmethod
    def key(franchise_id: str, outlet_id: str) -> str:
        return f"{franchise_id}.{outlet_id}"

    async def _current(self, key: str) -> tuple[int | None, tuple[list[str], int] | None]:
        kv = await self.kv()
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None, None
        if not entry.value:
            return entry.revision, None
        value = json.loads(entry.value)
        return entry.revision, (list(value["unavailable"]), int(value["seq"]))

    async def get(self, franchise_id: str, outlet_id: str) -> tuple[list[str], int] | None:
        return (await self._current(self.key(franchise_id, outlet_id)))[1]

    async def set(
        self, franchise_id: str, outlet_id: str, unavailable: list[str], seq: int
    ) -> bool:
        """Store the set announced at ``seq`` unless one as new or newer is stored; True if
        stored."""
        key = self.key(franchise_id, outlet_id)
        kv = await self.kv()
        data = json.dumps({"unavailable": unavailable, "seq": seq}).encode()
        for _ in range(MAX_ATTEMPTS):
            revision, current = await self._current(key)
            if current is not None and current[1] >= seq:
                return False
            try:
                if revision is None:
                    await kv.create(key, data)
                else:
                    await kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                continue  # another relay wrote in between: look again
            return True
        raise RuntimeError(f"announced availability of {key} kept changing")
