"""The menu's integration events: facts other processes (and this service's other
replicas) react to, mainly to drop what they cached. Published on
``events.<franchise or brand>.menu.*``; schemas in ``kernel/events/schemas/menu.*``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ITEM_CHANGED = "menu.item_changed"
PRICE_CHANGED = "menu.price_changed"
AVAILABILITY_CHANGED = "menu.availability_changed"
HOURS_CHANGED = "menu.hours_changed"
OUTLET_CHANGED = "menu.outlet_changed"


@dataclass(frozen=True)
class MenuChanged:
    """A change to announce: its event type, its tenant (``None``: brand-wide) and data."""

    type: str
    tenant: str | None
    data: dict[str, Any]
    version: str = "1.0"


def item_changed(item_id: str, change: str, fields: Sequence[str]) -> MenuChanged:
    return MenuChanged(
        ITEM_CHANGED, None, {"item_id": item_id, "change": change, "fields": sorted(fields)}
    )


def price_changed(
    franchise_id: str, item_id: str, price: int | None, previous: int | None
) -> MenuChanged:
    return MenuChanged(
        PRICE_CHANGED,
        franchise_id,
        {"franchise_id": franchise_id, "item_id": item_id, "price": price, "previous": previous},
    )


def availability_changed(
    franchise_id: str, outlet_id: str, items: Mapping[str, bool]
) -> MenuChanged:
    return MenuChanged(
        AVAILABILITY_CHANGED,
        franchise_id,
        {"franchise_id": franchise_id, "outlet_id": outlet_id, "items": dict(items)},
    )


def hours_changed(
    franchise_id: str, outlet_id: str, timezone: str, opening_hours: Mapping[str, Any]
) -> MenuChanged:
    return MenuChanged(
        HOURS_CHANGED,
        franchise_id,
        {
            "franchise_id": franchise_id,
            "outlet_id": outlet_id,
            "timezone": timezone,
            "opening_hours": dict(opening_hours),
        },
    )


def outlet_changed(franchise_id: str, outlet_id: str, change: str) -> MenuChanged:
    """``change``: ``created``, ``updated`` or ``deleted`` (v1.1: the outlet was retired)."""
    return MenuChanged(
        OUTLET_CHANGED,
        franchise_id,
        {"franchise_id": franchise_id, "outlet_id": outlet_id, "change": change},
        version="1.1",
    )
