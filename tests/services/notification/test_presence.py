"""The kitchen presence the notification service reads: one watch on the hub's bucket for
the process (real NATS), joins and leaves as the hub writes them, and an entry its hub
stopped refreshing no longer counts."""

from __future__ import annotations

import secrets

from nats.js.api import KeyValueConfig, StorageType
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.services.notification.adapters.directory import KitchenPresence


async def test_displays_join_and_leave_and_a_stale_one_stops_counting(bus: EventBus) -> None:
    bucket = f"t_presence_{secrets.token_hex(4)}"
    presence = KitchenPresence(bus, bucket, "dep", retry_s=0.2)
    await presence.start()  # no hub has made the bucket yet: nobody watches a display
    try:
        assert await presence.online("outlet-01") == 0
        kv = await bus.js.create_key_value(
            KeyValueConfig(bucket=bucket, history=1, ttl=3.0, storage=StorageType.FILE)
        )
        await kv.put("dep.outlet-01.c1", b"{}")
        await kv.put("other.outlet-01.c9", b"{}")  # another deployment's display

        async def online(count: int) -> bool:
            return await presence.online("outlet-01") == count

        await eventually(lambda: online(1), timeout=10)
        await kv.put("dep.outlet-01.c2", b"{}")
        await eventually(lambda: online(2), timeout=10)
        assert await presence.online("outlet-02") == 0
        await kv.delete("dep.outlet-01.c2")
        await eventually(lambda: online(1), timeout=10)
        # c1's hub died: nobody rewrites it, and after the bucket's TTL it does not count.
        await eventually(lambda: online(0), timeout=15)
    finally:
        await presence.stop()
        await bus.js.delete_key_value(bucket)
