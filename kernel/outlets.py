"""Which franchise an outlet belongs to: one directory for every part that needs it.

The menu service is the authority (``GET {MENU_URL}/outlets/{id}``, unwrapped by the kernel's
:class:`~bobaku.kernel.client.ServiceClient`). Answers, a missing outlet included, are kept
for ``ttl_s`` and dropped as soon as the menu service announces ``menu.outlet_changed`` for
the outlet. Every process hears that announcement itself: :meth:`OutletDirectory.follow`
subscribes to its subject on plain NATS (no durable consumer, which would hand each event
to one replica only); an announcement missed while disconnected is bounded by the TTL.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bobaku.kernel.bus import EventBus
from bobaku.kernel.client import ServiceClient, UpstreamError, error_from_reply
from bobaku.kernel.errors import NotFound
from bobaku.kernel.lru import LruMap
from bobaku.kernel.streams import EVENTS

log = logging.getLogger(__name__)

OUTLET_CHANGED = "menu.outlet_changed"


class OutletDirectory:
    def __init__(
        self,
        menu: ServiceClient,
        *,
        ttl_s: float = 600.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.menu = menu
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: LruMap[str, tuple[str | None, float]] = LruMap(max_entries)
        self._subscription: Subscription | None = None
        self.lookups = 0  # calls that went to the menu service

    async def lookup(self, outlet_id: str) -> str | None:
        """The outlet's franchise, or ``None`` when the menu service answers 404. Any other
        failure is raised as the kernel client raises it (a :class:`BobakuError`)."""
        now = self.clock()
        cached = self._entries.peek(outlet_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        self.lookups += 1
        reply = await self.menu.call("GET", f"/outlets/{outlet_id}")
        franchise: str | None = None
        if reply.status != 404:
            try:
                payload: Any = reply.json()
                if reply.status != 200:
                    raise error_from_reply(self.menu.name, reply, payload)
                franchise = str(payload["data"]["franchise_id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamError(
                    f"{self.menu.name} answered {reply.status} without an outlet",
                    details={"upstream": self.menu.name, "status": reply.status},
                ) from exc
        self._entries.put(outlet_id, (franchise, now + self.ttl_s))
        return franchise

    async def franchise_of(self, outlet_id: str) -> str:
        """The outlet's franchise; :class:`NotFound` (404 ``outlet_not_found``) if none."""
        franchise = await self.lookup(outlet_id)
        if franchise is None:
            err = NotFound(f"no outlet {outlet_id}", details={"outlet_id": outlet_id})
            err.code = "outlet_not_found"
            raise err
        return franchise

    def invalidate(self, outlet_id: str) -> None:
        self._entries.forget(outlet_id)

    async def follow(self, bus: EventBus) -> None:
        """Drop an outlet's entry whenever the menu service announces a change to it."""

        async def on_change(msg: Msg) -> None:
            try:
                self.invalidate(str(json.loads(msg.data)["data"]["outlet_id"]))
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed %s on %s", OUTLET_CHANGED, msg.subject)

        subject = bus.names.subject(EVENTS.filter(OUTLET_CHANGED))  # this deployment's
        self._subscription = await bus.nc.subscribe(subject, cb=on_change)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
