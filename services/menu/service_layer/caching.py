"""What the menu caches, under which tags, and which events drop which tags.

Tags, per deployment (``<deployment>:`` in front, because deployments may share a Redis):

- ``menu:brand``: anything from the HQ catalog (every outlet's menu, item and topping reads);
- ``menu:fr:<franchise>``: that franchise's prices (its outlets' menus);
- ``menu:outlet:<outlet_id>``: one outlet's record, hours and availability (and its menu);
- ``stock:<outlet_id>``: the items one outlet cannot make, as the supply service announced
  them (dropped by its ``supply.availability_changed``, see ``entrypoints/supply_availability.py``).

Every replica's reads go through the same Redis, and a durable consumer of the ``menu.*``
events applies :func:`register_invalidation`'s hooks: so one replica's change is seen by
all of them on their next read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bobaku.kernel.cache import Cache
from bobaku.kernel.events import Event
from bobaku.services.menu.domain import events


@dataclass(frozen=True)
class Tags:
    deployment: str

    @property
    def brand(self) -> str:
        return f"{self.deployment}:menu:brand"

    def franchise(self, franchise_id: str) -> str:
        return f"{self.deployment}:menu:fr:{franchise_id}"

    def outlet(self, outlet_id: str) -> str:
        return f"{self.deployment}:menu:outlet:{outlet_id}"

    def stock(self, outlet_id: str) -> str:
        return f"{self.deployment}:stock:{outlet_id}"


def _of(field: str, tag: Callable[[str], str]) -> Callable[[Event], Iterable[str]]:
    def tags_of(event: Event) -> Iterable[str]:
        value = event.data.get(field) or (event.tenant if field == "franchise_id" else None)
        return [tag(str(value))] if value else []

    return tags_of


def register_invalidation(cache: Cache, tags: Tags) -> Cache:
    cache.on_event(events.ITEM_CHANGED, lambda e: [tags.brand])
    cache.on_event(events.PRICE_CHANGED, _of("franchise_id", tags.franchise))
    cache.on_event(events.AVAILABILITY_CHANGED, _of("outlet_id", tags.outlet))
    cache.on_event(events.HOURS_CHANGED, _of("outlet_id", tags.outlet))
    cache.on_event(events.OUTLET_CHANGED, _of("outlet_id", tags.outlet))
    return cache
