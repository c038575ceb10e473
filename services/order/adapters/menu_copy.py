"""A local copy of each outlet's menu: orders are priced from it while it is current, and
ordering survives the menu service being down (issues 16 and 9).

The menu service stays the authority on prices and rules; the order service runs the
menu's own pricing (:func:`bobaku.services.menu.service_layer.handlers.priced`) on a copy
of the outlet's pricing snapshot (``GET /internal/outlets/{id}/pricing``: the catalog
layers, the items out of stock, the snapshot's ``version``, a digest of both, and the
generations of the menu's cache tags it was read under, :mod:`bobaku.kernel.cache`).

- **Current copy** (every tag's generation unchanged: one ``MGET``, as the gateway's edge
  cache checks a cached menu): the order is priced from the copy, with no call to the menu
  service. A change through the menu's API bumps a generation before it answers, so the
  next order after it never sees the old price, on every replica.
- **Moved generations, or no copy**: the menu service's ``/internal/quotes`` prices the
  order, and the snapshot is fetched again (kept as it is if its ``version`` is the same).
- **The menu service unreachable** (a 5xx, a timeout, an open breaker): the order is
  priced from a copy that no announcement has made stale since (below), whatever Redis
  says; with no copy, or a stale one, the 503 stands (never an old price).

The menu's events keep the copies honest when Redis cannot be asked: every ``menu.*``
announcement marks the copies it touches stale (an item or brand-wide change: all; a
franchise's price: that franchise's outlets; availability, hours or an outlet change: that
outlet). Every process follows them itself (plain NATS, like
:class:`~bobaku.kernel.outlets.OutletDirectory`); one missed while disconnected leaves a
copy a version behind until the next refetch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bobaku.kernel.bus import EventBus
from bobaku.kernel.cache import generations
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.streams import EVENTS
from bobaku.kernel.web import validated
from bobaku.services.menu.domain.menu import OutletCatalog
from bobaku.services.menu.entrypoints.schemas import QuoteBody
from bobaku.services.menu.service_layer.handlers import priced

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copy:
    version: str
    catalog: OutletCatalog
    stock_left: dict[str, int]
    # The menu's cache tags the snapshot was read under, and their generations then.
    generations: dict[str, str]


def _now() -> datetime:
    return datetime.now(UTC)


class MenuCopies:
    def __init__(
        self, menu: ServiceClient, redis: Redis, clock: Callable[[], datetime] = _now
    ) -> None:
        self.menu = menu
        self.redis = redis
        self.clock = clock
        self._copies: dict[str, Copy] = {}
        self._stale: set[str] = set()
        self._subscription: Subscription | None = None

    def fresh(self, outlet_id: str) -> Copy | None:
        if outlet_id in self._stale:
            return None
        return self._copies.get(outlet_id)

    async def keep(self, outlet_id: str) -> None:
        """Fetch the outlet's snapshot if the copy is missing or stale (an announcement, or
        generations that moved); one of the same version keeps the copy."""
        if self.fresh(outlet_id) is not None:
            return
        snap: dict[str, Any] = await self.menu.request(
            "GET", f"/internal/outlets/{outlet_id}/pricing", retry_safe=True
        )
        self.adopt(snap)

    def adopt(self, snap: dict[str, Any]) -> None:
        """Take a snapshot as the outlet's copy; one of the same version keeps the copy."""
        outlet_id = str(snap["outlet_id"])
        gens = {str(tag): str(gen) for tag, gen in (snap.get("generations") or {}).items()}
        current = self._copies.get(outlet_id)
        if current is None or current.version != snap["version"]:
            self._copies[outlet_id] = Copy(
                str(snap["version"]),
                OutletCatalog.from_record(snap["catalog"]),
                {str(k): int(v) for k, v in snap["stock_left"].items()},
                gens,
            )
        elif current.generations != gens:
            self._copies[outlet_id] = replace(current, generations=gens)
        self._stale.discard(outlet_id)

    async def current_quote(
        self, outlet_id: str, items: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The quote from the copy if it is current: no announcement made it stale and the
        generations of the menu's tags are those it was read under (one ``MGET``). ``None``
        otherwise, or when Redis cannot say: the menu service is asked."""
        copy = self.fresh(outlet_id)
        if copy is None or not copy.generations:
            return None
        try:
            now = await generations(self.redis, list(copy.generations))
        except (RedisError, OSError) as exc:
            log.warning("cannot check the menu copy of %s: %s", outlet_id, exc)
            return None
        if now != copy.generations:
            self._stale.add(outlet_id)  # out of date: refetched after the menu's quote
            return None
        return self.quote(outlet_id, items)

    def quote(self, outlet_id: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The quote the menu service would give, from the copy; ``None`` without a fresh
        copy. Raises the menu's own refusals (422 naming the field, 409 closed/unavailable)."""
        copy = self.fresh(outlet_id)
        if copy is None:
            return None
        # The menu's own body rules first (levels, topping ids, toppings per drink).
        body = validated(QuoteBody, {"outlet_id": outlet_id, "items": items})
        quote = priced(copy.catalog, copy.stock_left, self.clock(), body.lines())
        return {**quote, "menu_version": copy.version}

    def on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        data = event.get("data") or {}
        if kind == "menu.item_changed" or not event.get("tenant"):
            self._stale.update(self._copies)
        elif "outlet_id" in data:
            self._stale.add(str(data["outlet_id"]))
        else:
            franchise = data.get("franchise_id") or event.get("tenant")
            self._stale.update(
                o for o, c in self._copies.items() if c.catalog.outlet.franchise_id == franchise
            )

    async def follow(self, bus: EventBus) -> None:
        async def on_message(msg: Msg) -> None:
            try:
                self.on_event(json.loads(msg.data))
            except (ValueError, TypeError, AttributeError):
                log.warning("ignoring a malformed menu event on %s", msg.subject)

        subject = bus.names.subject(EVENTS.family("menu"))  # this deployment's (kernel/names.py)
        self._subscription = await bus.nc.subscribe(subject, cb=on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
